package generic

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v4/typed"

	"berth/apiserver/defaults"
)

func benchPod() *corev1.Pod {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "berth/demo:v1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
			Ports:     []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	defaults.Pod(p)
	return p
}

func BenchmarkTypedConversion(b *testing.B) {
	scheme := runtime.NewScheme()
	clientgoscheme.AddToScheme(scheme)
	tc := applyconfigurations.NewTypeConverter(scheme)
	parser := tc.TypeResolver.(*typed.Parser)
	pt := parser.Type("io.k8s.api.core.v1.Pod")
	p := benchPod()
	b.Run("FromStructured", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := pt.FromStructured(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ToUnstructured+FromUnstructured", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pt.FromUnstructured(u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Compare", func(b *testing.B) {
		a, _ := pt.FromStructured(p)
		p2 := p.DeepCopy()
		p2.Status.Phase = corev1.PodRunning
		c, _ := pt.FromStructured(p2)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := a.Compare(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
