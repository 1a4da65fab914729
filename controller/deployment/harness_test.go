package deployment_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"berth/controller"
	"berth/controller/deployment"
	"berth/controller/replicaset"
	"berth/internal/testserver"
)

// kubectlPath is kubectl 1.33, the client the rollout commands must satisfy.
const kubectlPath = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"

// waitTimeout bounds every wait of a test.
const waitTimeout = 45 * time.Second

// env is a control plane with the Deployment and ReplicaSet controllers,
// shared by the subtests of one test, each in its own namespace.
type env struct {
	s      *testserver.Server
	client kubernetes.Interface
	nsSeq  atomic.Int64
}

func startEnv(t *testing.T) *env {
	t.Helper()
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, deployment.New, replicaset.New)
	cfg := rest.CopyConfig(s.Rest)
	cfg.ContentType = "application/json"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{s: s, client: client}
}

// ns is one subtest's namespace, with a fake kubelet for its pods.
type ns struct {
	t      *testing.T
	env    *env
	name   string
	client kubernetes.Interface
	ctx    context.Context
}

func (e *env) namespace(t *testing.T) *ns {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
	t.Cleanup(cancel)
	name := fmt.Sprintf("d%d", e.nsSeq.Add(1))
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &ns{t: t, env: e, name: name, client: e.client, ctx: ctx}
}

// kubelet stands in for the nodes: it makes pods Running and Ready (those
// ready accepts, at most perTick every tick) and finishes the graceful
// deletion of pods bound to a node.
type kubelet struct {
	ready   func(*corev1.Pod) bool
	perTick int
	tick    time.Duration
	// hold is how long a terminating pod stays before it is removed.
	hold time.Duration
}

func (n *ns) runKubelet(k kubelet) {
	if k.tick == 0 {
		k.tick = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(n.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	n.t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		terminating := map[string]time.Time{}
		for ctx.Err() == nil {
			n.kubeletPass(ctx, k, terminating)
			select {
			case <-ctx.Done():
			case <-time.After(k.tick):
			}
		}
	}()
}

func (n *ns) kubeletPass(ctx context.Context, k kubelet, terminating map[string]time.Time) {
	pods, err := n.client.CoreV1().Pods(n.name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	made := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			seen, ok := terminating[p.Name]
			if !ok {
				terminating[p.Name] = time.Now()
				seen = time.Now()
			}
			if time.Since(seen) >= k.hold {
				_ = n.client.CoreV1().Pods(n.name).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}
			continue
		}
		if podReady(p) || (k.ready != nil && !k.ready(p)) || (k.perTick > 0 && made >= k.perTick) {
			continue
		}
		if markReady(ctx, n.client, p) == nil {
			made++
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func markReady(ctx context.Context, c kubernetes.Interface, p *corev1.Pod) error {
	p = p.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	_, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// newDeployment is a Deployment "web" of app=name with one container.
func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	d.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u},
	}
	return d
}

func (n *ns) create(d *appsv1.Deployment) *appsv1.Deployment {
	n.t.Helper()
	out, err := n.client.AppsV1().Deployments(n.name).Create(n.ctx, d, metav1.CreateOptions{})
	if err != nil {
		n.t.Fatalf("create deployment: %v", err)
	}
	return out
}

func (n *ns) get(name string) *appsv1.Deployment {
	n.t.Helper()
	d, err := n.client.AppsV1().Deployments(n.name).Get(n.ctx, name, metav1.GetOptions{})
	if err != nil {
		n.t.Fatalf("get deployment: %v", err)
	}
	return d
}

// update applies change to the stored Deployment, retrying conflicts.
func (n *ns) update(name string, change func(*appsv1.Deployment)) {
	n.t.Helper()
	for {
		d := n.get(name)
		change(d)
		_, err := n.client.AppsV1().Deployments(n.name).Update(n.ctx, d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			n.t.Fatalf("update deployment: %v", err)
		}
	}
}

// eventually polls cond until it holds, failing with the last reason.
func (n *ns) eventually(what string, cond func() (bool, string)) {
	n.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	why := ""
	for time.Now().Before(deadline) {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	n.t.Fatalf("timed out waiting for %s: %s", what, why)
}

// replicaSets lists the namespace's ReplicaSets.
func (n *ns) replicaSets() []appsv1.ReplicaSet {
	n.t.Helper()
	l, err := n.client.AppsV1().ReplicaSets(n.name).List(n.ctx, metav1.ListOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	return l.Items
}

// pods lists the namespace's pods that are not terminating.
func (n *ns) pods(selector string) []corev1.Pod {
	n.t.Helper()
	l, err := n.client.CoreV1().Pods(n.name).List(n.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		n.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitComplete waits until the Deployment observed its generation and runs
// replicas updated, available pods and no others.
func (n *ns) waitComplete(name string) *appsv1.Deployment {
	n.t.Helper()
	var d *appsv1.Deployment
	n.eventually("deployment "+name+" complete", func() (bool, string) {
		d = n.get(name)
		s := d.Status
		want := *d.Spec.Replicas
		ok := s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
			s.AvailableReplicas == want && s.ReadyReplicas == want
		return ok, fmt.Sprintf("generation %d status %+v", d.Generation, s)
	})
	return d
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// kubectl runs kubectl 1.33 against the server in the namespace.
func (n *ns) kubectl(args ...string) (string, error) {
	n.t.Helper()
	if _, err := os.Stat(kubectlPath); err != nil {
		n.t.Skipf("kubectl 1.33 not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(n.ctx, waitTimeout)
	defer cancel()
	full := append([]string{"--kubeconfig", n.env.s.Kubeconfig, "-n", n.name}, args...)
	out, err := exec.CommandContext(ctx, kubectlPath, full...).CombinedOutput()
	return string(out), err
}

func (n *ns) mustKubectl(args ...string) string {
	n.t.Helper()
	out, err := n.kubectl(args...)
	if err != nil {
		n.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// events lists the namespace's events with a reason.
func (n *ns) events(reason string) []corev1.Event {
	n.t.Helper()
	l, err := n.client.CoreV1().Events(n.name).List(n.ctx, metav1.ListOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// observer watches a namespace's pods and ReplicaSets and checks an
// invariant on every change, remembering the violations.
type observer struct {
	mu         sync.Mutex
	pods       map[string]*corev1.Pod
	rss        map[string]*appsv1.ReplicaSet
	inspect    func(pods []*corev1.Pod, rss []*appsv1.ReplicaSet) string
	violations []string
	checks     int
	// synced is set once the initial lists are in: partial states before
	// are not checked.
	synced bool
}

func (n *ns) observe(inspect func(pods []*corev1.Pod, rss []*appsv1.ReplicaSet) string) *observer {
	n.t.Helper()
	o := &observer{pods: map[string]*corev1.Pod{}, rss: map[string]*appsv1.ReplicaSet{}, inspect: inspect}
	f := informers.NewSharedInformerFactoryWithOptions(n.client, 0, informers.WithNamespace(n.name))
	podInf := f.Core().V1().Pods().Informer()
	rsInf := f.Apps().V1().ReplicaSets().Informer()
	_, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { o.setPod(obj, false) },
		UpdateFunc: func(_, obj interface{}) { o.setPod(obj, false) },
		DeleteFunc: func(obj interface{}) { o.setPod(obj, true) },
	})
	if err != nil {
		n.t.Fatal(err)
	}
	_, err = rsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { o.setRS(obj, false) },
		UpdateFunc: func(_, obj interface{}) { o.setRS(obj, false) },
		DeleteFunc: func(obj interface{}) { o.setRS(obj, true) },
	})
	if err != nil {
		n.t.Fatal(err)
	}
	stop := make(chan struct{})
	n.t.Cleanup(func() { close(stop); f.Shutdown() })
	f.Start(stop)
	if !cache.WaitForCacheSync(n.ctx.Done(), podInf.HasSynced, rsInf.HasSynced) {
		n.t.Fatal("observer caches did not sync")
	}
	o.mu.Lock()
	o.synced = true
	o.checkLocked()
	o.mu.Unlock()
	return o
}

func (o *observer) setPod(obj interface{}, gone bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if gone {
		delete(o.pods, p.Name)
	} else {
		o.pods[p.Name] = p
	}
	o.checkLocked()
}

func (o *observer) setRS(obj interface{}, gone bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if gone {
		delete(o.rss, rs.Name)
	} else {
		o.rss[rs.Name] = rs
	}
	o.checkLocked()
}

func (o *observer) checkLocked() {
	if !o.synced {
		return
	}
	pods := make([]*corev1.Pod, 0, len(o.pods))
	for _, p := range o.pods {
		pods = append(pods, p)
	}
	rss := make([]*appsv1.ReplicaSet, 0, len(o.rss))
	for _, rs := range o.rss {
		rss = append(rss, rs)
	}
	o.checks++
	if v := o.inspect(pods, rss); v != "" && len(o.violations) < 10 {
		o.violations = append(o.violations, v)
	}
}

// report returns the violations and the number of states checked.
func (o *observer) report() ([]string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.violations...), o.checks
}
