package server

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/internal/leader"
	"berth/scheduler"
)

// runScheduler runs the scheduler while this server holds the Lease
// kube-system/kube-scheduler, until ctx ends.
func (s *Server) runScheduler(ctx context.Context, rc *rest.Config) error {
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	log := s.cfg.Logger.With("component", "scheduler")
	return leader.Run(ctx, leader.Config{
		Client: client, Namespace: "kube-system", Name: "kube-scheduler", Identity: identity(),
		LeaseDuration: s.cfg.LeaseDuration, RenewDeadline: s.cfg.RenewDeadline, RetryPeriod: s.cfg.RetryPeriod,
		Logger: log,
	}, func(ctx context.Context) {
		sched, err := scheduler.New(scheduler.Config{
			Client: client, Scoring: s.cfg.SchedulerScoring, Logger: log, Now: time.Now,
		})
		if err != nil {
			log.Error("scheduler not started", "err", err)
			return
		}
		if err := sched.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("scheduler stopped", "err", err)
		}
	})
}
