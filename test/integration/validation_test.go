package integration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestUpdateValidation checks that fields Kubernetes makes immutable are
// refused on update with the field path, and nothing changes.
func TestUpdateValidation(t *testing.T) {
	t.Parallel()
	s := start(t)
	ns := newNamespace(t, s)
	byResource := map[string]resourceCase{}
	for _, tc := range resourceCases() {
		byResource[tc.gvr.Resource] = tc
	}
	cases := []struct {
		name     string
		resource string
		setup    string // merge patch applied first (may be empty)
		patch    string // the refused merge patch
		cause    metav1.CauseType
		field    string
		msg      string
	}{
		{"DeploymentSelector", "deployments", "", `{"spec":{"selector":{"matchLabels":{"app":"y"}},"template":{"metadata":{"labels":{"app":"y"}}}}}`,
			metav1.CauseTypeFieldValueInvalid, "spec.selector", "field is immutable"},
		{"ImmutableConfigMap", "configmaps", `{"immutable":true}`, `{"data":{"a":"changed"}}`,
			metav1.CauseTypeForbidden, "data", "field is immutable when `immutable` is set"},
		{"JobTemplate", "jobs", "", `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}`,
			metav1.CauseTypeFieldValueInvalid, "spec.template", "field is immutable"},
		{"PriorityClassValue", "priorityclasses", "", `{"value":5}`,
			metav1.CauseTypeForbidden, "value", "may not be changed in an update"},
		{"RoleBindingRoleRef", "rolebindings", "", `{"roleRef":{"name":"other"}}`,
			metav1.CauseTypeFieldValueInvalid, "roleRef", "cannot change roleRef"},
		{"PodContainerName", "pods", "", `{"spec":{"containers":[{"name":"renamed","image":"busybox"}]}}`,
			metav1.CauseTypeForbidden, "spec", "pod updates may not change fields other than"},
		{"IngressClassController", "ingressclasses", "", `{"spec":{"controller":"example.com/other"}}`,
			metav1.CauseTypeFieldValueInvalid, "spec.controller", "field is immutable"},
		{"StatefulSetServiceName", "statefulsets", "", `{"spec":{"serviceName":"other"}}`,
			metav1.CauseTypeForbidden, "spec", "updates to statefulset spec for fields other than"},
		{"EndpointSliceAddressType", "endpointslices", "", `{"addressType":"IPv6"}`,
			metav1.CauseTypeFieldValueInvalid, "addressType", "field is immutable"},
		{"DeploymentNegativeReplicas", "deployments", "", `{"spec":{"replicas":-3}}`,
			metav1.CauseTypeFieldValueInvalid, "spec.replicas", "must be greater than or equal to 0"},
		{"LabelValue", "configmaps", "", `{"metadata":{"labels":{"bad":"not a valid value"}}}`,
			metav1.CauseTypeFieldValueInvalid, "metadata.labels", "a valid label must be an empty string or consist of alphanumeric characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			tc, ok := byResource[c.resource]
			if !ok {
				t.Fatalf("no resource case %s", c.resource)
			}
			rc := resourceClient(s.Dynamic, tc, ns)
			name := "v-" + fmtName(c.name)
			if _, err := rc.Create(ctx, newObject(tc, name, ns), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if c.setup != "" {
				if _, err := rc.Patch(ctx, name, types.MergePatchType, []byte(c.setup), metav1.PatchOptions{}); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			before, err := rc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = rc.Patch(ctx, name, types.MergePatchType, []byte(c.patch), metav1.PatchOptions{})
			st := expectError(t, err, 422, metav1.StatusReasonInvalid, "")
			expectCause(t, st, c.cause, c.field, c.msg)
			if st.Details == nil || st.Details.Name != name || st.Details.Kind != tc.kind || st.Details.Group != tc.gvr.Group {
				t.Errorf("details %+v, want name %s kind %s group %q", st.Details, name, tc.kind, tc.gvr.Group)
			}
			after, err := rc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.GetResourceVersion() != before.GetResourceVersion() {
				t.Error("a refused update changed the object")
			}
		})
	}
}

func fmtName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				out = append(out, '-')
			}
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}
