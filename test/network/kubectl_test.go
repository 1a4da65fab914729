package network

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/internal/testhosts"
)

// cmdResult is the outcome of a command.
type cmdResult struct {
	args           []string
	stdout, stderr string
	code           int // exit status; -1 if it could not run or timed out
	err            error
}

func (r cmdResult) String() string {
	return fmt.Sprintf("%s: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.err, r.stdout, r.stderr)
}

// runCmd runs cmd with stdin (may be nil), killing it after timeout.
func runCmd(cmd *exec.Cmd, stdin io.Reader, timeout time.Duration) cmdResult {
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	r := cmdResult{args: cmd.Args}
	if err := cmd.Start(); err != nil {
		r.code, r.err = -1, err
		return r
	}
	timedOut := false
	var mu sync.Mutex
	timer := time.AfterFunc(timeout, func() {
		mu.Lock()
		timedOut = true
		mu.Unlock()
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	timer.Stop()
	r.stdout, r.stderr, r.err = stdout.String(), stderr.String(), err
	var exit *exec.ExitError
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err == nil:
	case timedOut:
		r.code, r.err = -1, fmt.Errorf("timed out after %v: %w", timeout, err)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		r.code = -1
	}
	return r
}

// run runs a program in a host and returns its stdout, failing the test
// unless it succeeds.
func (c *cluster) run(t *testing.T, h *testhosts.Host, name string, args ...string) string {
	t.Helper()
	r := runCmd(h.Exec(name, args...), nil, kubectlTimeout)
	if r.code != 0 {
		t.Fatalf("on %s: %s", h.Name, r)
	}
	return r.stdout
}

// kubectlCmd is kubectl inside host 0 with the admin kubeconfig and a
// HOME of its own.
func (c *cluster) kubectlCmd(args ...string) *exec.Cmd {
	cmd := c.hosts[0].Exec(kubectlBinary(), args...)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "HOME" || strings.HasPrefix(name, "KUBECTL_") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "KUBECONFIG="+c.kubeconfig, "HOME="+c.kubeHome)
	return cmd
}

// kubectlRun runs kubectl with stdin (may be nil).
func (c *cluster) kubectlRun(stdin io.Reader, args ...string) cmdResult {
	return runCmd(c.kubectlCmd(args...), stdin, kubectlTimeout)
}

// kubectl runs kubectl, fails the test unless it succeeds, and returns
// its stdout.
func (c *cluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := c.kubectlRun(nil, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r.stdout
}

// apply applies YAML manifests to a namespace.
func (c *cluster) apply(t *testing.T, ns, manifest string) {
	t.Helper()
	if r := c.kubectlRun(strings.NewReader(manifest), "apply", "-n", ns, "-f", "-"); r.code != 0 {
		t.Fatalf("%s\nmanifest:\n%s", r, manifest)
	}
}

// exec runs a command in a pod's container (kubectl exec) and returns
// its stdout, failing the test unless it exits 0.
func (c *cluster) exec(t *testing.T, ns, pod string, cmd ...string) string {
	t.Helper()
	r := c.kubectlRun(nil, append([]string{"exec", "-n", ns, pod, "--"}, cmd...)...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r.stdout
}

// namespace creates a namespace and waits for its default service
// account.
func (c *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	c.kubectl(t, "create", "namespace", name)
	waitFor(t, 60*time.Second, "service account default in namespace "+name, func() (bool, string) {
		_, err := c.client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return name
}

// background is a long-running kubectl whose stdout is read line by line.
type background struct {
	args   []string
	lines  chan string
	stderr *syncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // valid once done is closed
}

// startKubectl starts kubectl in the background; it is killed after
// timeout or at the end of the test.
func (c *cluster) startKubectl(t *testing.T, timeout time.Duration, args ...string) *background {
	t.Helper()
	b := &background{args: args, lines: make(chan string, 1000), stderr: &syncBuffer{}, done: make(chan struct{})}
	b.cmd = c.kubectlCmd(args...)
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = 5 * time.Second
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start kubectl %s: %v", strings.Join(args, " "), err)
	}
	timer := time.AfterFunc(timeout, func() { b.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case b.lines <- sc.Text():
			default:
			}
		}
		close(b.lines)
		b.err = b.cmd.Wait()
		timer.Stop()
		close(b.done)
	}()
	t.Cleanup(b.stop)
	return b
}

// next waits up to timeout for the next line of output.
func (b *background) next(timeout time.Duration) (string, error) {
	select {
	case line, ok := <-b.lines:
		if !ok {
			<-b.done
			return "", fmt.Errorf("kubectl %s ended (%v); stderr:\n%s", strings.Join(b.args, " "), b.err, b.stderr)
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("kubectl %s printed nothing within %v; stderr:\n%s", strings.Join(b.args, " "), timeout, b.stderr)
	}
}

func (b *background) stop() {
	b.cmd.Process.Kill()
	go func() {
		for range b.lines {
		}
	}()
	<-b.done
}
