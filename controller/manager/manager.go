// Package manager runs berth's controllers, like kube-controller-manager:
// one leader-elected process (Lease kube-system/kube-controller-manager)
// whose controllers share one set of informers.
package manager

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"berth/controller"
	"berth/internal/leader"
)

// Entry names a controller and how to build it.
type Entry struct {
	Name string
	New  func(s *controller.Shared) (controller.Controller, error)
}

// Config configures the manager.
type Config struct {
	// Rest reaches the API server.
	Rest *rest.Config
	// Identity is this process's name in the leader election.
	Identity string
	// Controllers to run.
	Controllers []Entry
	Options     controller.Options
	// LeaseDuration etc. of the election; zero means Kubernetes' defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// Run campaigns for leadership and runs the controllers while leading,
// until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Rest == nil {
		return errors.New("controller manager: no API server configuration")
	}
	cfg.Options.Defaults()
	client, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		return err
	}
	md, err := metadata.NewForConfig(cfg.Rest)
	if err != nil {
		return err
	}
	return leader.Run(ctx, leader.Config{
		Client: client, Namespace: "kube-system", Name: "kube-controller-manager", Identity: cfg.Identity,
		LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
		Logger: cfg.Logger,
	}, func(ctx context.Context) { runControllers(ctx, cfg, client, md) })
}

func runControllers(ctx context.Context, cfg Config, client kubernetes.Interface, md metadata.Interface) {
	recorder, stopEvents := controller.NewRecorderFactory(client)
	defer stopEvents()
	shared := &controller.Shared{
		Client:    client,
		Metadata:  md,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder:  recorder,
		Options:   cfg.Options,
		Logger:    cfg.Logger,
		Now:       time.Now,
	}
	var wg sync.WaitGroup
	for _, e := range cfg.Controllers {
		c, err := e.New(shared)
		if err != nil {
			cfg.Logger.Error("controller not started", "controller", e.Name, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				cfg.Logger.Error("controller stopped", "controller", e.Name, "err", err)
			}
		}()
	}
	// Informers asked for by the controllers start now.
	shared.Informers.Start(ctx.Done())
	wg.Wait()
	shared.Informers.Shutdown()
}
