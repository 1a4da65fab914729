package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// NodeSelector is a parsed v1.NodeSelector: its terms are ORed; the
// requirements of a term are ANDed. An empty term selects nothing; a term
// that does not parse matches nothing.
type NodeSelector struct {
	terms []nodeSelectorTerm
}

type nodeSelectorTerm struct {
	labels labels.Selector // nil: no label requirement
	names  []nameRequirement
	bad    bool
}

// nameRequirement is a matchFields requirement on metadata.name.
type nameRequirement struct {
	name string
	in   bool
}

// NewNodeSelector parses a node selector.
func NewNodeSelector(ns *v1.NodeSelector) *NodeSelector {
	s := &NodeSelector{}
	for i := range ns.NodeSelectorTerms {
		t := &ns.NodeSelectorTerms[i]
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			continue
		}
		s.terms = append(s.terms, parseNodeSelectorTerm(t))
	}
	return s
}

func parseNodeSelectorTerm(t *v1.NodeSelectorTerm) nodeSelectorTerm {
	var term nodeSelectorTerm
	if len(t.MatchExpressions) > 0 {
		sel, err := NodeSelectorRequirementsAsSelector(t.MatchExpressions)
		if err != nil {
			return nodeSelectorTerm{bad: true}
		}
		term.labels = sel
	}
	for _, r := range t.MatchFields {
		if r.Key != metav1.ObjectNameField || len(r.Values) != 1 {
			return nodeSelectorTerm{bad: true}
		}
		switch r.Operator {
		case v1.NodeSelectorOpIn:
			term.names = append(term.names, nameRequirement{name: r.Values[0], in: true})
		case v1.NodeSelectorOpNotIn:
			term.names = append(term.names, nameRequirement{name: r.Values[0]})
		default:
			return nodeSelectorTerm{bad: true}
		}
	}
	return term
}

// NodeSelectorRequirementsAsSelector converts node selector requirements
// to a label selector.
func NodeSelectorRequirementsAsSelector(reqs []v1.NodeSelectorRequirement) (labels.Selector, error) {
	sel := labels.NewSelector()
	for _, r := range reqs {
		var op selection.Operator
		switch r.Operator {
		case v1.NodeSelectorOpIn:
			op = selection.In
		case v1.NodeSelectorOpNotIn:
			op = selection.NotIn
		case v1.NodeSelectorOpExists:
			op = selection.Exists
		case v1.NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case v1.NodeSelectorOpGt:
			op = selection.GreaterThan
		case v1.NodeSelectorOpLt:
			op = selection.LessThan
		default:
			return nil, fmt.Errorf("%q is not a valid node selector operator", r.Operator)
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

func (t *nodeSelectorTerm) match(node *v1.Node) bool {
	if t.bad {
		return false
	}
	if t.labels != nil && !t.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, n := range t.names {
		if (node.Name == n.name) != n.in {
			return false
		}
	}
	return true
}

// Match is true when one of the terms matches the node.
func (s *NodeSelector) Match(node *v1.Node) bool {
	for i := range s.terms {
		if s.terms[i].match(node) {
			return true
		}
	}
	return false
}

// RequiredNodeAffinity is what a pod requires of its node: its
// nodeSelector and its required node affinity, both.
type RequiredNodeAffinity struct {
	labels   labels.Selector
	selector *NodeSelector
}

// GetRequiredNodeAffinity parses the pod's node requirements.
func GetRequiredNodeAffinity(pod *v1.Pod) RequiredNodeAffinity {
	var r RequiredNodeAffinity
	if len(pod.Spec.NodeSelector) > 0 {
		r.labels = labels.SelectorFromSet(pod.Spec.NodeSelector)
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		r.selector = NewNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	return r
}

// Match is true when the node satisfies the pod's requirements.
func (r RequiredNodeAffinity) Match(node *v1.Node) bool {
	if r.labels != nil && !r.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	if r.selector != nil {
		return r.selector.Match(node)
	}
	return true
}

// PreferredSchedulingTerms are parsed preferred node affinity terms.
type PreferredSchedulingTerms struct {
	terms []weightedNodeTerm
}

type weightedNodeTerm struct {
	nodeSelectorTerm
	weight int64
}

// NewPreferredSchedulingTerms parses preferred terms; terms with weight 0
// and empty terms are dropped.
func NewPreferredSchedulingTerms(terms []v1.PreferredSchedulingTerm) *PreferredSchedulingTerms {
	p := &PreferredSchedulingTerms{}
	for i := range terms {
		t := &terms[i]
		if t.Weight == 0 || (len(t.Preference.MatchExpressions) == 0 && len(t.Preference.MatchFields) == 0) {
			continue
		}
		p.terms = append(p.terms, weightedNodeTerm{nodeSelectorTerm: parseNodeSelectorTerm(&t.Preference), weight: int64(t.Weight)})
	}
	return p
}

// Score sums the weights of the terms the node matches.
func (p *PreferredSchedulingTerms) Score(node *v1.Node) int64 {
	var s int64
	for i := range p.terms {
		if p.terms[i].match(node) {
			s += p.terms[i].weight
		}
	}
	return s
}

// Len is the number of terms.
func (p *PreferredSchedulingTerms) Len() int { return len(p.terms) }
