// Package leader runs work only while this process holds a Lease, so that
// several berth servers can run side by side with one active scheduler and
// one active controller manager.
package leader

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config configures an election.
type Config struct {
	Client kubernetes.Interface
	// Namespace and Name of the Lease, e.g. kube-system/kube-scheduler.
	Namespace, Name string
	// Identity of this candidate (unique per process).
	Identity string
	// Durations as Kubernetes' defaults: 15s lease, 10s renew deadline, 2s
	// retry period.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// Run campaigns until ctx ends; while leading it runs work with a context
// that ends when leadership is lost. After losing leadership it campaigns
// again.
func Run(ctx context.Context, cfg Config, work func(ctx context.Context)) error {
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					cfg.Logger.Info("became leader", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
					work(ctx)
				},
				OnStoppedLeading: func() {
					cfg.Logger.Info("stopped leading", "lease", cfg.Namespace+"/"+cfg.Name)
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
	}
	return nil
}
