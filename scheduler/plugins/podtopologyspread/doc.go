// Package podtopologyspread is the PodTopologySpread plugin: with
// whenUnsatisfiable DoNotSchedule a pod goes only where the number of
// matching pods in its topology domain stays within maxSkew of the least
// loaded domain (minDomains, nodeAffinityPolicy and nodeTaintsPolicy
// apply); ScheduleAnyway constraints, and the system default constraints
// for pods of Services, ReplicaSets and StatefulSets, prefer the less
// loaded domains.
package podtopologyspread
