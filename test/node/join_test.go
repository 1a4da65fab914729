package node

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJoin joins a second node to a running cluster the way a user does:
// `berth token create` on the control plane, `berth agent --server URL
// --token TOKEN` on the node. The node registers with a certificate of its
// own, runs a pod bound to it, and serves its logs and exec through the API
// server. A token with a wrong secret or a wrong CA hash is refused with a
// message saying so, and the agent exits.
func TestJoin(t *testing.T) {
	t.Parallel()
	c := startUp(t, serverOnly()) // a second node on this host could not have addresses of its own
	server := "https://" + c.proc.apiAddr
	token := strings.TrimSpace(c.berth(t, "token", "create", "--kubeconfig", c.kubeconfig))
	if !regexp.MustCompile(`^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(token) {
		t.Fatalf("berth token create printed %q, want K10<ca hash>::<id>.<secret>", token)
	}

	t.Run("Refused", func(t *testing.T) {
		id, secret, _ := strings.Cut(token[strings.Index(token, "::")+2:], ".")
		wrongSecret := token[:strings.Index(token, "::")+2] + id + "." + strings.Repeat("x", len(secret))
		out, err := c.joinOnce(wrongSecret, server)
		if err == nil || !strings.Contains(out, "the join token was refused") {
			t.Errorf("agent with a wrong token secret: %v\n%s", err, out)
		}
		wrongCA := "K10" + strings.Repeat("0", 64) + token[strings.Index(token, "::"):]
		out, err = c.joinOnce(wrongCA, server)
		if err == nil || !strings.Contains(out, "does not match the token") {
			t.Errorf("agent with a wrong CA hash: %v\n%s", err, out)
		}
	})

	// A node joins, with the cluster's node name, bridge and pod CIDR, and
	// its data below the cluster's: the leak checks at the end cover it.
	node, bridge, cidr := c.node, c.bridge, c.podCIDR
	dataDir := filepath.Join(c.dataDir, "j")
	out := &syncBuffer{}
	agent := exec.Command(c.bin, "agent", "--server", server, "--token", token,
		"--data-dir", dataDir, "--node-name", node, "--bridge", bridge, "--pod-cidr", cidr,
		"--address", ":0", "--stop-pods-on-exit", "--cluster-cidr", c.clusterCIDR(),
		"--ingress-http-port", "0", "--ingress-https-port", "0")
	agent.Stdout, agent.Stderr = out, out
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		agent.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			return err
		case <-time.After(stopTimeout):
			agent.Process.Kill()
			<-exited
			return fmt.Errorf("berth agent still running %v after SIGINT (killed)", stopTimeout)
		}
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop the joined agent: %v", err)
		}
		if t.Failed() {
			t.Logf("---- berth agent output ----\n%s", out.String())
		}
	})
	waitFor(t, upTimeout, "the joined agent ready", func() (bool, string) {
		select {
		case err := <-exited:
			t.Fatalf("berth agent exited: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "agent ready: node "+node), out.String()
	})
	waitFor(t, podTimeout, "node "+node+" Ready", func() (bool, string) {
		r := c.run(nil, "get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return r.code == 0 && r.stdout == "True", r.String()
	})
	// The node has its own identity: its CSRs were approved and issued.
	csrs := c.kubectl(t, "get", "csr", "-o", `jsonpath={range .items[*]}{.spec.username} {.spec.signerName} {.status.conditions[0].type}{"\n"}{end}`)
	for _, signer := range []string{"kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving"} {
		if !regexp.MustCompile(`(?m)^\S+ ` + regexp.QuoteMeta(signer) + ` Approved$`).MatchString(csrs) {
			t.Errorf("no approved %s CSR:\n%s", signer, csrs)
		}
	}
	if !strings.Contains(csrs, "system:node:"+node+" kubernetes.io/kubelet-serving") {
		t.Errorf("the serving CSR is not the node's own:\n%s", csrs)
	}

	// A pod bound to the new node runs there; logs and exec reach it.
	ns := c.namespace(t, "join")
	c.apply(t, ns, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  nodeName: %s
  containers:
  - name: main
    image: busybox
    args: [sh, -c, 'echo hello from $(hostname); sleep 3600']
`, node))
	p := c.waitRunning(t, ns, "hello")
	if !strings.HasPrefix(p.Status.PodIP, strings.TrimSuffix(cidr, "0/24")) {
		t.Errorf("pod IP %s is not from the joined node's pod CIDR %s", p.Status.PodIP, cidr)
	}
	waitFor(t, podTimeout, "logs of the pod on the joined node", func() (bool, string) {
		r := c.run(nil, "logs", "-n", ns, "hello")
		return strings.Contains(r.stdout, "hello from hello"), r.String()
	})
	if got := strings.TrimSpace(c.kubectl(t, "exec", "-n", ns, "hello", "--", "cat", "/etc/hostname")); got != "hello" {
		t.Errorf("exec on the joined node: %q", got)
	}

	// SIGINT with --stop-pods-on-exit: the agent stops the pod and exits 0.
	if err := stop(); err != nil {
		t.Errorf("berth agent after SIGINT: %v, want status 0", err)
	}
}

// joinOnce runs an agent that must fail to join; it returns its output and
// exit error.
func (c *cluster) joinOnce(token, server string) (string, error) {
	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	cmd := exec.Command(c.bin, "agent", "--server", server, "--token", token,
		"--data-dir", filepath.Join(c.dataDir, "r"+suffix), "--node-name", "br-"+suffix, "--bridge", "br"+suffix,
		"--address", ":0", "--cluster-cidr", c.clusterCIDR(), "--ingress-http-port", "0", "--ingress-https-port", "0")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
		return string(out), err
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		return string(out), fmt.Errorf("still running after a minute")
	}
}

// berth runs a berth command and returns its standard output.
func (c *cluster) berth(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
