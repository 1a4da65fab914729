package framework

import (
	"errors"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PodInfo is a pod with what the scheduler derives from it once: its
// resource requests and its parsed inter-pod (anti-)affinity terms.
type PodInfo struct {
	Pod *v1.Pod
	// Requests is what the pod requests (filtering).
	Requests Resource
	// NonZeroCPU and NonZeroMemory count defaults for containers without
	// requests (scoring).
	NonZeroCPU, NonZeroMemory int64

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseError is set when an affinity term does not parse.
	ParseError error
}

// AffinityTerm is a parsed v1.PodAffinityTerm.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches is true when pod (whose namespace has nsLabels) is selected by
// the term: in one of its namespaces, or a namespace its namespace
// selector selects, and with matching labels.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || t.NamespaceSelector.Matches(nsLabels) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term and its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// NewPodInfo derives a PodInfo from a pod.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{}
	pi.Update(pod)
	return pi
}

// Update derives the PodInfo from a new version of the pod.
func (pi *PodInfo) Update(pod *v1.Pod) {
	*pi = PodInfo{Pod: pod}
	pi.Requests = podRequests(pod, false)
	nz := podRequests(pod, true)
	pi.NonZeroCPU, pi.NonZeroMemory = nz.MilliCPU, nz.Memory
	a := pod.Spec.Affinity
	if a == nil {
		return
	}
	var errs []error
	if pa := a.PodAffinity; pa != nil {
		pi.RequiredAffinityTerms = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAffinityTerms = weightedAffinityTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		pi.RequiredAntiAffinityTerms = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAntiAffinityTerms = weightedAffinityTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	pi.ParseError = errors.Join(errs...)
}

// WithPod returns a copy of pi for another version of the same pod whose
// spec does not differ in what PodInfo derives (such as the pod assumed on
// a node).
func (pi *PodInfo) WithPod(pod *v1.Pod) *PodInfo {
	c := *pi
	c.Pod = pod
	return &c
}

// HasAffinity is true for pods with inter-pod affinity or anti-affinity.
func (pi *PodInfo) HasAffinity() bool {
	a := pi.Pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

func newAffinityTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	nsSel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	ns := sets.New(t.Namespaces...)
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		ns.Insert(pod.Namespace)
	}
	return AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: t.TopologyKey, NamespaceSelector: nsSel}, nil
}

func affinityTerms(pod *v1.Pod, terms []v1.PodAffinityTerm, errs *[]error) []AffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, t)
	}
	return out
}

func weightedAffinityTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm, errs *[]error) []WeightedAffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out
}

// QueuedPodInfo is a pod waiting in the scheduling queue.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was last added to the queue.
	Timestamp time.Time
	// InitialAttemptTimestamp is when the pod was first popped.
	InitialAttemptTimestamp time.Time
	// Attempts counts the scheduling attempts.
	Attempts int
	// UnschedulablePlugins rejected the pod in its last attempt.
	UnschedulablePlugins sets.Set[string]
	// Gated is true while a PreEnqueue plugin (scheduling gates) keeps the
	// pod out of the active queue.
	Gated bool
}

// HostPorts lists the pod's container ports that claim a host port
// (containers and restartable init containers).
func HostPorts(pod *v1.Pod) []v1.ContainerPort {
	var out []v1.ContainerPort
	add := func(cs []v1.Container, sidecarsOnly bool) {
		for i := range cs {
			if sidecarsOnly && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != v1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range cs[i].Ports {
				if p.HostPort > 0 {
					out = append(out, p)
				}
			}
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	return out
}
