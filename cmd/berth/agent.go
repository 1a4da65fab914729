package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2"

	"berth/agent"
	"berth/join"
	"berth/server"
)

// agentFlags are the agent's settings shared by `berth agent` and
// `berth up`.
type agentFlags struct {
	cfg      agent.Config
	nodeIP   string
	labels   []string
	taints   []string
	reserved []string
}

func (a *agentFlags) add(f *pflag.FlagSet, prefix string) {
	f.StringVar(&a.cfg.NodeName, "node-name", a.cfg.NodeName, "the Node's name (default: the host name)")
	f.StringVar(&a.cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "an existing CRI socket (unix:///PATH) to use instead of a containerd of the agent's own")
	f.StringVar(&a.cfg.PodCIDR, "pod-cidr", "", "the node's pod network (default: the one the control plane gives the node)")
	f.StringVar(&a.cfg.NetworkMode, "network-mode", "auto", "how pods reach other nodes' pods: auto (routes on a shared link, VXLAN otherwise), host-gw or vxlan")
	f.StringVar(&a.cfg.VXLANDevice, "vxlan-device", "", "the VXLAN device's name (default berth.1, or derived from --bridge)")
	f.IntVar(&a.cfg.IngressHTTPPort, "ingress-http-port", 80, "port of the built-in ingress controller for HTTP on every node address (0: off)")
	f.IntVar(&a.cfg.IngressHTTPSPort, "ingress-https-port", 443, "port of the built-in ingress controller for HTTPS on every node address (0: off)")
	f.StringVar(&a.cfg.Bridge, "bridge", "berth0", "the pod network's bridge device")
	f.StringVar(&a.cfg.Address, prefix+"address", ":10250", "where the agent's HTTPS endpoint listens")
	f.StringVar(&a.nodeIP, "node-ip", "", "the node's InternalIP (default: the address of the default route)")
	f.StringSliceVar(&a.labels, "node-label", nil, "KEY=VALUE labels of a new Node")
	f.StringSliceVar(&a.taints, "node-taint", nil, "KEY[=VALUE]:EFFECT taints of a new Node")
	f.StringSliceVar(&a.reserved, "reserved", nil, "RESOURCE=QUANTITY taken from capacity for allocatable (cpu=100m,memory=256Mi)")
	f.StringVar(&a.cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	if prefix == "" {
		// `berth up` takes these from the control plane's flags.
		f.StringVar(&a.cfg.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "the pod network of the whole cluster (traffic from pods to other addresses is masqueraded)")
		f.StringSliceVar(&a.cfg.ClusterDNS, "cluster-dns", nil, "nameservers of pods with dnsPolicy ClusterFirst (default: the kube-dns Service's address)")
	}
}

// complete turns the flags into the agent's configuration.
func (a *agentFlags) complete() (agent.Config, error) {
	cfg := a.cfg
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("node name: %w", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	if a.nodeIP != "" {
		if cfg.NodeIP = net.ParseIP(a.nodeIP); cfg.NodeIP == nil {
			return cfg, fmt.Errorf("--node-ip %q is not an IP address", a.nodeIP)
		}
	}
	if len(a.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range a.labels {
			k, v, ok := strings.Cut(l, "=")
			if !ok || k == "" {
				return cfg, fmt.Errorf("--node-label %q: want KEY=VALUE", l)
			}
			cfg.Labels[k] = v
		}
	}
	for _, t := range a.taints {
		kv, effect, ok := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		e := corev1.TaintEffect(effect)
		if !ok || k == "" || (e != corev1.TaintEffectNoSchedule && e != corev1.TaintEffectPreferNoSchedule && e != corev1.TaintEffectNoExecute) {
			return cfg, fmt.Errorf("--node-taint %q: want KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
		cfg.Taints = append(cfg.Taints, corev1.Taint{Key: k, Value: v, Effect: e})
	}
	if len(a.reserved) > 0 {
		cfg.Reserved = corev1.ResourceList{}
		for _, r := range a.reserved {
			k, v, ok := strings.Cut(r, "=")
			q, err := resource.ParseQuantity(v)
			if !ok || err != nil {
				return cfg, fmt.Errorf("--reserved %q: want RESOURCE=QUANTITY", r)
			}
			cfg.Reserved[corev1.ResourceName(k)] = q
		}
	}
	cfg.Version = server.Version().GitVersion
	return cfg, nil
}

// rejoinInterval is how often a running agent renews its certificates
// (Join renews those past 70% of their life).
const rejoinInterval = 12 * time.Hour

func newAgentCommand() *cobra.Command {
	var (
		flags           agentFlags
		serverURL       string
		token, logLevel string
	)
	flags.cfg.DataDir = agent.DefaultDataDir
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN",
		Short: "Run a node: join a cluster and run the pods scheduled to it",
		Long: `agent runs a node of a cluster: its own containerd, the Node's registration
and heartbeats, the pods bound to it, and the HTTPS endpoint behind kubectl
logs, exec and port-forward.

The first start joins the cluster with a token from "berth token create" on
the server: the token pins the cluster CA, and the node gets a client
certificate for system:node:NAME through a CertificateSigningRequest. The
credentials are kept under DATA_DIR/pki; later starts need no token.`,
		Example: `  berth agent --server https://10.0.0.1:6443 --token K10...::abcdef.0123456789abcdef`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.complete()
			if err != nil {
				return err
			}
			cfg.Logger = newLogger(logLevel)
			klog.SetSlogLogger(cfg.Logger)
			ctx := cmd.Context()
			jc := join.Config{Server: serverURL, Token: token, NodeName: cfg.NodeName, Dir: filepath.Join(cfg.DataDir, "pki"), Logger: cfg.Logger}
			if cfg.NodeIP != nil {
				jc.ServingIPs = []net.IP{cfg.NodeIP}
			}
			creds, err := join.Join(ctx, jc)
			if err != nil {
				if errors.Is(err, join.ErrTokenRefused) {
					return fmt.Errorf("%w (make a new one with `berth token create` on the server)", err)
				}
				return err
			}
			cfg.Credentials = creds
			go rejoin(ctx, jc)
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			go func() {
				select {
				case <-a.Ready():
					fmt.Fprintf(cmd.OutOrStdout(), "agent ready: node %s runs pods of %s\n", cfg.NodeName, creds.Server)
				case <-ctx.Done():
				}
			}()
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&serverURL, "server", "", "the API server's URL, https://HOST:PORT (needed to join; later starts remember it)")
	f.StringVar(&token, "token", "", "a join token from `berth token create` (needed to join)")
	f.StringVar(&flags.cfg.DataDir, "data-dir", flags.cfg.DataDir, "directory for the agent's state (keep it short: unix sockets live below it)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&flags.cfg.StopPodsOnExit, "stop-pods-on-exit", false, "stop every pod when the agent stops (default: pods keep running for the next start)")
	flags.add(f, "")
	return cmd
}

// rejoin renews the node's certificates while ctx lasts.
func rejoin(ctx context.Context, jc join.Config) {
	jc.Token = ""
	t := time.NewTicker(rejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := join.Join(ctx, jc); err != nil && ctx.Err() == nil {
				jc.Logger.Error("renewing the node's certificates", "err", err)
			}
		}
	}
}
