package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// BenchmarkServiceDataPath measures the node's data path on a real `berth
// up` with one berth/demo pod: throughput and request rates straight to
// the pod's IP against through its Service's ClusterIP (nftables DNAT),
// and request latency through the built-in ingress against straight to
// the pod. Targets: ClusterIP/pod throughput ratio ≥ 0.9, ingress added
// p99 ≤ 1 ms.
func BenchmarkServiceDataPath(b *testing.B) {
	bin := buildBerth(b)
	dir := shortDir(b)
	httpPort := freePort(b)
	args := append(upArgs(dir)[:len(upArgs(dir))-len(noIngress)], "--ingress-http-port", strconv.Itoa(httpPort), "--ingress-https-port", "0")
	n, _ := startNode(b, bin, args, "berth is up")
	defer n.stop(b)
	c := kubernetes.NewForConfigOrDie(adminConfig(b, dir))
	nodeReady(b, c, n.name)
	podIP, clusterIP, nodeIP := demoBehindService(b, c)
	direct := "http://" + net.JoinHostPort(podIP, "8080")
	viaService := "http://" + clusterIP
	viaIngress := "http://" + net.JoinHostPort(nodeIP, strconv.Itoa(httpPort))

	// Bulk transfer: 256 MiB per request, pod IP and ClusterIP in turns
	// (the machine's load changes slowly: pairs compare like with like),
	// 7 pairs; the medians of the rates and of the pairs' ratios.
	const size = 256 << 20
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	transfer := func(base string) float64 {
		start := time.Now()
		resp, err := client.Get(base + "/bytes?n=" + strconv.Itoa(size))
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || got != size {
			b.Fatalf("bulk from %s: %d bytes, %v", base, got, err)
		}
		return float64(size) / (1 << 20) / time.Since(start).Seconds()
	}
	var podRates, svcRates, ratios []float64
	for range 7 {
		p, s := transfer(direct), transfer(viaService)
		podRates, svcRates, ratios = append(podRates, p), append(svcRates, s), append(ratios, s/p)
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	// Request rate: 4 clients for 3 s, with keep-alive or a new
	// connection per request.
	rate := func(base string, keepAlive bool) float64 {
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 8}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		defer tr.CloseIdleConnections()
		var done, failed atomic.Int64
		deadline := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					resp, err := client.Get(base + "/")
					if err != nil {
						failed.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Errorf("%d requests to %s failed", failed.Load(), base)
		}
		return float64(done.Load()) / 3
	}

	hostRatio := median(ratios)
	fmt.Printf("bulk, host → pod (256 MiB, 7 pairs)   pod IP %7.0f MiB/s  ClusterIP %7.0f MiB/s  ratio %.2f (median of pairs, min %.2f)\n",
		median(podRates), median(svcRates), hostRatio, ratios[0])
	// The same from a pod (busybox wget), the path of in-cluster
	// traffic: 1 GiB per transfer, 5 pairs.
	inPod := func(url string) float64 {
		out, err := exec.Command("kubectl", "--kubeconfig", filepath.Join(dir, "admin.kubeconfig"), "exec", "client", "--",
			"sh", "-c", "time wget -q -O /dev/null "+url).CombinedOutput()
		m := realTime.FindStringSubmatch(string(out))
		if err != nil || m == nil {
			b.Fatalf("wget %s in the client pod: %v\n%s", url, err, out)
		}
		mins, _ := strconv.ParseFloat(m[1], 64)
		secs, _ := strconv.ParseFloat(m[2], 64)
		return 1024 / (mins*60 + secs)
	}
	runClientPod(b, c)
	podRates, svcRates, ratios = nil, nil, nil
	for range 5 {
		p, s := inPod(direct+"/bytes?n=1073741824"), inPod("http://demo.default.svc.cluster.local/bytes?n=1073741824")
		podRates, svcRates, ratios = append(podRates, p), append(svcRates, s), append(ratios, s/p)
	}
	bulkRatio := median(ratios)
	fmt.Printf("bulk, pod → pod (1 GiB, 5 pairs)      pod IP %7.0f MiB/s  ClusterIP %7.0f MiB/s  ratio %.2f (median of pairs, min %.2f; target ≥ 0.9)\n",
		median(podRates), median(svcRates), bulkRatio, ratios[0])
	kaPod, kaSvc := rate(direct, true), rate(viaService, true)
	fmt.Printf("requests, keep-alive (4 clients)      pod IP %7.0f /s     ClusterIP %7.0f /s     ratio %.2f\n", kaPod, kaSvc, kaSvc/kaPod)
	ncPod, ncSvc := rate(direct, false), rate(viaService, false)
	fmt.Printf("requests, new connection each         pod IP %7.0f /s     ClusterIP %7.0f /s     ratio %.2f\n", ncPod, ncSvc, ncSvc/ncPod)
	b.ReportMetric(bulkRatio, "clusterip-bulk-ratio")
	b.ReportMetric(kaSvc/kaPod, "clusterip-rps-ratio")
	b.ReportMetric(ncSvc/ncPod, "clusterip-newconn-ratio")

	// Latency: 2,000 sequential keep-alive GETs each way.
	latency := func(base, host string) *latencies {
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		l := &latencies{}
		for i := range 2100 {
			req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
			req.Host = host
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s (Host %s): %s", base, host, resp.Status)
			}
			if i >= 100 { // warm-up
				l.add(time.Since(start))
			}
		}
		return l
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		req, _ := http.NewRequest(http.MethodGet, viaIngress+"/", nil)
		req.Host = "bench.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		b.Fatalf("the ingress at %s does not route bench.example.com", viaIngress)
	}
	lp, li := latency(direct, ""), latency(viaIngress, "bench.example.com")
	fmt.Printf("GET latency, keep-alive               pod IP p50 %.3f ms p99 %.3f ms  ingress p50 %.3f ms p99 %.3f ms  added p99 %.3f ms (target ≤ 1 ms)\n",
		ms(lp.quantile(0.5)), ms(lp.quantile(0.99)), ms(li.quantile(0.5)), ms(li.quantile(0.99)), ms(li.quantile(0.99)-lp.quantile(0.99)))
	b.ReportMetric(ms(li.quantile(0.99)-lp.quantile(0.99)), "ingress-added-p99-ms")
}

// realTime is busybox time's "real" line.
var realTime = regexp.MustCompile(`real\s+(\d+)m\s*([0-9.]+)s`)

// runClientPod runs the busybox pod "client" and waits until it runs.
func runClientPod(b *testing.B, c kubernetes.Interface) {
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "client", Image: "busybox", Args: []string{"sleep", "3600"}}},
			TerminationGracePeriodSeconds: ptr.To[int64](1)},
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, "client", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	}); err != nil {
		b.Fatal("the client pod does not run")
	}
}

// demoBehindService runs one berth/demo pod behind the Service "demo" and
// the Ingress "demo" (host bench.example.com) and returns the pod's IP,
// the ClusterIP and the node's address once all of them answer.
func demoBehindService(b *testing.B, c kubernetes.Interface) (podIP, clusterIP, nodeIP string) {
	ctx := context.Background()
	labels := map[string]string{"app": "demo"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "demo", Image: "berth/demo:v1",
					Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "demo"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "bench.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "demo", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}}}}},
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		b.Fatal("no default service account")
	}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	created, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	clusterIP = created.Spec.ClusterIP
	if _, err := c.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	answers := func(url, host string) bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.PodIP == "" {
			return false, nil
		}
		podIP, nodeIP = pods.Items[0].Status.PodIP, pods.Items[0].Status.HostIP
		ing, err := c.NetworkingV1().Ingresses("default").Get(ctx, "demo", metav1.GetOptions{})
		if err != nil || len(ing.Status.LoadBalancer.Ingress) == 0 {
			return false, nil
		}
		return answers("http://"+net.JoinHostPort(podIP, "8080")+"/", "") && answers("http://"+clusterIP+"/", ""), nil
	})
	if err != nil {
		b.Fatalf("the demo pod does not answer on its pod IP %q and ClusterIP %s", podIP, clusterIP)
	}
	return podIP, clusterIP, nodeIP
}
