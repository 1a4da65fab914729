package daemonset_test

import (
	"berth/controller/daemonset"
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"berth/controller"
	"berth/internal/testserver"
)

type cluster struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	s := testserver.Start(t, testserver.Bare)
	s.RunControllers(t, controller.Options{}, daemonset.New)
	c := &cluster{t: t, client: s.Client, ns: "ds"}
	if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) poll(what string, cond func() (bool, error)) {
	c.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (c *cluster) addNode(name string, taints ...corev1.Taint) {
	c.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints}}
	if _, err := c.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// podsByNode returns the live pods of the DaemonSet named name, by the
// node their affinity names.
func (c *cluster) podsByNode(name string) map[string][]corev1.Pod {
	c.t.Helper()
	l, err := c.client.CoreV1().Pods(c.ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{"app": name}).String(),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range l.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		n, err := daemonset.TargetNode(&p)
		if err != nil {
			c.t.Errorf("pod %s: %v", p.Name, err)
		}
		out[n] = append(out[n], p)
	}
	return out
}

func keys(m map[string][]corev1.Pod) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// waitNodes waits until the DaemonSet has exactly one pod on each of nodes
// (comma-separated, sorted) and its status agrees.
func (c *cluster) waitNodes(name, nodes string) map[string][]corev1.Pod {
	c.t.Helper()
	var got map[string][]corev1.Pod
	c.poll(name+" pods on "+nodes, func() (bool, error) {
		got = c.podsByNode(name)
		if keys(got) != nodes {
			return false, nil
		}
		for _, pods := range got {
			if len(pods) != 1 {
				return false, nil
			}
		}
		ds, err := c.client.AppsV1().DaemonSets(c.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		n := int32(len(got))
		return ds.Status.ObservedGeneration == ds.Generation && ds.Status.DesiredNumberScheduled == n && ds.Status.CurrentNumberScheduled == n, nil
	})
	return got
}

func (c *cluster) markReady(pod string) {
	c.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.client.CoreV1().Pods(c.ns).Get(context.Background(), pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		_, err = c.client.CoreV1().Pods(c.ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		c.t.Fatalf("mark %s ready: %v", pod, err)
	}
}

func (c *cluster) status(name string) appsv1.DaemonSetStatus {
	c.t.Helper()
	ds, err := c.client.AppsV1().DaemonSets(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return ds.Status
}

func newDaemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

func TestDaemonSetNodes(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.addNode("node-a")
	c.addNode("node-b")
	c.addNode("node-t", corev1.Taint{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule})
	if _, err := c.client.AppsV1().DaemonSets(c.ns).Create(ctx, newDaemonSet("agent"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tolerant := newDaemonSet("tolerant")
	tolerant.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	if _, err := c.client.AppsV1().DaemonSets(c.ns).Create(ctx, tolerant, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// One pod per untainted node, placed by affinity for the scheduler.
	pods := c.waitNodes("agent", "node-a,node-b")
	for node, ps := range pods {
		p := ps[0]
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if p.Spec.NodeName != "" || len(terms) != 1 || len(terms[0].MatchFields) != 1 ||
			terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != node {
			t.Errorf("pod %s for %s: nodeName %q, terms %+v", p.Name, node, p.Spec.NodeName, terms)
		}
		if !strings.HasPrefix(p.Name, "agent-") || p.Labels["pod-template-generation"] != "1" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if len(p.Spec.Tolerations) != 6 {
			t.Errorf("pod %s tolerations %+v", p.Name, p.Spec.Tolerations)
		}
	}
	// The tainted node gets only the tolerant DaemonSet's pod.
	c.waitNodes("tolerant", "node-a,node-b,node-t")
	c.checkEvent("agent", "SuccessfulCreate", "Created pod: "+pods["node-a"][0].Name)

	// A new node gets its pod; a removed node's pod goes.
	c.addNode("node-c")
	c.waitNodes("agent", "node-a,node-b,node-c")
	if err := c.client.CoreV1().Nodes().Delete(ctx, "node-c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods = c.waitNodes("agent", "node-a,node-b")

	// Once the pods are ready, a template change rolls out one node at a
	// time (maxUnavailable 1).
	for _, ps := range pods {
		c.markReady(ps[0].Name)
	}
	c.poll("agent ready", func() (bool, error) {
		st := c.status("agent")
		return st.NumberReady == 2 && st.NumberAvailable == 2 && st.NumberUnavailable == 0 && st.UpdatedNumberScheduled == 2, nil
	})
	oldHash := pods["node-a"][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := c.client.AppsV1().DaemonSets(c.ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Containers[0].Image = "img:2"
		_, err = c.client.AppsV1().DaemonSets(c.ns).Update(ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first replacement appears; the other node keeps its old, ready pod
	// until the replacement is ready.
	var first, other string
	c.poll("a first updated pod", func() (bool, error) {
		for node, ps := range c.podsByNode("agent") {
			for _, p := range ps {
				if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != oldHash {
					first = node
				}
			}
		}
		return first != "", nil
	})
	other = map[string]string{"node-a": "node-b", "node-b": "node-a"}[first]
	c.poll("status counting the update", func() (bool, error) {
		st := c.status("agent")
		return st.UpdatedNumberScheduled == 1 && st.NumberUnavailable == 1, nil
	})
	now := c.podsByNode("agent")
	if len(now[other]) != 1 || now[other][0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != oldHash {
		t.Fatalf("%s's old pod was replaced before %s's new pod was ready: %+v", other, first, now[other])
	}
	newPod := now[first][0]
	if newPod.Labels["pod-template-generation"] != "2" || newPod.Spec.Containers[0].Image != "img:2" {
		t.Errorf("updated pod labels %v image %s", newPod.Labels, newPod.Spec.Containers[0].Image)
	}
	c.markReady(newPod.Name)
	c.poll("the second updated pod", func() (bool, error) {
		ps := c.podsByNode("agent")[other]
		if len(ps) == 1 && ps[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != oldHash {
			c.markReady(ps[0].Name)
			return true, nil
		}
		return false, nil
	})
	c.poll("rollout complete", func() (bool, error) {
		st := c.status("agent")
		return st.UpdatedNumberScheduled == 2 && st.NumberAvailable == 2 && st.DesiredNumberScheduled == 2 && st.NumberMisscheduled == 0, nil
	})
	revs, err := c.client.AppsV1().ControllerRevisions(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil || len(revs.Items) != 2 {
		t.Errorf("agent revisions: %v %v", revs, err)
	}
}

// checkEvent waits for a Normal event on the DaemonSet named name.
func (c *cluster) checkEvent(name, reason, message string) {
	c.t.Helper()
	c.poll("event "+message, func() (bool, error) {
		l, err := c.client.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range l.Items {
			if e.InvolvedObject.Kind == "DaemonSet" && e.InvolvedObject.Name == name && e.Type == corev1.EventTypeNormal &&
				e.Reason == reason && e.Message == message && e.Source.Component == "daemonset-controller" {
				return true, nil
			}
		}
		return false, nil
	})
}
