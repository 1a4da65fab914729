package controllerrevision

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

func valid() *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-6f7c9", Namespace: "kube-system"},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"agent"}}}}}`)},
		Revision:   1,
	}
}

func TestValidate(t *testing.T) {
	appstest.NoErrors(t, Validate(valid()))

	noData := valid()
	noData.Data = runtime.RawExtension{}
	appstest.HasErrorDetail(t, Validate(noData), field.ErrorTypeRequired, "data", "data is mandatory")

	negative := valid()
	negative.Revision = -1
	appstest.HasError(t, Validate(negative), field.ErrorTypeInvalid, "revision")
}

func TestValidateUpdate(t *testing.T) {
	old := valid()

	renumbered := old.DeepCopy()
	renumbered.Revision = 4
	renumbered.Labels = map[string]string{"x": "y"}
	appstest.NoErrors(t, ValidateUpdate(renumbered, old))

	respaced := old.DeepCopy()
	respaced.Data.Raw = []byte(`{ "spec": { "template": {"metadata": {"labels": {"app": "agent"}}} } }`)
	appstest.NoErrors(t, ValidateUpdate(respaced, old))

	changed := old.DeepCopy()
	changed.Data.Raw = []byte(`{"spec":{}}`)
	appstest.HasErrorDetail(t, ValidateUpdate(changed, old), field.ErrorTypeInvalid, "data", "field is immutable")
}

func TestTable(t *testing.T) {
	res := Resource()
	r := valid()
	r.CreationTimestamp = metav1.NewTime(time.Now().Add(-10 * time.Minute))
	r.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "u1", Controller: ptr.To(true)}}
	want := []interface{}{"agent-6f7c9", "daemonset.apps/agent", int64(1), "10m"}
	if got := res.Cells(r); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	r.OwnerReferences = nil
	if got := res.Cells(r)[1]; got != "<none>" {
		t.Errorf("no controller: %v", got)
	}
	if len(res.Columns) != 4 || res.Categories != nil || res.Status != nil {
		t.Errorf("resource %+v", res)
	}
}
