package defaultpreemption

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"

	"berth/scheduler/framework"
)

// Name is the plugin's name.
const Name = "DefaultPreemption"

// Defaults of the plugin's arguments, as Kubernetes: dry-run preemption on
// 10% of the nodes, at least 100.
const (
	MinCandidateNodesPercentage = 10
	MinCandidateNodesAbsolute   = 100
)

// DefaultPreemption makes room for a pod that fits nowhere by evicting
// lower-priority pods from one node, and nominates the pod to that node.
type DefaultPreemption struct {
	h    framework.Handle
	pdbs policylisters.PodDisruptionBudgetLister
	pods corelisters.PodLister
	// offset picks where the dry run starts among the candidate nodes.
	offset func(n int) int
}

var _ framework.PostFilterPlugin = (*DefaultPreemption)(nil)

// New returns the plugin.
func New(h framework.Handle) (framework.Plugin, error) {
	pl := &DefaultPreemption{h: h, offset: rand.IntN}
	if f := h.SharedInformerFactory(); f != nil {
		pl.pdbs = f.Policy().V1().PodDisruptionBudgets().Lister()
		pl.pods = f.Core().V1().Pods().Lister()
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*DefaultPreemption) Name() string { return Name }

// PostFilter preempts; its message is prefixed with "preemption: ".
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, m *framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	result, status := pl.preempt(ctx, state, pod, m)
	if msg := status.Message(); msg != "" {
		return result, framework.NewStatus(status.Code(), "preemption: "+msg)
	}
	return result, status
}

func (pl *DefaultPreemption) preempt(ctx context.Context, state *framework.CycleState, pod *v1.Pod, m *framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	if pl.pods != nil {
		latest, err := pl.pods.Pods(pod.Namespace).Get(pod.Name)
		if err != nil {
			return nil, framework.AsStatus(fmt.Errorf("get pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
		pod = latest
	}
	if ok, msg := pl.eligible(pod, m.Get(pod.Status.NominatedNodeName)); !ok {
		return nil, framework.NewStatus(framework.Unschedulable, msg)
	}
	all := pl.h.SnapshotSharedLister().List()
	candidates, statuses, err := pl.findCandidates(ctx, state, all, pod, m)
	if err != nil && len(candidates) == 0 {
		return nil, framework.AsStatus(err)
	}
	if len(candidates) == 0 {
		statuses.SetAbsentNodesStatus(framework.NewStatus(framework.UnschedulableAndUnresolvable, "Preemption is not helpful for scheduling"))
		fe := &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: framework.Diagnosis{NodeToStatus: statuses}}
		return framework.NewPostFilterResultWithNominatedNode(""), framework.NewStatus(framework.Unschedulable, fe.Error())
	}
	best := pl.pickOne(candidates)
	if st := pl.prepare(ctx, best, pod); !st.IsSuccess() {
		return nil, st
	}
	return framework.NewPostFilterResultWithNominatedNode(best.node), nil
}

// eligible says whether the pod may preempt: not with preemptionPolicy
// Never, and not while a pod it preempted on its nominated node is still
// terminating.
func (pl *DefaultPreemption) eligible(pod *v1.Pod, nominatedStatus *framework.Status) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	node := pod.Status.NominatedNodeName
	if node == "" {
		return true, ""
	}
	if nominatedStatus.Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	if ni, err := pl.h.SnapshotSharedLister().Get(node); err == nil {
		prio := framework.PodPriority(pod)
		for _, p := range ni.Pods {
			if framework.PodPriority(p.Pod) < prio && terminatingByPreemption(p.Pod) {
				return false, "not eligible due to a terminating pod on the nominated node."
			}
		}
	}
	return true, ""
}

func terminatingByPreemption(p *v1.Pod) bool {
	if p.DeletionTimestamp == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.DisruptionTarget {
			return c.Status == v1.ConditionTrue && c.Reason == v1.PodReasonPreemptionByScheduler
		}
	}
	return false
}

// candidate is a node where evicting victims makes the pod fit.
type candidate struct {
	node          string
	victims       []*v1.Pod // by importance, highest first
	pdbViolations int
}

// candidateList collects up to a number of candidates from many
// goroutines.
type candidateList struct {
	n     atomic.Int32
	items []*candidate
}

func (l *candidateList) add(c *candidate) {
	if i := l.n.Add(1) - 1; int(i) < len(l.items) {
		l.items[i] = c
	}
}

func (l *candidateList) size() int { return min(int(l.n.Load()), len(l.items)) }

func (l *candidateList) get() []*candidate { return l.items[:l.size()] }

// numCandidates is how many candidates the dry run looks for: 10% of the
// nodes, at least 100, at most all.
func numCandidates(nodes int) int {
	n := nodes * MinCandidateNodesPercentage / 100
	return min(max(n, MinCandidateNodesAbsolute), nodes)
}

// findCandidates dry-runs preemption on the nodes that rejected the pod
// with a resolvable reason, from a random offset, until enough candidates
// (one of them without PDB violations) are found.
func (pl *DefaultPreemption) findCandidates(ctx context.Context, state *framework.CycleState, all []*framework.NodeInfo, pod *v1.Pod, m *framework.NodeToStatus) ([]*candidate, *framework.NodeToStatus, error) {
	if len(all) == 0 {
		return nil, nil, errors.New("no nodes available")
	}
	potential := m.NodesForStatusCode(all, framework.Unschedulable)
	if len(potential) == 0 {
		return nil, framework.NewDefaultNodeToStatus(), nil
	}
	var pdbs []*policy.PodDisruptionBudget
	if pl.pdbs != nil {
		var err error
		if pdbs, err = pl.pdbs.List(labels.Everything()); err != nil {
			return nil, nil, fmt.Errorf("list pod disruption budgets: %w", err)
		}
	}
	offset, want := pl.offset(len(potential)), numCandidates(len(potential))
	nonViolating := &candidateList{items: make([]*candidate, want)}
	violating := &candidateList{items: make([]*candidate, want)}
	statuses := framework.NewDefaultNodeToStatus()
	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pl.h.Parallelizer().Until(ctx, len(potential), func(i int) {
		ni := potential[(offset+i)%len(potential)].Snapshot()
		victims, violations, st := pl.selectVictimsOnNode(ctx, state.Clone(), pod, ni, pdbs)
		if st.IsSuccess() && len(victims) > 0 {
			c := &candidate{node: ni.Node().Name, victims: victims, pdbViolations: violations}
			if violations == 0 {
				nonViolating.add(c)
			} else {
				violating.add(c)
			}
			if nv := nonViolating.size(); nv > 0 && nv+violating.size() >= want {
				cancel()
			}
			return
		}
		if st.IsSuccess() {
			st = framework.AsStatus(fmt.Errorf("expected at least one victim pod on node %q", ni.Node().Name))
		}
		mu.Lock()
		defer mu.Unlock()
		if st.Code() == framework.Error {
			errs = append(errs, st.AsError())
		}
		statuses.Set(ni.Node().Name, st)
	})
	return append(nonViolating.get(), violating.get()...), statuses, errors.Join(errs...)
}
