package pod

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestMayBeOOM(t *testing.T) {
	now := time.Unix(1800000000, 0)
	limited := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}}}}}
	unlimited := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	exited := func(code int32, reason string, ago time.Duration) *container {
		k := exitedC("id", "c", 0, code, now.Add(-time.Minute), now.Add(-ago))
		k.reason = reason
		return k
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		k    *container
		want bool
	}{
		{"SIGKILLed a moment ago with a limit", limited, exited(137, "Error", 200*time.Millisecond), true},
		{"already OOMKilled", limited, exited(137, "OOMKilled", 200*time.Millisecond), false},
		{"SIGKILLed long ago", limited, exited(137, "Error", 2*time.Second), false},
		{"another exit code", limited, exited(1, "Error", 200*time.Millisecond), false},
		{"no memory limit", unlimited, exited(137, "Error", 200*time.Millisecond), false},
		{"running", limited, runningC("id", "c", 0, now.Add(-time.Minute)), false},
	} {
		if got := mayBeOOM(tc.pod, tc.k, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
