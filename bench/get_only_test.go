package bench

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"berth/internal/testserver"
)

func BenchmarkGetOnly(b *testing.B) {
	s := testserver.Start(b)
	c := s.Client
	ctx := context.Background()
	if _, _, err := run(1000, func(i int) error {
		_, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("cm-%05d", i)), metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	cs := newClients(b, s)
	l, wall, err := runClients(cs, 20000, func(c kubernetes.Interface, i int) error {
		_, err := c.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("cm-%05d", i%1000), metav1.GetOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	report(b, "get configmap", 20000, l, wall)
}
