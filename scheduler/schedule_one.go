package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"

	"berth/scheduler/framework"
)

// Kubernetes' limits for percentageOfNodesToScore: at least 100 nodes
// (all when there are fewer), at least 5% of them.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// noteLengthLimit is the longest event note (events.k8s.io validation).
const noteLengthLimit = 1024

// clearNominatedNode removes a pod's nominated node.
func clearNominatedNode() *framework.NominatingInfo {
	return &framework.NominatingInfo{NominatingMode: framework.ModeOverride, NominatedNodeName: ""}
}

// scheduleOne takes the next pod from the queue, picks a node for it,
// assumes it there and binds it in the background. It returns false once
// the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qpi, err := s.queue.Pop()
	if err != nil {
		return false
	}
	pod := qpi.Pod
	if s.skipPodSchedule(pod) {
		s.queue.Done(pod)
		return true
	}
	start := s.cfg.Now()
	cycle := s.queue.SchedulingCycle()
	state := framework.NewCycleState()
	state.PodInfo = qpi.PodInfo
	s.cache.UpdateSnapshot(s.snapshot)

	host, err := s.schedulePod(ctx, state, pod)
	if err != nil {
		s.handleScheduleError(ctx, state, qpi, err, cycle, start)
		return true
	}

	// Assume the pod on the node so that the next cycle sees it, before
	// the binding (which takes a round trip) is done.
	assumed := *pod
	assumed.Spec.NodeName = host
	assumedInfo := qpi.PodInfo.WithPod(&assumed)
	if err := s.cache.AssumePod(assumedInfo); err != nil {
		s.handleFailure(ctx, qpi, framework.AsStatus(err), clearNominatedNode(), cycle, start)
		return true
	}
	s.queue.DeleteNominatedPodIfExists(pod)
	if st := s.fwk.RunReservePluginsReserve(ctx, state, &assumed, host); !st.IsSuccess() {
		s.fwk.RunReservePluginsUnreserve(ctx, state, &assumed, host)
		if err := s.cache.ForgetPod(&assumed); err != nil {
			s.logger.Error("forget assumed pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		s.handleFailure(ctx, qpi, st, clearNominatedNode(), cycle, start)
		return true
	}
	s.queue.Done(pod)
	s.bindings.Add(1)
	go s.bind(ctx, state, qpi, &assumed, host, cycle, start)
	return true
}

// skipPodSchedule is true for pods being deleted and pods already assumed.
func (s *Scheduler) skipPodSchedule(pod *v1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "skip schedule deleting pod: %v/%v", pod.Namespace, pod.Name)
		return true
	}
	return s.cache.IsAssumedPod(pod)
}

// schedulePod picks the node for a pod: the feasible nodes, scored; the
// best one (ties broken at random).
func (s *Scheduler) schedulePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (string, error) {
	if s.snapshot.NumNodes() == 0 {
		return "", framework.ErrNoNodesAvailable
	}
	feasible, diagnosis, err := s.findNodesThatFitPod(ctx, state, pod)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &framework.FitError{Pod: pod, NumAllNodes: s.snapshot.NumNodes(), Diagnosis: diagnosis}
	}
	if len(feasible) == 1 {
		return feasible[0].Node().Name, nil
	}
	if st := s.fwk.RunPreScorePlugins(ctx, state, pod, feasible); !st.IsSuccess() {
		return "", st.AsError()
	}
	totals, st := s.fwk.RunScorePlugins(ctx, state, pod, feasible)
	if !st.IsSuccess() {
		return "", st.AsError()
	}
	return feasible[selectHost(totals)].Node().Name, nil
}

// selectHost returns the index of the highest score, choosing uniformly
// among ties.
func selectHost(scores []int64) int {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// numFeasibleNodesToFind is how many feasible nodes are enough: all of up
// to 100 nodes; otherwise percentageOfNodesToScore of them (adaptive: 50%
// minus 1% per 125 nodes, at least 5%), at least 100.
func (s *Scheduler) numFeasibleNodesToFind(n int) int {
	if n < minFeasibleNodesToFind {
		return n
	}
	pct := s.percentageOfNodesToScore
	if pct == 0 {
		pct = 50 - n/125
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	k := n * pct / 100
	if k < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return k
}

// findNodesThatFitPod runs PreFilter, tries the nominated node first, then
// filters the nodes in parallel from a rotating start until enough
// feasible nodes are found.
func (s *Scheduler) findNodesThatFitPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod) ([]*framework.NodeInfo, framework.Diagnosis, error) {
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NewDefaultNodeToStatus()}
	all := s.snapshot.List()
	pre, st, rejectors := s.fwk.RunPreFilterPlugins(ctx, state, pod)
	diagnosis.UnschedulablePlugins = rejectors
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return nil, diagnosis, st.AsError()
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(st)
		diagnosis.PreFilterMsg = st.Message()
		return nil, diagnosis, nil
	}
	if name := pod.Status.NominatedNodeName; name != "" {
		if ni, err := s.snapshot.Get(name); err == nil {
			if st := s.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); st.IsSuccess() {
				return []*framework.NodeInfo{ni}, diagnosis, nil
			}
		}
	}
	nodes := all
	if !pre.AllNodes() {
		nodes = make([]*framework.NodeInfo, 0, len(pre.NodeNames))
		for name := range pre.NodeNames {
			if ni, err := s.snapshot.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		diagnosis.NodeToStatus.SetAbsentNodesStatus(framework.NewStatus(framework.UnschedulableAndUnresolvable,
			fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(rejectors))))
	}
	feasible, err := s.findNodesThatPassFilters(ctx, state, pod, &diagnosis, nodes, len(all))
	return feasible, diagnosis, err
}

func (s *Scheduler) findNodesThatPassFilters(ctx context.Context, state *framework.CycleState, pod *v1.Pod, diagnosis *framework.Diagnosis, nodes []*framework.NodeInfo, numAll int) ([]*framework.NodeInfo, error) {
	n := len(nodes)
	if n == 0 {
		return nil, nil
	}
	want := s.numFeasibleNodesToFind(n)
	// The buffers are reused from cycle to cycle (one scheduling
	// goroutine); the feasible nodes are used only within the cycle.
	if cap(s.feasibleBuf) < want {
		s.feasibleBuf = make([]*framework.NodeInfo, want)
	}
	feasible := s.feasibleBuf[:want]
	start := s.nextStartNodeIndex % n
	if !s.fwk.HasFilterPlugins() {
		for i := range feasible {
			feasible[i] = nodes[(start+i)%n]
		}
		return feasible, nil
	}
	if cap(s.statusBuf) < n {
		s.statusBuf = make([]*framework.Status, n)
	}
	statuses := s.statusBuf[:n]
	clear(statuses)
	var found, failed atomic.Int32
	var firstErr atomic.Pointer[error]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.parallelizer.Until(ctx, n, func(i int) {
		ni := nodes[(start+i)%n]
		st := s.fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
		switch {
		case st.IsSuccess():
			k := found.Add(1)
			if int(k) > want {
				cancel()
				found.Add(-1)
				return
			}
			feasible[k-1] = ni
		case st.Code() == framework.Error:
			err := st.AsError()
			firstErr.CompareAndSwap(nil, &err)
			cancel()
		default:
			statuses[i] = st
			failed.Add(1)
		}
	})
	if p := firstErr.Load(); p != nil {
		return nil, *p
	}
	processed := int(found.Load() + failed.Load())
	s.nextStartNodeIndex = (s.nextStartNodeIndex + processed) % numAll
	feasible = feasible[:found.Load()]
	if len(feasible) == 0 {
		if diagnosis.UnschedulablePlugins == nil {
			diagnosis.UnschedulablePlugins = sets.New[string]()
		}
		for i, st := range statuses {
			if st == nil {
				continue
			}
			diagnosis.NodeToStatus.Set(nodes[(start+i)%n].Node().Name, st)
			if st.Plugin() != "" {
				diagnosis.UnschedulablePlugins.Insert(st.Plugin())
			}
		}
	}
	return feasible, nil
}

// handleScheduleError runs the PostFilter plugins (preemption) when the
// pod fits nowhere, then records the failure.
func (s *Scheduler) handleScheduleError(ctx context.Context, state *framework.CycleState, qpi *framework.QueuedPodInfo, err error, cycle int64, start time.Time) {
	pod := qpi.Pod
	if errors.Is(err, framework.ErrNoNodesAvailable) {
		s.handleFailure(ctx, qpi, framework.NewStatus(framework.UnschedulableAndUnresolvable).WithError(err), clearNominatedNode(), cycle, start)
		return
	}
	var fitErr *framework.FitError
	if !errors.As(err, &fitErr) {
		s.logger.Error("error selecting node for pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		s.handleFailure(ctx, qpi, framework.AsStatus(err), clearNominatedNode(), cycle, start)
		return
	}
	var nominating *framework.NominatingInfo
	if s.fwk.HasPostFilterPlugins() {
		result, st := s.fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
		fitErr.Diagnosis.PostFilterMsg = st.Message()
		if st.Code() == framework.Error {
			s.logger.Error("post-filter failed", "pod", pod.Namespace+"/"+pod.Name, "status", st.Message())
		}
		if result != nil {
			nominating = result.NominatingInfo
		}
	}
	qpi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	s.handleFailure(ctx, qpi, framework.NewStatus(framework.Unschedulable).WithError(fitErr), nominating, cycle, start)
}

// handleFailure puts the pod back in the queue (unless it is gone or
// bound), records its nomination, and reports the failure: a
// FailedScheduling event and the PodScheduled=False condition.
func (s *Scheduler) handleFailure(ctx context.Context, qpi *framework.QueuedPodInfo, st *framework.Status, nominating *framework.NominatingInfo, cycle int64, start time.Time) {
	pod := qpi.Pod
	reason := v1.PodReasonSchedulerError
	if st.IsRejected() {
		reason = v1.PodReasonUnschedulable
	}
	msg := st.Message()
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		s.logger.Debug("unable to schedule pod", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "message", msg, "attempts", qpi.Attempts, "took", s.cfg.Now().Sub(start))
	}
	cached, err := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	switch {
	case err != nil:
		s.queue.Done(pod)
		return
	case cached.Spec.NodeName != "":
		s.queue.Done(pod)
		return
	case cached.UID != pod.UID:
		s.queue.Done(pod)
		return
	}
	qpi.PodInfo = framework.NewPodInfo(cached)
	if err := s.queue.AddUnschedulableIfNotPresent(qpi, cycle); err != nil {
		s.logger.Error("requeue pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	s.queue.AddNominatedPod(qpi.PodInfo, nominating)
	if ctx.Err() != nil {
		return
	}
	s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", truncateMessage(msg))
	cond := &v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg}
	if err := s.updatePodStatus(ctx, cached, cond, nominating); err != nil && !apierrors.IsNotFound(err) {
		s.logger.Error("update pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// updatePodStatus patches the PodScheduled condition and the nominated
// node when they change.
func (s *Scheduler) updatePodStatus(ctx context.Context, pod *v1.Pod, cond *v1.PodCondition, nominating *framework.NominatingInfo) error {
	status := pod.Status.DeepCopy()
	nnnChange := nominating.Mode() == framework.ModeOverride && pod.Status.NominatedNodeName != nominating.NominatedNodeName
	if !framework.UpdatePodCondition(status, cond, s.cfg.Now()) && !nnnChange {
		return nil
	}
	if nnnChange {
		status.NominatedNodeName = nominating.NominatedNodeName
	}
	return framework.PatchPodStatus(ctx, s.client, pod, status)
}

// truncateMessage keeps event notes within the API's limit.
func truncateMessage(msg string) string {
	if len(msg) <= noteLengthLimit {
		return msg
	}
	const suffix = " ..."
	return msg[:noteLengthLimit-len(suffix)] + suffix
}

// bind binds an assumed pod; on failure it forgets the pod and requeues
// it.
func (s *Scheduler) bind(ctx context.Context, state *framework.CycleState, qpi *framework.QueuedPodInfo, assumed *v1.Pod, host string, cycle int64, start time.Time) {
	defer s.bindings.Done()
	s.bindSem <- struct{}{}
	st := s.fwk.RunBindPlugins(ctx, state, assumed, host)
	<-s.bindSem
	if st.IsSuccess() {
		s.bound.Add(1)
		if err := s.cache.FinishBinding(assumed); err != nil {
			s.logger.Error("finish binding", "pod", assumed.Namespace+"/"+assumed.Name, "err", err)
		}
		s.recorder.Eventf(assumed, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", assumed.Namespace, assumed.Name, host)
		return
	}
	if ctx.Err() == nil {
		s.logger.Error("binding failed", "pod", assumed.Namespace+"/"+assumed.Name, "node", host, "err", st.Message())
	}
	s.fwk.RunReservePluginsUnreserve(ctx, state, assumed, host)
	if err := s.cache.ForgetPod(assumed); err != nil {
		s.logger.Error("forget assumed pod", "pod", assumed.Namespace+"/"+assumed.Name, "err", err)
	}
	if ctx.Err() != nil {
		return
	}
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDelete())
	s.handleFailure(ctx, qpi, st, clearNominatedNode(), cycle, start)
}
