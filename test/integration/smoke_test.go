package integration

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/internal/testserver"
)

func TestSmoke(t *testing.T) {
	s := testserver.Start(t)
	l, err := s.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Items {
		t.Log(n.Name, n.ResourceVersion)
	}
}
