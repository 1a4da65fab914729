package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxSocketPath is the longest path a unix socket may have.
const maxSocketPath = 107

// Containerd runs and supervises a containerd of the agent's own: started
// with a generated config, restarted if it dies, adopted (not restarted) if
// a previous agent left it running, stopped when the context ends.
type Containerd struct {
	cfg    Config
	logger *slog.Logger

	readyOnce sync.Once
	ready     chan struct{}
}

// New returns a supervisor for cfg.
func New(cfg Config, logger *slog.Logger) (*Containerd, error) {
	cfg.defaults()
	if cfg.Dir == "" {
		return nil, errors.New("containerd: Dir is required")
	}
	if len(cfg.socket())+len(".ttrpc") > maxSocketPath {
		return nil, fmt.Errorf("containerd: socket path %s is too long for a unix socket (max %d bytes): use a shorter data dir", cfg.socket(), maxSocketPath)
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Containerd{cfg: cfg, logger: logger, ready: make(chan struct{})}, nil
}

// Endpoint is the CRI endpoint, "unix:///.../containerd.sock".
func (c *Containerd) Endpoint() string { return "unix://" + c.cfg.socket() }

// HostsDir is where registry hosts.toml files go.
func (c *Containerd) HostsDir() string { return c.cfg.HostsDir() }

// Ready is closed once containerd first answers CRI calls.
func (c *Containerd) Ready() <-chan struct{} { return c.ready }

func (c *Containerd) pidFile() string { return filepath.Join(c.cfg.Dir, "containerd.pid") }

// Run keeps containerd running until ctx ends, then stops it (unless
// KeepRunning).
func (c *Containerd) Run(ctx context.Context) error {
	if err := c.cfg.writeConfig(); err != nil {
		return err
	}
	backoff := time.Second
	for ctx.Err() == nil {
		pid := c.adoptable()
		if pid > 0 {
			c.logger.Info("adopting running containerd", "pid", pid)
		} else {
			var err error
			if pid, err = c.start(); err != nil {
				return err
			}
		}
		if err := c.waitReady(ctx, pid); err != nil {
			c.logger.Error("containerd not ready", "err", err)
		} else {
			c.readyOnce.Do(func() { close(c.ready) })
			backoff = time.Second
		}
		if c.wait(ctx, pid) {
			if !c.cfg.KeepRunning {
				c.stop(pid)
			}
			return nil
		}
		c.logger.Warn("containerd exited; restarting", "pid", pid, "after", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// start starts containerd in its own session (so that a Ctrl-C meant for
// the agent does not reach it: the agent stops it in order).
func (c *Containerd) start() (int, error) {
	logFile, err := os.OpenFile(filepath.Join(c.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(c.cfg.Binary, "--config", c.cfg.configFile())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start containerd: %w", err)
	}
	// Reap it when it exits; its pid is watched through /proc.
	go cmd.Wait()
	pid := cmd.Process.Pid
	if err := os.WriteFile(c.pidFile(), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return 0, err
	}
	c.logger.Info("started containerd", "pid", pid, "config", c.cfg.configFile())
	return pid, nil
}

// adoptable returns the pid of a containerd started with this config that
// is still alive, or 0.
func (c *Containerd) adoptable() int {
	data, err := os.ReadFile(c.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !alive(pid) {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), c.cfg.configFile()) {
		return 0
	}
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited.
	if i := strings.LastIndexByte(string(data), ')'); i > 0 && i+2 < len(data) && data[i+2] == 'Z' {
		return false
	}
	return true
}

// waitReady waits until containerd answers a CRI Version call.
func (c *Containerd) waitReady(ctx context.Context, pid int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return fmt.Errorf("containerd %d exited; see %s", pid, filepath.Join(c.cfg.Dir, "containerd.log"))
		}
		if err := c.ping(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("containerd did not answer within 30s")
}

func (c *Containerd) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := grpc.NewClient(c.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

// wait returns true when ctx ends, false when containerd exits first.
func (c *Containerd) wait(ctx context.Context, pid int) bool {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
			if !alive(pid) {
				return false
			}
		}
	}
}

// stop asks containerd to stop, killing it after 10 seconds.
func (c *Containerd) stop(pid int) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	_ = p.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			os.Remove(c.pidFile())
			c.logger.Info("containerd stopped", "pid", pid)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.Signal(syscall.SIGKILL)
	os.Remove(c.pidFile())
	c.logger.Warn("containerd killed after 10s", "pid", pid)
}
