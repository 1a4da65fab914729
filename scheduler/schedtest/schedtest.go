// Package schedtest builds nodes and pods for the scheduler's tests:
// schedtest.MakePod().Name("p").Req("cpu", "1").Obj().
package schedtest

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeWrapper builds a node.
type NodeWrapper struct{ v1.Node }

// MakeNode starts a node with no allocatable resources but 110 pods.
func MakeNode() *NodeWrapper {
	w := &NodeWrapper{}
	w.Labels = map[string]string{}
	w.Status.Allocatable = v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}
	w.Status.Capacity = w.Status.Allocatable
	return w
}

// Obj returns the node.
func (w *NodeWrapper) Obj() *v1.Node { return &w.Node }

// Name sets the name and the hostname label.
func (w *NodeWrapper) Name(name string) *NodeWrapper {
	w.Node.Name = name
	w.Labels[v1.LabelHostname] = name
	return w
}

// Label sets a label.
func (w *NodeWrapper) Label(k, v string) *NodeWrapper {
	w.Labels[k] = v
	return w
}

// Alloc sets allocatable resources: name, quantity, name, quantity...
func (w *NodeWrapper) Alloc(kv ...string) *NodeWrapper {
	rl := v1.ResourceList{}
	for k, v := range w.Status.Allocatable {
		rl[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		rl[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	w.Status.Allocatable = rl
	w.Status.Capacity = rl
	return w
}

// Taint adds a taint.
func (w *NodeWrapper) Taint(key, value string, effect v1.TaintEffect) *NodeWrapper {
	w.Spec.Taints = append(w.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	return w
}

// Unschedulable cordons the node.
func (w *NodeWrapper) Unschedulable() *NodeWrapper {
	w.Spec.Unschedulable = true
	return w
}

// PodWrapper builds a pod.
type PodWrapper struct{ v1.Pod }

// MakePod starts a pod in namespace "default" with one container.
func MakePod() *PodWrapper {
	w := &PodWrapper{}
	w.Pod.Namespace = "default"
	w.Spec.SchedulerName = v1.DefaultSchedulerName
	w.Spec.Containers = []v1.Container{{Name: "c", Image: "img"}}
	return w
}

// Obj returns the pod.
func (w *PodWrapper) Obj() *v1.Pod { return &w.Pod }

// Name sets the name and a UID derived from it.
func (w *PodWrapper) Name(name string) *PodWrapper {
	w.Pod.Name = name
	if w.Pod.UID == "" {
		w.Pod.UID = types.UID("uid-" + name)
	}
	return w
}

// UID sets the UID.
func (w *PodWrapper) UID(uid string) *PodWrapper {
	w.Pod.UID = types.UID(uid)
	return w
}

// Namespace sets the namespace.
func (w *PodWrapper) Namespace(ns string) *PodWrapper {
	w.Pod.Namespace = ns
	return w
}

// Node binds the pod to a node.
func (w *PodWrapper) Node(name string) *PodWrapper {
	w.Spec.NodeName = name
	return w
}

// Label sets a label.
func (w *PodWrapper) Label(k, v string) *PodWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// Req sets the first container's requests: name, quantity, ...
func (w *PodWrapper) Req(kv ...string) *PodWrapper {
	w.Spec.Containers[0].Resources.Requests = list(w.Spec.Containers[0].Resources.Requests, kv)
	return w
}

// Container adds a container with requests.
func (w *PodWrapper) Container(kv ...string) *PodWrapper {
	w.Spec.Containers = append(w.Spec.Containers, v1.Container{Name: "c" + itoa(len(w.Spec.Containers)), Resources: v1.ResourceRequirements{Requests: list(nil, kv)}})
	return w
}

// InitContainer adds an init container with requests; sidecar makes it a
// restartable (sidecar) init container.
func (w *PodWrapper) InitContainer(sidecar bool, kv ...string) *PodWrapper {
	c := v1.Container{Name: "i" + itoa(len(w.Spec.InitContainers)), Resources: v1.ResourceRequirements{Requests: list(nil, kv)}}
	if sidecar {
		always := v1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	w.Spec.InitContainers = append(w.Spec.InitContainers, c)
	return w
}

// Overhead sets the pod overhead.
func (w *PodWrapper) Overhead(kv ...string) *PodWrapper {
	w.Spec.Overhead = list(nil, kv)
	return w
}

// HostPort adds a host port to the first container.
func (w *PodWrapper) HostPort(port int32, protocol v1.Protocol, ip string) *PodWrapper {
	w.Spec.Containers[0].Ports = append(w.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: protocol, HostIP: ip})
	return w
}

// Priority sets the priority.
func (w *PodWrapper) Priority(p int32) *PodWrapper {
	w.Spec.Priority = &p
	return w
}

// StartTime sets status.startTime.
func (w *PodWrapper) StartTime(t metav1.Time) *PodWrapper {
	w.Status.StartTime = &t
	return w
}

// NodeSelector sets the node selector.
func (w *PodWrapper) NodeSelector(kv ...string) *PodWrapper {
	w.Spec.NodeSelector = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		w.Spec.NodeSelector[kv[i]] = kv[i+1]
	}
	return w
}

// Toleration adds a toleration.
func (w *PodWrapper) Toleration(key, value string, op v1.TolerationOperator, effect v1.TaintEffect) *PodWrapper {
	w.Spec.Tolerations = append(w.Spec.Tolerations, v1.Toleration{Key: key, Value: value, Operator: op, Effect: effect})
	return w
}

// affinity returns the pod's affinity, created if needed.
func (w *PodWrapper) affinity() *v1.Affinity {
	if w.Spec.Affinity == nil {
		w.Spec.Affinity = &v1.Affinity{}
	}
	return w.Spec.Affinity
}

// NodeAffinityIn requires a node label in values (a term of its own).
func (w *PodWrapper) NodeAffinityIn(key string, values ...string) *PodWrapper {
	a := w.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{}
	}
	ns := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, v1.NodeSelectorTerm{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}},
	})
	return w
}

// PreferredNodeAffinityIn prefers nodes with a label in values.
func (w *PodWrapper) PreferredNodeAffinityIn(weight int32, key string, values ...string) *PodWrapper {
	a := w.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution, v1.PreferredSchedulingTerm{
		Weight:     weight,
		Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}}},
	})
	return w
}

// Kind of pod (anti-)affinity term.
const (
	Affinity     = "affinity"
	AntiAffinity = "anti-affinity"
)

func term(labelKey, labelValue, topologyKey string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: labelValue}},
		TopologyKey:   topologyKey,
	}
}

// PodAffinity adds a required (anti-)affinity term selecting pods with a
// label.
func (w *PodWrapper) PodAffinity(kind, labelKey, labelValue, topologyKey string) *PodWrapper {
	return w.PodAffinityTerm(kind, term(labelKey, labelValue, topologyKey))
}

// PodAffinityTerm adds a required (anti-)affinity term.
func (w *PodWrapper) PodAffinityTerm(kind string, t v1.PodAffinityTerm) *PodWrapper {
	a := w.affinity()
	if kind == Affinity {
		if a.PodAffinity == nil {
			a.PodAffinity = &v1.PodAffinity{}
		}
		a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
		return w
	}
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t)
	return w
}

// PreferredPodAffinity adds a preferred (anti-)affinity term.
func (w *PodWrapper) PreferredPodAffinity(kind string, weight int32, labelKey, labelValue, topologyKey string) *PodWrapper {
	a := w.affinity()
	wt := v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(labelKey, labelValue, topologyKey)}
	if kind == Affinity {
		if a.PodAffinity == nil {
			a.PodAffinity = &v1.PodAffinity{}
		}
		a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, wt)
		return w
	}
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, wt)
	return w
}

// SpreadConstraint adds a topology spread constraint selecting pods with
// a label.
func (w *PodWrapper) SpreadConstraint(maxSkew int32, topologyKey string, when v1.UnsatisfiableConstraintAction, labelKey, labelValue string, minDomains *int32) *PodWrapper {
	w.Spec.TopologySpreadConstraints = append(w.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when, MinDomains: minDomains,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: labelValue}},
	})
	return w
}

// OwnerReference sets a controller owner reference.
func (w *PodWrapper) OwnerReference(apiVersion, kind, name string) *PodWrapper {
	yes := true
	w.OwnerReferences = append(w.OwnerReferences, metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: &yes})
	return w
}

// SchedulingGates sets scheduling gates.
func (w *PodWrapper) SchedulingGates(names ...string) *PodWrapper {
	w.Spec.SchedulingGates = nil
	for _, n := range names {
		w.Spec.SchedulingGates = append(w.Spec.SchedulingGates, v1.PodSchedulingGate{Name: n})
	}
	return w
}

// Terminating sets a deletion timestamp.
func (w *PodWrapper) Terminating() *PodWrapper {
	now := metav1.Now()
	w.DeletionTimestamp = &now
	return w
}

func list(rl v1.ResourceList, kv []string) v1.ResourceList {
	if rl == nil {
		rl = v1.ResourceList{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		rl[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return rl
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
