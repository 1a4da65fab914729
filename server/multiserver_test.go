package server_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"berth/internal/testserver"
	"berth/server"
	"berth/store/etcd"
)

// Two servers on one etcd serve the same objects, hand out ClusterIPs
// without collisions, and run one controller manager and one scheduler
// between them.
func TestTwoServersShareEtcd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s", l.Addr())
	l.Close()
	e, err := etcd.StartEmbeddedListening(context.Background(), t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close) // after the servers (cleanups run last-in first-out)
	shared := func(c *server.Config) { c.EtcdEndpoints = []string{url} }
	a := testserver.Start(t, shared)
	// The second server uses the first one's certificates, as servers of
	// one cluster share a CA.
	b := testserver.Start(t, shared, func(c *server.Config) { c.DataDir = a.Config.DataDir })
	ctx := context.Background()

	// Services created on both servers at once get distinct ClusterIPs.
	var mu sync.Mutex
	ips := map[string]string{}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
			got, err := s.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := ips[got.Spec.ClusterIP]; dup {
				t.Errorf("ClusterIP %s given to %s and %s", got.Spec.ClusterIP, other, got.Name)
			}
			ips[got.Spec.ClusterIP] = got.Name
		}()
	}
	wg.Wait()

	// What one server writes, the other reads at once (consistent reads).
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "berth/demo:v1"}}}},
		},
	}
	if _, err := a.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("the other server does not see the deployment: %v", err)
	}

	// One controller manager acts: exactly 3 pods, and each Lease has one
	// holder.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := b.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 3, nil
	}); err != nil {
		t.Fatal("the deployment's 3 pods were not created")
	}
	time.Sleep(2 * time.Second) // a second manager, if any, would have acted by now
	pods, err := a.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("%d pods, want 3 (err %v)", len(pods.Items), err)
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		lease, err := a.Client.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			t.Errorf("lease %s: %v %v", name, err, lease)
		}
	}
}
