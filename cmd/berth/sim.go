package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"berth/sim"
)

func newSimCommand() *cobra.Command {
	var (
		kubeconfig, logLevel, cpu, memory, storage string
		taints                                     []string
		noStdin                                    bool
		cfg                                        sim.Config
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate nodes (like kwok) to exercise and measure the control plane",
		Long: `sim registers simulated nodes with a cluster and acts as their kubelets,
without running anything: the nodes report Ready, renew their Leases in
kube-node-lease, and every pod bound to them becomes Running and Ready with a
fake pod IP. Pods whose restartPolicy is Never or OnFailure finish after
--job-pod-duration (Succeeded; annotation sim.berth.dev/exit-code: "N" makes
them exit with N, so Never pods fail and OnFailure pods restart; annotation
sim.berth.dev/duration overrides the run time). Deleted pods are removed at
once. It is for tests and scale measurements, never a substitute for
berth agent.

While it runs, it reads commands on its standard input, one a line:
  stop NAME     stop NAME's heartbeat: its Lease goes stale and its pods are
                left alone, as with a dead kubelet (to exercise node failure)
  resume NAME   resume NAME's heartbeat
  add N         add N nodes
  nodes         list the nodes (a * marks a stopped heartbeat)
It runs until interrupted (Ctrl-C or SIGTERM).`,
		Example: `  berth sim --kubeconfig /var/lib/berth/admin.kubeconfig --nodes 100 --zones 3`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger(logLevel)
			klog.SetSlogLogger(logger)
			cfg.Logger = logger
			var err error
			for _, q := range []struct {
				flag, value string
				dst         *resource.Quantity
			}{{"cpu", cpu, &cfg.CPU}, {"memory", memory, &cfg.Memory}, {"ephemeral-storage", storage, &cfg.EphemeralStorage}} {
				if *q.dst, err = resource.ParseQuantity(q.value); err != nil {
					return fmt.Errorf("--%s %q: %w", q.flag, q.value, err)
				}
			}
			if cfg.Taints, err = parseTaints(taints); err != nil {
				return err
			}
			if cfg.Client, err = simClient(kubeconfig); err != nil {
				return err
			}
			s, err := sim.New(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if !noStdin {
				go func() {
					if err := s.Control(ctx, cmd.InOrStdin(), cmd.OutOrStdout()); err != nil {
						logger.Warn("reading commands", "err", err)
					}
				}()
			}
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.IntVar(&cfg.Nodes, "nodes", 1, "number of nodes to register")
	f.StringVar(&cfg.NamePrefix, "name-prefix", sim.DefaultNamePrefix, "node names are this prefix and a number")
	f.StringVar(&cpu, "cpu", sim.DefaultCPU, "CPU capacity of each node")
	f.StringVar(&memory, "memory", sim.DefaultMemory, "memory capacity of each node")
	f.StringVar(&storage, "ephemeral-storage", sim.DefaultEphemeralStorage, "ephemeral storage capacity of each node")
	f.IntVar(&cfg.Pods, "pods", sim.DefaultPods, "pod capacity of each node")
	f.IntVar(&cfg.Zones, "zones", 0, "spread the nodes over this many zones (label topology.kubernetes.io/zone=zone-N); 0: no zone label")
	f.StringToStringVar(&cfg.Labels, "labels", nil, "extra node labels, KEY=VALUE,...")
	f.StringSliceVar(&taints, "taints", nil, "taints of new nodes, KEY[=VALUE]:EFFECT,...")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", sim.DefaultHeartbeatInterval, "how often each node renews its Lease and checks its status")
	f.DurationVar(&cfg.StatusReportInterval, "status-report-interval", sim.DefaultStatusReportInterval, "how often an unchanged node status is posted again")
	f.DurationVar(&cfg.PodStartDelay, "pod-start-delay", 0, "how long pods stay ContainerCreating before running")
	f.DurationVar(&cfg.JobPodDuration, "job-pod-duration", sim.DefaultJobPodDuration, "how long pods with restartPolicy Never or OnFailure run")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", "", "range of fake pod IPs, a block per node (default 10.42.0.0/16, or 10.64.0.0/10 beyond 256 nodes)")
	f.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", sim.DefaultNodeCIDRMask, "prefix length of each node's pod CIDR")
	f.StringVar(&cfg.NodeIPRange, "node-ip-range", sim.DefaultNodeIPRange, "range of the nodes' fake InternalIPs")
	f.IntVar(&cfg.Workers, "workers", sim.DefaultWorkers, "concurrent pod status writes")
	f.BoolVar(&noStdin, "no-stdin", false, "do not read commands on standard input")
	return cmd
}

// simClient builds a protobuf client without client-side rate limit.
func simClient(kubeconfig string) (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	restCfg.QPS, restCfg.Burst = -1, 0
	restCfg.UserAgent = "berth-sim"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return client, nil
}

// parseTaints reads KEY[=VALUE]:EFFECT taints.
func parseTaints(specs []string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, spec := range specs {
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok || kv == "" {
			return nil, fmt.Errorf("--taints %q: want KEY[=VALUE]:EFFECT", spec)
		}
		key, value, _ := strings.Cut(kv, "=")
		out = append(out, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
	}
	return out, nil
}
