// Package interpodaffinity is the InterPodAffinity plugin: a pod goes
// only where its required pod affinity finds matching pods in the same
// topology domain, where its required anti-affinity finds none, and where
// no placed pod's required anti-affinity rejects it; preferred terms (its
// own and the placed pods') score the domains. Terms select pods by
// labels in namespaces listed or chosen by a namespace selector.
package interpodaffinity
