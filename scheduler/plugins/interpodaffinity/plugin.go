package interpodaffinity

import (
	"maps"

	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "InterPodAffinity"

// HardPodAffinityWeight is the score weight of an existing pod's required
// affinity term that selects the incoming pod.
const HardPodAffinityWeight = 1

// InterPodAffinity filters and scores nodes by inter-pod affinity.
type InterPodAffinity struct {
	h          framework.Handle
	namespaces corelisters.NamespaceLister
}

var (
	_ framework.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ framework.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin        = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin         = (*InterPodAffinity)(nil)
	_ framework.ScoreExtensions     = (*InterPodAffinity)(nil)
	_ framework.EnqueueExtensions   = (*InterPodAffinity)(nil)
)

// New returns the plugin.
func New(h framework.Handle) (framework.Plugin, error) {
	pl := &InterPodAffinity{h: h}
	if f := h.SharedInformerFactory(); f != nil {
		pl.namespaces = f.Core().V1().Namespaces().Lister()
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*InterPodAffinity) Name() string { return Name }

// EventsToRegister: pods added, relabelled or deleted; nodes added or
// relabelled.
func (*InterPodAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.Pod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}
}

// mergeNamespaces returns terms whose namespace selector is resolved into
// their namespace list (the incoming pod's terms are then matched without
// namespace labels).
func (pl *InterPodAffinity) mergeNamespaces(terms []framework.AffinityTerm) []framework.AffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]framework.AffinityTerm, len(terms))
	copy(out, terms)
	for i := range out {
		pl.mergeTerm(&out[i])
	}
	return out
}

func (pl *InterPodAffinity) mergeTerm(t *framework.AffinityTerm) {
	if t.NamespaceSelector.Empty() {
		return
	}
	ns := maps.Clone(t.Namespaces)
	if pl.namespaces != nil {
		if list, err := pl.namespaces.List(t.NamespaceSelector); err == nil {
			for _, n := range list {
				ns.Insert(n.Name)
			}
		}
	}
	t.Namespaces = ns
	t.NamespaceSelector = labels.Nothing()
}

func (pl *InterPodAffinity) mergeWeighted(terms []framework.WeightedAffinityTerm) []framework.WeightedAffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]framework.WeightedAffinityTerm, len(terms))
	copy(out, terms)
	for i := range out {
		pl.mergeTerm(&out[i].AffinityTerm)
	}
	return out
}

// namespaceLabels returns the labels of a namespace (nil if unknown).
func (pl *InterPodAffinity) namespaceLabels(name string) labels.Set {
	if pl.namespaces == nil {
		return nil
	}
	ns, err := pl.namespaces.Get(name)
	if err != nil {
		return nil
	}
	return labels.Set(maps.Clone(ns.Labels))
}
