package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func slice(name, ip string, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Terminating: ptr.To(!ready)}}},
	}
}

// drain waits while the pod is a ready endpoint, then the margin; a pod
// that is no endpoint at all goes at once.
func TestDrain(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	n := &clusterNet{slices: discoverylisters.NewEndpointSliceLister(indexer), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Status: corev1.PodStatus{PodIP: "10.42.0.5"}}

	start := time.Now()
	n.drain(context.Background(), pod)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("a pod that is no endpoint drained for %v, want at once", d)
	}

	indexer.Add(slice("web-1", "10.42.0.5", true))
	indexer.Add(slice("web-2", "10.42.0.6", true))
	withdrawn := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		indexer.Update(slice("web-1", "10.42.0.5", false))
		withdrawn <- time.Now()
	}()
	n.drain(context.Background(), pod)
	end := time.Now()
	if w := <-withdrawn; end.Sub(w) < drainMargin-50*time.Millisecond || end.Sub(w) > drainMargin+500*time.Millisecond {
		t.Errorf("drain ended %v after the endpoint was withdrawn, want about %v", end.Sub(w), drainMargin)
	}

	// Still a ready endpoint: the context bounds the wait.
	indexer.Update(slice("web-1", "10.42.0.5", true))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	n.drain(ctx, pod)
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Errorf("drain of a pod still served took %v, want the context's 200ms", d)
	}
}
