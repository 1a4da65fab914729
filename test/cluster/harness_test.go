// Package cluster tests the whole control plane acting: the API server with
// its controllers and scheduler, and simulated nodes (berth sim) standing in
// for kubelets.
package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"berth/internal/testserver"
	"berth/server"
	"berth/sim"
)

// cluster is a control plane with simulated nodes.
type cluster struct {
	t      *testing.T
	server *testserver.Server
	sim    *sim.Sim
	client kubernetes.Interface
	ns     string
}

// start runs a control plane (controllers and scheduler included) with n
// simulated nodes, and a namespace for the test.
func start(t *testing.T, n int, opts ...func(*server.Config)) *cluster {
	t.Helper()
	s := testserver.Start(t, append([]func(*server.Config){func(c *server.Config) {
		c.NodeMonitorGracePeriod = 4 * time.Second
	}}, opts...)...)
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	sm, err := sim.New(sim.Config{
		Client: client, Nodes: n, HeartbeatInterval: time.Second,
		JobPodDuration: 300 * time.Millisecond, Logger: s.Config.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sm.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("sim: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	c := &cluster{t: t, server: s, sim: sm, client: s.Client, ns: "test"}
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("nodes ready", 30*time.Second, func() (bool, error) {
		nodes, err := c.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == n, nil
	})
	return c
}

// eventually polls cond until it holds, failing the test after timeout.
func (c *cluster) eventually(what string, timeout time.Duration, cond func() (bool, error)) {
	c.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok && err == nil, nil
	})
	if err != nil {
		c.t.Fatalf("%s: not within %v (last error: %v)", what, timeout, last)
	}
}

// pods lists the pods matching a selector in the test namespace.
func (c *cluster) pods(selector string) []corev1.Pod {
	c.t.Helper()
	list, err := c.client.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		c.t.Fatal(err)
	}
	return list.Items
}

// runningReady counts pods that are Running, Ready and not terminating.
func runningReady(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(&p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitRunning waits until exactly n pods matching selector run ready.
func (c *cluster) waitRunning(selector string, n int) []corev1.Pod {
	c.t.Helper()
	var pods []corev1.Pod
	c.eventually(fmt.Sprintf("%d running pods %s", n, selector), 30*time.Second, func() (bool, error) {
		pods = c.pods(selector)
		live := 0
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		return runningReady(pods) == n && live == n, nil
	})
	return pods
}

// kubectl runs kubectl 1.33 against the cluster.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	bin := "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
	if _, err := os.Stat(bin); err != nil {
		bin = "kubectl"
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", c.server.Kubeconfig, "--cache-dir", c.t.TempDir(), "-n", c.ns}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func selector(set map[string]string) string { return labels.SelectorFromSet(set).String() }

func podSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}
}
