package defaultbinder_test

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"berth/scheduler/framework"
	"berth/scheduler/frameworktest"
	st "berth/scheduler/schedtest"
)

func TestBind(t *testing.T) {
	client := fake.NewClientset()
	var got *v1.Binding
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "binding" {
			got = a.(clienttesting.CreateAction).GetObject().(*v1.Binding)
			return true, got, nil
		}
		return false, nil, nil
	})
	f, _ := frameworktest.New(t, frameworktest.Options{Client: client})
	pod := st.MakePod().Name("p").Obj()
	if s := f.RunBindPlugins(context.Background(), framework.NewCycleState(), pod, "node-1"); !s.IsSuccess() {
		t.Fatal(s)
	}
	if got == nil || got.Name != "p" || got.Namespace != "default" || got.UID != pod.UID || got.Target.Kind != "Node" || got.Target.Name != "node-1" {
		t.Errorf("binding %+v", got)
	}
}
