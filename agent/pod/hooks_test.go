package pod

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// execRuntime answers ExecSync with an exit code.
type execRuntime struct {
	runtimeapi.RuntimeServiceClient
	code int32
	cmds [][]string
}

func (r *execRuntime) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest, _ ...grpc.CallOption) (*runtimeapi.ExecSyncResponse, error) {
	r.cmds = append(r.cmds, req.Cmd)
	return &runtimeapi.ExecSyncResponse{ExitCode: r.code, Stdout: []byte("out"), Stderr: []byte("err")}, nil
}

func TestRunHook(t *testing.T) {
	rt := &execRuntime{}
	m := &Manager{cfg: Config{Runtime: rt}}
	pod := specPod(corev1.RestartPolicyAlways, "c")
	c := &pod.Spec.Containers[0]
	ctx := context.Background()
	exec := &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "x"}}}
	if msg, err := m.runHook(ctx, pod, c, "id", "", exec); err != nil || msg != "" || len(rt.cmds) != 1 {
		t.Errorf("exec: %q %v", msg, err)
	}
	rt.code = 3
	msg, err := m.runHook(ctx, pod, c, "id", "", exec)
	want := `Exec lifecycle hook ([sh -c x]) for Container "c" in Pod "p_ns(u)" failed - error: command 'sh -c x' exited with 3: err, message: "outerr"`
	if err == nil || msg != want {
		t.Errorf("exec failure: %q\nwant %q", msg, want)
	}

	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(http.StatusInternalServerError) // not a failure for hooks
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	c.Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: int32(n)}}
	get := &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/hook?x=1", Port: intstr.FromString("web"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Test", Value: "v"}},
	}}
	if msg, err := m.runHook(ctx, pod, c, "id", host, get); err != nil {
		t.Errorf("httpGet: %q %v", msg, err)
	}
	if got == nil || got.URL.Path != "/hook" || got.URL.RawQuery != "x=1" || got.Header.Get("X-Test") != "v" || !strings.HasPrefix(got.UserAgent(), "kube-lifecycle/") {
		t.Errorf("request %+v", got)
	}
	srv.Close()
	msg, err = m.runHook(ctx, pod, c, "id", host, get)
	if err == nil || !strings.HasPrefix(msg, `HTTP lifecycle hook (/hook?x=1) for Container "c" in Pod "p_ns(u)" failed - error: `) {
		t.Errorf("httpGet to nothing: %q %v", msg, err)
	}
	if _, err := resolvePort(intstr.FromString("nope"), c); err == nil {
		t.Error("unknown port name resolved")
	}

	start := time.Now()
	sleep := &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := m.runHook(cctx, pod, c, "id", "", sleep); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("sleep not cut by its context: %v after %v", err, time.Since(start))
	}
}
