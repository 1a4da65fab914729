package scheduler

import (
	"berth/scheduler/framework"
	"berth/scheduler/plugins/balancedallocation"
	"berth/scheduler/plugins/defaultbinder"
	"berth/scheduler/plugins/defaultpreemption"
	"berth/scheduler/plugins/interpodaffinity"
	"berth/scheduler/plugins/nodeaffinity"
	"berth/scheduler/plugins/nodename"
	"berth/scheduler/plugins/nodeports"
	"berth/scheduler/plugins/noderesources"
	"berth/scheduler/plugins/nodeunschedulable"
	"berth/scheduler/plugins/podtopologyspread"
	"berth/scheduler/plugins/queuesort"
	"berth/scheduler/plugins/schedulinggates"
	"berth/scheduler/plugins/tainttoleration"
)

// defaultPlugins is kube-scheduler 1.33's default profile, in its order
// (which is the order filters run, so the order of the reasons reported),
// with its score weights; the volume and DRA plugins are not part of it.
func defaultPlugins(cfg Config) []framework.PluginSpec {
	return []framework.PluginSpec{
		{New: schedulinggates.New},
		{New: queuesort.New},
		{New: nodeunschedulable.New},
		{New: nodename.New},
		{New: tainttoleration.New, Weight: 3},
		{New: nodeaffinity.New, Weight: 2},
		{New: nodeports.New},
		{New: noderesources.New(cfg.Scoring), Weight: 1},
		{New: podtopologyspread.New, Weight: 2},
		{New: interpodaffinity.New, Weight: 2},
		{New: defaultpreemption.New},
		{New: balancedallocation.New, Weight: 1},
		{New: defaultbinder.New},
	}
}
