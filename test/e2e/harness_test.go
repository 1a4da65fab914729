package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"berth/internal/testbin"
)

// The harness: build the berth binary once, run `berth server` as a child
// process on a free loopback port, and run a real kubectl against it.

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// berthBinary is the berth binary built from the current source, once per
// test process.
func berthBinary(t *testing.T) string { return testbin.Berth(t, false) }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// berthServer is a `berth server` child process.
type berthServer struct {
	bin     string
	dataDir string
	port    int
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	waitErr error // valid once exited is closed
}

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// startServer runs `berth server` on dataDir and waits for /readyz; owner
// (t or a parent of t) kills it at its end if it still runs. When the port
// turns out to be taken (another process grabbed it after freePort), it
// retries on another one.
func startServer(t, owner *testing.T, bin, dataDir string, port int) *berthServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s := &berthServer{bin: bin, dataDir: dataDir, port: port, out: &syncBuffer{}, exited: make(chan struct{})}
		err := s.start()
		if err == nil {
			owner.Cleanup(s.kill)
			return s
		}
		s.kill()
		if attempt < 3 && strings.Contains(s.out.String(), "address already in use") {
			port = freePort(t)
			continue
		}
		t.Fatalf("start berth server: %v\nserver output:\n%s", err, s.out)
	}
}

func (s *berthServer) start() error {
	s.cmd = exec.Command(s.bin, "server",
		"--data-dir", s.dataDir,
		"--port", strconv.Itoa(s.port),
		"--bind-address", "127.0.0.1",
		// This test is about the API with kubectl: no controller or
		// scheduler changes what it created.
		"--disable-controllers", "--disable-scheduler")
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		close(s.exited)
		return err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s.waitReady()
}

// waitReady polls https://127.0.0.1:PORT/readyz, trusting only the CA the
// server wrote to DATA_DIR/tls/ca.crt.
func (s *berthServer) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", s.port)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was ready: %v", s.waitErr)
		default:
		}
		last = s.probe(url)
		if last == nil {
			if _, err := os.Stat(s.kubeconfig()); err != nil {
				return fmt.Errorf("ready, but no admin kubeconfig: %w", err)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", readyTimeout, last)
}

func (s *berthServer) probe(url string) error {
	caPEM, err := os.ReadFile(filepath.Join(s.dataDir, "tls", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no certificate in ca.crt")
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s: %s", resp.Status, body)
	}
	return nil
}

func (s *berthServer) kubeconfig() string { return filepath.Join(s.dataDir, "admin.kubeconfig") }

// stop sends SIGTERM and asserts a clean exit (status 0) within stopTimeout.
func (s *berthServer) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		t.Errorf("berth server had already exited: %v\nserver output:\n%s", s.waitErr, s.out)
		return
	default:
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
		if s.waitErr != nil {
			t.Errorf("berth server exited with %v after SIGTERM, want status 0\nserver output:\n%s", s.waitErr, s.out)
		} else {
			t.Logf("berth server stopped cleanly in %v", time.Since(start).Round(time.Millisecond))
		}
	case <-time.After(stopTimeout):
		t.Errorf("berth server still running %v after SIGTERM\nserver output:\n%s", stopTimeout, s.out)
		s.kill()
	}
}

// kill ends the process if it still runs (cleanup after a failure).
func (s *berthServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// kubectl runs one kubectl binary against one server, with its own
// discovery cache and HOME so that nothing is shared with other tests or
// the user's ~/.kube.
type kubectl struct {
	bin        string
	kubeconfig string
	cacheDir   string
	home       string
	workDir    string // files written by the test (manifests, editor script)
}

type result struct {
	stdout, stderr string
	code           int // exit status; -1 if kubectl could not be run or timed out
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
}

const kubectlTimeout = 45 * time.Second

func (k *kubectl) env(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "HOME" || name == "EDITOR" || name == "KUBE_EDITOR" || strings.HasPrefix(name, "KUBECTL_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+k.home)
	return append(env, extra...)
}

func (k *kubectl) command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)
	cmd := exec.CommandContext(ctx, k.bin, full...)
	cmd.Env = k.env(env)
	cmd.Dir = k.workDir
	return cmd
}

// runEnv runs kubectl with extra environment variables and waits for it.
func (k *kubectl) runEnv(env []string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := k.command(ctx, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), err: err}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.code = -1
		r.err = fmt.Errorf("timed out after %v: %w", kubectlTimeout, err)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		r.code = -1
	}
	return r
}

func (k *kubectl) run(args ...string) result { return k.runEnv(nil, args...) }

// ok runs kubectl, expects success and nothing on stderr (kubectl prints
// warnings there; real Kubernetes gives none for these commands), and
// returns stdout.
func (k *kubectl) ok(t *testing.T, args ...string) string {
	t.Helper()
	return k.okEnv(t, nil, args...)
}

func (k *kubectl) okEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := k.runEnv(env, args...)
	if r.code != 0 {
		t.Errorf("kubectl %s: want success, got %s", strings.Join(args, " "), r)
	} else if r.stderr != "" {
		t.Errorf("kubectl %s: unexpected stderr:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r.stdout
}

// want runs kubectl, expects success and exactly the given lines on stdout.
func (k *kubectl) want(t *testing.T, lines []string, args ...string) {
	t.Helper()
	got := k.ok(t, args...)
	if want := strings.Join(lines, "\n") + "\n"; got != want {
		t.Errorf("kubectl %s:\n got: %q\nwant: %q", strings.Join(args, " "), got, want)
	}
}

// fails runs kubectl and expects it to fail.
func (k *kubectl) fails(t *testing.T, args ...string) result {
	t.Helper()
	r := k.run(args...)
	if r.code <= 0 {
		t.Errorf("kubectl %s: want failure, got %s", strings.Join(args, " "), r)
	}
	return r
}

// jsonpath returns `kubectl get ARGS -o jsonpath=PATH`.
func (k *kubectl) jsonpath(t *testing.T, path string, args ...string) string {
	t.Helper()
	return k.ok(t, append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
}

// checkJSONPath asserts the value of a jsonpath expression.
func (k *kubectl) checkJSONPath(t *testing.T, want, path string, args ...string) {
	t.Helper()
	if got := k.jsonpath(t, path, args...); got != want {
		t.Errorf("kubectl get %s -o jsonpath=%s = %q, want %q", strings.Join(args, " "), path, got, want)
	}
}

// background is a kubectl left running (get -w, wait), whose stdout is read
// line by line.
type background struct {
	args   []string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error // valid once done is closed
}

func (k *kubectl) start(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	b := &background{args: args, cancel: cancel, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan struct{})}
	b.cmd = k.command(ctx, nil, args...)
	b.cmd.Stderr = b.stderr
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start kubectl %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.stop)
	return b
}

// expectLine waits up to timeout for the next line of output and asserts it.
func (b *background) expectLine(t *testing.T, want string, timeout time.Duration) bool {
	t.Helper()
	select {
	case line, ok := <-b.lines:
		if !ok {
			<-b.done
			t.Errorf("kubectl %s ended (%v) before printing %q; stderr:\n%s", strings.Join(b.args, " "), b.err, want, b.stderr)
			return false
		}
		if line != want {
			t.Errorf("kubectl %s printed %q, want %q", strings.Join(b.args, " "), line, want)
			return false
		}
		return true
	case <-time.After(timeout):
		t.Errorf("kubectl %s printed nothing within %v, want %q; stderr:\n%s", strings.Join(b.args, " "), timeout, want, b.stderr)
		return false
	}
}

// wait waits up to timeout for the process to end by itself; done tells
// whether it did, err is then its result.
func (b *background) wait(timeout time.Duration) (done bool, err error) {
	go func() {
		for range b.lines {
		}
	}()
	select {
	case <-b.done:
		return true, b.err
	case <-time.After(timeout):
		return false, nil
	}
}

func (b *background) stop() {
	b.cancel()
	go func() {
		for range b.lines {
		}
	}()
	<-b.done
}
