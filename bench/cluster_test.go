package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"berth/sim"
)

// simCluster runs `berth server` (controllers and scheduler included) and
// n simulated nodes in this process.
func simCluster(b *testing.B, n int) (*rest.Config, *exec.Cmd, context.CancelFunc) {
	cfg, srv := serverOnly(b)
	return cfg, srv, startSim(b, cfg, n)
}

// serverOnly runs `berth server` with its controllers and scheduler.
func serverOnly(b *testing.B) (*rest.Config, *exec.Cmd) {
	bin := buildBerth(b)
	dir := b.TempDir()
	srv, _ := startServer(b, bin, dir)
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg, srv
}

// startSim registers n simulated nodes and waits for them.
func startSim(b *testing.B, cfg *rest.Config, n int) context.CancelFunc {
	s, err := sim.New(sim.Config{Client: kubernetes.NewForConfigOrDie(cfg), Nodes: n, CPU: resource.MustParse("32"), Memory: resource.MustParse("128Gi")})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	client := kubernetes.NewForConfigOrDie(cfg)
	start := time.Now()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		return err == nil && len(nodes.Items) == n, nil
	}); err != nil {
		b.Fatalf("%d nodes not registered", n)
	}
	fmt.Printf("%d simulated nodes registered in %v\n", n, time.Since(start).Round(time.Millisecond))
	return cancel
}

// BenchmarkScheduling creates 10,000 pods directly (16 clients) on 1,000
// simulated nodes and measures the time until every one is bound, end to
// end: creation, scheduling and binding through the API server, with the
// simulated kubelets reporting the pods Running meanwhile.
func BenchmarkScheduling(b *testing.B) {
	const nodes, pods = 1000, 10000
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	cfg, srv, stopSim := simCluster(b, nodes)
	defer stopBoth(b, srv, stopSim)
	benchBinding(b, cfg, pods, nil)
}

// BenchmarkSchedulingBacklog measures the scheduler's own throughput as
// upstream's scheduler_perf gate does: 10,000 pods exist (pending: no
// node yet), then 1,000 simulated nodes start registering; the clock runs
// from then to the last binding (node registration included).
func BenchmarkSchedulingBacklog(b *testing.B) {
	const nodes, pods = 1000, 10000
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	cfg, srv := serverOnly(b)
	var stopSim context.CancelFunc
	defer func() { stopBoth(b, srv, stopSim) }()
	benchBinding(b, cfg, pods, func() time.Time {
		from := time.Now()
		stopSim = startSim(b, cfg, nodes)
		return from
	})
}

// benchBinding creates pods and reports when they are all bound. If
// afterCreate is set, it runs once every pod exists and returns the time
// the clock starts from.
func benchBinding(b *testing.B, cfg *rest.Config, pods int, afterCreate func() time.Time) {
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	// Count bindings as the API server reports them.
	var bound, running atomic.Int64
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	seen := map[string]bool{}
	ready := map[string]bool{}
	track := func(obj interface{}) {
		p := obj.(*corev1.Pod)
		if p.Spec.NodeName != "" && !seen[p.Name] {
			seen[p.Name] = true
			bound.Add(1)
		}
		if p.Status.Phase == corev1.PodRunning && !ready[p.Name] {
			ready[p.Name] = true
			running.Add(1)
		}
	}
	f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: track, UpdateFunc: func(_, o interface{}) { track(o) }})
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	f.WaitForCacheSync(stop)

	cs := newClients(b, cfg)
	stopProfile := profileServer(b, cfg, "scheduling")
	defer stopProfile()
	start := time.Now()
	var allBound, allRunning time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			time.Sleep(10 * time.Millisecond)
			if allBound == 0 && bound.Load() == int64(pods) {
				allBound = time.Since(start)
			}
			if running.Load() == int64(pods) {
				allRunning = time.Since(start)
				return
			}
			if time.Since(start) > 10*time.Minute {
				return
			}
		}
	}()
	_, created, err := runClients(cs, pods, func(c kubernetes.Interface, i int) error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "berth/demo:v1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			}}},
		}
		_, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("%d pods created by 16 clients in %v (%.0f/s)\n", pods, created.Round(time.Millisecond), float64(pods)/created.Seconds())
	from := start
	if afterCreate != nil {
		from = afterCreate()
	}
	<-done
	if allBound == 0 {
		b.Fatalf("only %d of %d pods bound", bound.Load(), pods)
	}
	took := start.Add(allBound).Sub(from)
	fmt.Printf("all %d pods bound %v after the clock started: %.0f pods/s\n", pods, took.Round(time.Millisecond), float64(pods)/took.Seconds())
	if allRunning > 0 {
		fmt.Printf("all %d pods Running (simulated kubelets) after %v\n", pods, start.Add(allRunning).Sub(from).Round(time.Millisecond))
	}
	b.ReportMetric(float64(pods)/took.Seconds(), "pods/s")
}

// BenchmarkRollingUpdate measures the wall time of a rolling update of a
// 100-replica Deployment (default 25% surge and unavailability) on 50
// simulated nodes.
func BenchmarkRollingUpdate(b *testing.B) {
	cfg, srv, stopSim := simCluster(b, 50)
	defer stopBoth(b, srv, stopSim)
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	l := map[string]string{"app": "roll"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "roll"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](100),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "berth/demo:v1"}}}},
		},
	}
	start := time.Now()
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	complete := func(image string) {
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			got, err := client.AppsV1().Deployments("default").Get(ctx, "roll", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := got.Status
			return got.Generation == st.ObservedGeneration && st.UpdatedReplicas == 100 && st.Replicas == 100 &&
				st.AvailableReplicas == 100 && got.Spec.Template.Spec.Containers[0].Image == image, nil
		}); err != nil {
			b.Fatalf("rollout to %s did not complete", image)
		}
	}
	complete("berth/demo:v1")
	fmt.Printf("100-replica deployment available after %v\n", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"berth/demo:v2"}]}}}}`)
	if _, err := client.AppsV1().Deployments("default").Patch(ctx, "roll", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	complete("berth/demo:v2")
	wall := time.Since(start)
	fmt.Printf("100-replica rolling update (25%% surge, 25%% unavailable) completed in %v\n", wall.Round(time.Millisecond))
	b.ReportMetric(wall.Seconds(), "rollout-s")
}

func stopBoth(b *testing.B, srv *exec.Cmd, stopSim context.CancelFunc) {
	stopSim()
	stopServer(b, srv)
}
