package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"berth/agent"
	"berth/join"
	"berth/pki"
	"berth/server"
)

func newUpCommand(args []string) *cobra.Command {
	cfg := server.Config{DataDir: "/var/lib/berth", Port: 6443, BindAddress: "0.0.0.0", ServiceCIDR: "10.43.0.0/16", ServiceNodePortRange: "30000-32767", Profiling: true}
	var (
		flags              agentFlags
		configFile, level  string
		agentDataDir       string
		keepPodsOnShutdown bool
	)
	fileErr := loadConfig(args, &cfg)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a single-node cluster: the control plane and a node in one process",
		Long: `up runs a whole cluster in one process: etcd, the API server with the image
registry, the scheduler and controllers, and a node agent with its own
containerd. It writes DATA_DIR/admin.kubeconfig and prints what to export.

Ctrl-C stops the pods, the node and the control plane; running up again
resumes the same cluster from DATA_DIR.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fileErr != nil {
				return fileErr
			}
			start := time.Now()
			log := newLogger(level)
			klog.SetSlogLogger(log)
			cfg.Logger = log.With("component", "server")
			acfg, err := flags.complete()
			if err != nil {
				return err
			}
			acfg.Logger = log.With("component", "agent")
			acfg.DataDir = agentDataDir
			if acfg.DataDir == "" {
				acfg.DataDir = filepath.Join(cfg.DataDir, "agent")
			}
			acfg.StopPodsOnExit = !keepPodsOnShutdown
			acfg.ClusterCIDR = cfg.ClusterCIDR // the agent finds the cluster DNS address in the kube-dns Service
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			a, err := startUp(cmd.Context(), s, acfg)
			if err != nil {
				return err
			}
			select {
			case <-a.agent.Ready():
				fmt.Fprintf(cmd.OutOrStdout(), "berth is up (%v): node %s is running, API server at https://%s\nexport KUBECONFIG=%s\n",
					time.Since(start).Round(time.Millisecond), acfg.NodeName, s.Address(), s.KubeconfigPath())
			case err := <-a.done:
				return err
			}
			return a.wait()
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with the control plane's settings (flags given on the command line win)")
	f.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&agentDataDir, "agent-data-dir", "", "directory for the node's state (default DATA_DIR/agent; keep it short: unix sockets live below it)")
	f.BoolVar(&keepPodsOnShutdown, "keep-pods", false, "leave the pods (and containerd) running when berth stops, for the next start to adopt")
	addServerFlags(f, &cfg)
	flags.add(f, "agent-")
	return cmd
}

// upRun is a running `berth up`: the server, then the agent.
type upRun struct {
	agent *agent.Agent
	// done delivers the first error (or nil once both have stopped).
	done chan error
	wait func() error
}

// startUp runs the server, gives the node its credentials from the
// cluster CA, and runs the agent beside it. When ctx ends the agent stops
// first (its pods with it), then the server.
func startUp(ctx context.Context, s *server.Server, acfg agent.Config) (*upRun, error) {
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	serverDone := make(chan error, 1)
	go func() { serverDone <- s.Run(serverCtx) }()
	select {
	case <-s.Ready():
	case err := <-serverDone:
		stopServer()
		return nil, err
	case <-ctx.Done():
		stopServer()
		<-serverDone
		return nil, ctx.Err()
	}
	creds, err := localCredentials(ctx, s, acfg)
	if err != nil {
		stopServer()
		<-serverDone
		return nil, err
	}
	acfg.Credentials = creds
	acfg.ImagesReady = s.BuiltinImagesReady()
	a, err := agent.New(acfg)
	if err != nil {
		stopServer()
		<-serverDone
		return nil, err
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	run := &upRun{agent: a, done: make(chan error, 1)}
	var result error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case result = <-agentDone:
			stopServer()
			if err := <-serverDone; result == nil {
				result = err
			}
		case result = <-serverDone:
			// The control plane failed: stop the node too.
			stopServer()
			<-agentDone
		}
		run.done <- result
	}()
	run.wait = func() error {
		<-finished
		return result
	}
	return run, nil
}

// localCredentials issues the node's certificates from the cluster CA (no
// token: the node runs beside the server).
func localCredentials(ctx context.Context, s *server.Server, acfg agent.Config) (*join.Credentials, error) {
	ca, err := pki.LoadCA(filepath.Join(s.DataDir(), "tls", "ca.crt"), filepath.Join(s.DataDir(), "tls", "ca.key"))
	if err != nil {
		return nil, err
	}
	jc := join.Config{
		Server: "https://" + s.Address(), NodeName: acfg.NodeName, Dir: filepath.Join(acfg.DataDir, "pki"),
		ServingNames: []string{acfg.NodeName, "localhost"}, Logger: acfg.Logger,
	}
	jc.Defaults()
	jc.ServingIPs = append(jc.ServingIPs, net.IPv4(127, 0, 0, 1))
	if acfg.NodeIP != nil {
		jc.ServingIPs = append(jc.ServingIPs, acfg.NodeIP)
	}
	if err := join.IssueLocal(ca, jc); err != nil {
		return nil, err
	}
	return join.Join(ctx, jc)
}
