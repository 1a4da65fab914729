package nodeproxy_test

import (
	"os"
	"testing"
	"time"

	"berth/agent/server/servertest"
)

// Streams outlive the API server's 60s request timeout, as Kubernetes'
// long-running requests do. It takes 75s: set BERTH_LONG_TESTS=1.
func TestStreamsOutliveRequestTimeout(t *testing.T) {
	if os.Getenv("BERTH_LONG_TESTS") == "" {
		t.Skip("takes 75s; set BERTH_LONG_TESTS=1")
	}
	c := startCluster(t)
	box := c.createPod(t, "box", "node1", []string{"main"}, running("main"))
	servertest.RunPod(t, c.node.Runtime, c.node.Images, c.logs, servertest.Sandbox{Namespace: "default", Name: "box", UID: string(box.UID)}).
		Start(t, servertest.Container{Name: "main", Args: []string{"sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 5; done"}})
	start := time.Now()
	logs := c.start(t, "1.33", "logs", "-f", "box")
	exec := c.start(t, "1.33", "exec", "box", "--", "sh", "-c", "sleep 70; echo done")
	execIn := c.start(t, "1.27", "exec", "-i", "box", "--", "sh", "-c", "sleep 70; cat")
	execIn.stdin.Write([]byte("still here\n"))
	execIn.stdin.Close()
	for time.Since(start) < 72*time.Second {
		logs.expect(t, "tick ")
	}
	exec.expect(t, "done")
	execIn.expect(t, "still here")
}
