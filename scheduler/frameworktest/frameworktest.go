// Package frameworktest builds a scheduling framework around the plugins
// under test (with PrioritySort and DefaultBinder, which every framework
// needs) and runs a pod through it, for the plugins' tests.
package frameworktest

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"berth/scheduler/framework"
	"berth/scheduler/plugins/defaultbinder"
	"berth/scheduler/plugins/queuesort"
)

// Options are the framework's options in a test.
type Options struct {
	Pods      []*v1.Pod
	Nodes     []*v1.Node
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Nominator framework.PodNominator
}

// New builds a framework with the plugins over a snapshot of the pods and
// nodes.
func New(t testing.TB, o Options, plugins ...framework.PluginSpec) (*framework.Framework, *framework.Snapshot) {
	t.Helper()
	snap := framework.NewSnapshot(o.Pods, o.Nodes)
	specs := append([]framework.PluginSpec{{New: queuesort.New}}, plugins...)
	specs = append(specs, framework.PluginSpec{New: defaultbinder.New})
	f, err := framework.New(framework.Options{
		Client: o.Client, Informers: o.Informers, Snapshot: snap, Nominator: o.Nominator, Parallelism: 2,
	}, specs)
	if err != nil {
		t.Fatal(err)
	}
	return f, snap
}

// Filter runs PreFilter then Filter on every node; it returns the status
// of each node (nil: fits), or the PreFilter status for all when PreFilter
// rejects.
func Filter(t testing.TB, f *framework.Framework, snap *framework.Snapshot, pod *v1.Pod) map[string]*framework.Status {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	state.PodInfo = framework.NewPodInfo(pod)
	out := map[string]*framework.Status{}
	_, s, _ := f.RunPreFilterPlugins(ctx, state, pod)
	for _, ni := range snap.List() {
		if !s.IsSuccess() {
			out[ni.Node().Name] = s
			continue
		}
		out[ni.Node().Name] = f.RunFilterPlugins(ctx, state, pod, ni)
	}
	return out
}

// Score runs PreScore, Score and NormalizeScore on every node and returns
// the weighted totals by node.
func Score(t testing.TB, f *framework.Framework, snap *framework.Snapshot, pod *v1.Pod) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	state.PodInfo = framework.NewPodInfo(pod)
	nodes := snap.List()
	if s := f.RunPreScorePlugins(ctx, state, pod, nodes); !s.IsSuccess() {
		t.Fatalf("PreScore: %v", s)
	}
	totals, s := f.RunScorePlugins(ctx, state, pod, nodes)
	if !s.IsSuccess() {
		t.Fatalf("Score: %v", s)
	}
	out := map[string]int64{}
	for i, ni := range nodes {
		out[ni.Node().Name] = totals[i]
	}
	return out
}
