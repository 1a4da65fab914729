package generic

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/configmap"
	"berth/apiserver/registry/core/pod"
)

func benchStore(b *testing.B, withFields bool, r func() *registry.Resource) *Store {
	scheme := runtime.NewScheme()
	clientgoscheme.AddToScheme(scheme)
	cfg := Config{Resource: r(), Storage: newMemStore(), Prefix: "/registry/x/", Scheme: scheme}
	if withFields {
		cfg.TypeConverter = applyconfigurations.NewTypeConverter(scheme)
	}
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkCreatePod(b *testing.B) {
	for _, fields := range []bool{false, true} {
		b.Run(fmt.Sprintf("managedFields=%v", fields), func(b *testing.B) {
			s := benchStore(b, fields, pod.Resource)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("p", i)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "berth/demo:v1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
				if _, err := s.Create(ctx, "default", p, &metav1.CreateOptions{FieldManager: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCreateConfigMap(b *testing.B) {
	for _, fields := range []bool{false, true} {
		b.Run(fmt.Sprintf("managedFields=%v", fields), func(b *testing.B) {
			s := benchStore(b, fields, configmap.Resource)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("c", i)}, Data: map[string]string{"a": "b"}}
				if _, err := s.Create(ctx, "default", c, &metav1.CreateOptions{FieldManager: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
