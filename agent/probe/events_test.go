package probe_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"berth/agent/probe"
	"berth/controller"
	"berth/internal/testserver"
)

// Probe failures are Unhealthy events that the API server stores, on the
// pod and container that failed.
func TestEventsReachTheAPIServer(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.Bare)
	client := kubernetes.NewForConfigOrDie(s.ProtobufConfig())
	recorders, stopEvents := controller.NewRecorderFactory(client)
	t.Cleanup(stopEvents)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())

	ctx := context.Background()
	pod, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "busybox",
			LivenessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))}},
				PeriodSeconds: 1, FailureThreshold: 1,
			},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := probe.NewManager(probe.Config{Recorder: recorders("kubelet"), Logger: slog.New(slog.DiscardHandler)})
	m.Start(pod, u.Hostname(), "app", "containerd://c1", time.Now())
	t.Cleanup(func() { m.StopPod(pod.UID) })
	select {
	case r := <-m.Results():
		if r.Success || r.Kind != probe.Liveness {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no liveness result")
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Reason != "Unhealthy" {
				continue
			}
			o := e.InvolvedObject
			if e.Type != corev1.EventTypeWarning || e.Message != "Liveness probe failed: HTTP probe failed with statuscode: 500" ||
				o.Kind != "Pod" || o.Name != "web" || o.UID != pod.UID || o.FieldPath != "spec.containers{app}" || e.Source.Component != "kubelet" {
				t.Fatalf("event %+v", e)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Unhealthy event among %d events", len(list.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
