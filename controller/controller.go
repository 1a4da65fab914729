package controller

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/record"
)

// Controller is a control loop.
type Controller interface {
	// Run works until ctx ends; it returns early only on a fatal error.
	Run(ctx context.Context) error
}

// Shared is what every controller is built from. The informers are shared:
// a controller asks for the ones it needs before the manager starts them.
type Shared struct {
	Client    kubernetes.Interface
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	// Recorder returns an event recorder for a component.
	Recorder func(component string) record.EventRecorder
	Options  Options
	Logger   *slog.Logger
	// Now returns the current time (tests set it).
	Now func() time.Time
}

// Options are the controllers' tunables, as kube-controller-manager's
// flags.
type Options struct {
	// NodeMonitorGracePeriod is how long a node's Lease may go unrenewed
	// before the node is marked NotReady/Unknown. Default 40s.
	NodeMonitorGracePeriod time.Duration
	// NodeMonitorPeriod is how often node health is checked. Default 5s.
	NodeMonitorPeriod time.Duration
	// Workers is the number of concurrent syncs per controller. Default 5.
	Workers int
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	if o.NodeMonitorGracePeriod == 0 {
		o.NodeMonitorGracePeriod = 40 * time.Second
	}
	if o.NodeMonitorPeriod == 0 {
		o.NodeMonitorPeriod = 5 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 5
	}
}

// NewRecorderFactory returns Recorder functions that write core/v1 events
// through client, and a function that stops them.
func NewRecorderFactory(client kubernetes.Interface) (func(component string) record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedEventSink{client: client})
	return func(component string) record.EventRecorder {
		return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}, b.Shutdown
}
