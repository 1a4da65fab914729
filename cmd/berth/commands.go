package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"berth/server"
)

func newRootCommand(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "berth runs containers the way Kubernetes describes, in one small binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(args), newVersionCommand(), newSimCommand(), newTokenCommand(), newImageCommand(), newUpCommand(args), newAgentCommand())
	root.SetArgs(args)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of berth and the Kubernetes API it serves",
		Run: func(cmd *cobra.Command, _ []string) {
			v := server.Version()
			fmt.Fprintf(cmd.OutOrStdout(), "berth %s\nKubernetes API %s (v%s.%s)\n%s %s\n", server.BerthVersion, v.GitVersion, v.Major, v.Minor, v.GoVersion, v.Platform)
		},
	}
}

func newServerCommand(args []string) *cobra.Command {
	cfg := server.Config{DataDir: "/var/lib/berth", Port: 6443, BindAddress: "0.0.0.0", ServiceCIDR: "10.43.0.0/16", ServiceNodePortRange: "30000-32767", Profiling: true}
	var configFile, logLevel string
	fileErr := loadConfig(args, &cfg)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: etcd, the API server, scheduler and controllers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fileErr != nil {
				return fileErr
			}
			cfg.Logger = newLogger(logLevel)
			// client-go logs through klog: send it to the same place.
			klog.SetSlogLogger(cfg.Logger)
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			go func() {
				select {
				case <-s.Ready():
					fmt.Fprintf(cmd.OutOrStdout(), "berth server is ready at https://%s\nexport KUBECONFIG=%s\n", s.Address(), s.KubeconfigPath())
				case <-cmd.Context().Done():
				}
			}()
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with the same settings as the flags (flags given on the command line win)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	addServerFlags(f, &cfg)
	return cmd
}

// addServerFlags defines the control plane's flags; their defaults are
// cfg's values (built-in defaults, or the config file's).
func addServerFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for all state")
	f.IntVar(&cfg.Port, "port", cfg.Port, "HTTPS port of the API server (0 picks a free port)")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API server listens on")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", cfg.AdvertiseAddress, "address nodes reach the API server at (default: the host's first address)")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", cfg.TLSSANs, "extra names or addresses for the serving certificate")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", cfg.EtcdEndpoints, "external etcd endpoints (default: embedded etcd under the data dir)")
	f.DurationVar(&cfg.EtcdCompactionInterval, "etcd-compaction-interval", cfg.EtcdCompactionInterval, "how often old etcd revisions are compacted (default 5m)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "range of ClusterIPs")
	f.StringVar(&cfg.ServiceNodePortRange, "service-node-port-range", cfg.ServiceNodePortRange, "range of NodePorts")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "pod network, cut into the nodes' pod CIDRs (default 10.42.0.0/16)")
	f.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", cfg.NodeCIDRMaskSize, "prefix length of each node's pod CIDR (default 24; 64 for an IPv6 cluster CIDR)")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", cfg.ClusterDNS, "ClusterIP of the cluster DNS service kube-system/kube-dns (default: the 10th address of the service CIDR, 10.43.0.10)")
	f.DurationVar(&cfg.EventTTL, "event-ttl", cfg.EventTTL, "how long events are kept (default 1h)")
	f.BoolVar(&cfg.Profiling, "profiling", cfg.Profiling, "serve Go profiles at /debug/pprof (authenticated)")
	f.StringSliceVar(&cfg.Controllers, "controllers", cfg.Controllers, `controllers to run: "*" for all, NAME to add one, -NAME to leave one out`)
	f.BoolVar(&cfg.DisableControllers, "disable-controllers", cfg.DisableControllers, "run no controllers (the API server and scheduler only)")
	f.BoolVar(&cfg.DisableScheduler, "disable-scheduler", cfg.DisableScheduler, "run no scheduler")
	f.StringVar(&cfg.SchedulerScoring, "scheduler-scoring", cfg.SchedulerScoring, "LeastAllocated (spread pods) or MostAllocated (bin packing)")
	f.DurationVar(&cfg.NodeMonitorGracePeriod, "node-monitor-grace-period", cfg.NodeMonitorGracePeriod, "how long a node may miss heartbeats before it is NotReady (default 40s)")
	f.Int64Var(&cfg.DefaultTolerationSeconds, "default-toleration-seconds", cfg.DefaultTolerationSeconds, "how long pods stay on a not-ready or unreachable node before eviction (default 300)")
}

// loadConfig reads the YAML config file named by --config in args into
// cfg. It runs before the flags are defined, so that the file's values
// become the flags' defaults and flags given on the command line win.
func loadConfig(args []string, cfg *server.Config) error {
	file := ""
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			file = v
		} else if a == "--config" && i+1 < len(args) {
			file = args[i+1]
		}
	}
	if file == "" {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return fmt.Errorf("config file %s: %w", file, err)
	}
	return nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
