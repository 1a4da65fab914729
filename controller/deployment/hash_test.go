package deployment

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func template(image string, labels map[string]string) *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{}
	t.Labels = labels
	t.Spec.Containers = []corev1.Container{{Name: "web", Image: image}}
	return t
}

func TestComputeHash(t *testing.T) {
	a := template("nginx:1", map[string]string{"app": "web", "tier": "front"})
	// The same template built in another order hashes the same.
	b := template("nginx:1", map[string]string{"tier": "front", "app": "web"})
	if ComputeHash(a, nil) != ComputeHash(b, nil) {
		t.Error("equal templates hash differently")
	}
	if ComputeHash(a, nil) != ComputeHash(a, nil) {
		t.Error("the hash is not deterministic")
	}
	c := template("nginx:2", map[string]string{"app": "web", "tier": "front"})
	if ComputeHash(a, nil) == ComputeHash(c, nil) {
		t.Error("different images hash the same")
	}
	seen := map[string]bool{ComputeHash(a, nil): true}
	for i := int32(0); i < 5; i++ {
		h := ComputeHash(a, ptr.To(i))
		if seen[h] {
			t.Errorf("collision count %d gives a hash seen before", i)
		}
		seen[h] = true
	}
	// rand.SafeEncodeString's alphabet: no vowels, no 0, 1 or 3.
	for h := range seen {
		if strings.Trim(h, "bcdfghjklmnpqrstvwxz2456789") != "" || len(h) == 0 || len(h) > 10 {
			t.Errorf("hash %q is not in Kubernetes' form", h)
		}
	}
}

// TestComputeHashStable pins the hash of one template: it names the
// ReplicaSets of running Deployments, so a change would make every
// Deployment roll out again after an upgrade.
func TestComputeHashStable(t *testing.T) {
	tpl := template("nginx:1.27", map[string]string{"app": "web"})
	tpl.Spec.RestartPolicy = corev1.RestartPolicyAlways
	got := ComputeHash(tpl, nil)
	if want := "756877df64"; got != want {
		t.Errorf("hash %q, want %q", got, want)
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := template("nginx:1", map[string]string{"app": "web"})
	b := template("nginx:1", map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "abc"})
	if !EqualIgnoreHash(a, b) {
		t.Error("templates differing by the hash label are not equal")
	}
	c := template("nginx:2", map[string]string{"app": "web"})
	if EqualIgnoreHash(a, c) {
		t.Error("templates with different images are equal")
	}
	// Only the hash label in one, none in the other.
	d := template("nginx:1", map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "abc"})
	e := template("nginx:1", nil)
	if !EqualIgnoreHash(d, e) {
		t.Error("empty and missing labels differ")
	}
}
