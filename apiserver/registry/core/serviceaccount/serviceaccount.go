package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// Resource returns the description of core/v1 service accounts.
func Resource() *registry.Resource {
	return &registry.Resource{
		Version:             "v1",
		Resource:            "serviceaccounts",
		Kind:                "ServiceAccount",
		ListKind:            "ServiceAccountList",
		Singular:            "serviceaccount",
		ShortNames:          []string{"sa"},
		Namespaced:          true,
		ReturnDeletedObject: true,
		New:                 func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:             func() runtime.Object { return &corev1.ServiceAccountList{} },
		ValidateName:        apimachineryvalidation.ValidateServiceAccountName,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			cleanSecretReferences(obj.(*corev1.ServiceAccount))
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			cleanSecretReferences(obj.(*corev1.ServiceAccount))
		},
		// Beyond metadata, Kubernetes validates nothing of a service account.
		Columns: []metav1.TableColumnDefinition{
			registry.NameColumn,
			{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
			registry.AgeColumn,
		},
		Cells: func(obj runtime.Object) []interface{} {
			sa := obj.(*corev1.ServiceAccount)
			return []interface{}{sa.Name, int64(len(sa.Secrets)), registry.Age(sa.CreationTimestamp)}
		},
	}
}

// cleanSecretReferences keeps only the name of each referenced secret, as
// Kubernetes does: the secrets live in the service account's namespace.
func cleanSecretReferences(sa *corev1.ServiceAccount) {
	for i, s := range sa.Secrets {
		sa.Secrets[i] = corev1.ObjectReference{Name: s.Name}
	}
}
