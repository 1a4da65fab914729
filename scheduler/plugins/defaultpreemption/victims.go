package defaultpreemption

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth/scheduler/framework"
)

// selectVictimsOnNode finds the fewest, least important pods to evict
// from a node for the pod to fit: it removes every lower-priority pod,
// checks that the pod then fits, and puts pods back, most important first
// (those whose eviction would violate a PodDisruptionBudget before the
// others), as long as the pod still fits. It returns the victims, most
// important first, and how many violate a budget.
func (pl *DefaultPreemption) selectVictimsOnNode(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo, pdbs []*policy.PodDisruptionBudget) ([]*v1.Pod, int, *framework.Status) {
	remove := func(pi *framework.PodInfo) error {
		if err := ni.RemovePod(pi.Pod); err != nil {
			return err
		}
		return pl.h.RunPreFilterExtensionRemovePod(ctx, state, pod, pi, ni).AsError()
	}
	add := func(pi *framework.PodInfo) error {
		ni.AddPodInfo(pi)
		return pl.h.RunPreFilterExtensionAddPod(ctx, state, pod, pi, ni).AsError()
	}
	prio := framework.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, pi := range ni.Pods {
		if framework.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	for _, pi := range potential {
		if err := remove(pi); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, "No preemption victims found for incoming pod")
	}
	if st := pl.h.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); !st.IsSuccess() {
		return nil, 0, st
	}
	now := pl.h.Now()
	sort.SliceStable(potential, func(i, j int) bool { return framework.MoreImportantPod(potential[i].Pod, potential[j].Pod, now) })
	violating, nonViolating := filterPodsWithPDBViolation(potential, pdbs)
	var victims []*v1.Pod
	reprieve := func(pi *framework.PodInfo) (bool, error) {
		if err := add(pi); err != nil {
			return false, err
		}
		if pl.h.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni).IsSuccess() {
			return true, nil
		}
		if err := remove(pi); err != nil {
			return false, err
		}
		victims = append(victims, pi.Pod)
		return false, nil
	}
	violations := 0
	for _, pi := range violating {
		fits, err := reprieve(pi)
		if err != nil {
			return nil, 0, framework.AsStatus(err)
		}
		if !fits {
			violations++
		}
	}
	for _, pi := range nonViolating {
		if _, err := reprieve(pi); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
	}
	if len(violating) > 0 && len(nonViolating) > 0 {
		sort.SliceStable(victims, func(i, j int) bool { return framework.MoreImportantPod(victims[i], victims[j], now) })
	}
	return victims, violations, nil
}

// filterPodsWithPDBViolation splits pods into those whose eviction would
// exceed a PodDisruptionBudget's allowed disruptions (counting the pods
// before them) and the others.
func filterPodsWithPDBViolation(pods []*framework.PodInfo, pdbs []*policy.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
	}
	for _, pi := range pods {
		pod := pi.Pod
		violated := false
		if len(pod.Labels) > 0 {
			for i, pdb := range pdbs {
				if pdb.Namespace != pod.Namespace {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
					continue
				}
				if _, ok := pdb.Status.DisruptedPods[pod.Name]; ok {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					violated = true
				}
			}
		}
		if violated {
			violating = append(violating, pi)
		} else {
			nonViolating = append(nonViolating, pi)
		}
	}
	return violating, nonViolating
}

// pickOne chooses among candidates as Kubernetes does: fewest PDB
// violations, then the lowest highest victim priority, the lowest sum of
// priorities, the fewest victims, and the latest start of the most
// important victims.
func (pl *DefaultPreemption) pickOne(cs []*candidate) *candidate {
	if len(cs) == 1 {
		return cs[0]
	}
	now := pl.h.Now()
	scores := []func(c *candidate) int64{
		func(c *candidate) int64 { return -int64(c.pdbViolations) },
		func(c *candidate) int64 { return -int64(framework.PodPriority(c.victims[0])) },
		func(c *candidate) int64 {
			var sum int64
			for _, p := range c.victims {
				sum += int64(framework.PodPriority(p)) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(c *candidate) int64 { return -int64(len(c.victims)) },
		func(c *candidate) int64 { return earliestStartOfMostImportant(c.victims, now) },
	}
	for _, score := range scores {
		best := int64(math.MinInt64)
		var kept []*candidate
		for _, c := range cs {
			s := score(c)
			if s > best {
				best, kept = s, kept[:0]
			}
			if s == best {
				kept = append(kept, c)
			}
		}
		if len(kept) == 1 {
			return kept[0]
		}
		cs = kept
	}
	return cs[0]
}

// earliestStartOfMostImportant is the earliest start time (ns) among the
// victims with the highest priority; pods not started count now.
func earliestStartOfMostImportant(victims []*v1.Pod, now time.Time) int64 {
	if len(victims) == 0 {
		return math.MinInt64
	}
	t := func(p *v1.Pod) int64 {
		if p.Status.StartTime != nil {
			return p.Status.StartTime.UnixNano()
		}
		return now.UnixNano()
	}
	maxPrio := framework.PodPriority(victims[0])
	earliest := t(victims[0])
	for _, p := range victims {
		switch prio := framework.PodPriority(p); {
		case prio == maxPrio:
			earliest = min(earliest, t(p))
		case prio > maxPrio:
			maxPrio, earliest = prio, t(p)
		}
	}
	return earliest
}

// prepare evicts the victims (a DisruptionTarget condition, then a
// delete, and a Preempted event each) and clears the nomination of
// lower-priority pods nominated to the node.
func (pl *DefaultPreemption) prepare(ctx context.Context, c *candidate, pod *v1.Pod) *framework.Status {
	client := pl.h.ClientSet()
	var mu sync.Mutex
	var firstErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pl.h.Parallelizer().Until(ctx, len(c.victims), func(i int) {
		victim := c.victims[i]
		cond := &v1.PodCondition{
			Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
			Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", pod.Spec.SchedulerName),
		}
		status := victim.Status.DeepCopy()
		err := error(nil)
		if framework.UpdatePodCondition(status, cond, pl.h.Now()) {
			err = framework.PatchPodStatus(ctx, client, victim, status)
		}
		if err == nil || apierrors.IsNotFound(err) {
			err = client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("preempt pod %s/%s: %w", victim.Namespace, victim.Name, err)
				cancel()
			}
			mu.Unlock()
			return
		}
		if r := pl.h.EventRecorder(); r != nil {
			r.Eventf(victim, pod, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", pod.UID, c.node)
		}
	})
	if firstErr != nil {
		return framework.AsStatus(firstErr)
	}
	if n := pl.h.PodNominator(); n != nil {
		var lower []*v1.Pod
		prio := framework.PodPriority(pod)
		for _, pi := range n.NominatedPodsForNode(c.node) {
			if framework.PodPriority(pi.Pod) < prio {
				lower = append(lower, pi.Pod)
			}
		}
		if err := framework.ClearNominatedNodeName(ctx, client, lower...); err != nil {
			pl.h.Logger().Error("clear nominated node names", "node", c.node, "err", err)
		}
	}
	return nil
}
