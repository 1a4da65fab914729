package csr

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	"berth/apiserver/request"
)

// Resource returns the description of certificates.k8s.io/v1
// certificatesigningrequests.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group:      certificatesv1.GroupName,
		Version:    "v1",
		Resource:   "certificatesigningrequests",
		Kind:       "CertificateSigningRequest",
		ListKind:   "CertificateSigningRequestList",
		Singular:   "certificatesigningrequest",
		ShortNames: []string{"csr"},
		Namespaced: false,

		New:     func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		// Kubernetes does not care what requests are called; names must
		// only be usable in a path.
		ValidateName: path.ValidatePathSegmentName,

		PrepareForCreate: func(ctx context.Context, obj runtime.Object) {
			PrepareForCreate(ctx, obj.(*certificatesv1.CertificateSigningRequest))
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
			// Requests are immutable but through their subresources.
			csr.Spec = prev.Spec
			csr.Status = prev.Status
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return Validate(obj.(*certificatesv1.CertificateSigningRequest))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			return ValidateUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest))
		},

		Columns: columns(),
		Cells:   func(obj runtime.Object) []interface{} { return cells(obj.(*certificatesv1.CertificateSigningRequest)) },
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.signerName": obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
		},

		Status: &registry.StatusSubresource{
			PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
				PrepareForStatusUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest))
			},
			ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
				return ValidateStatusUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest))
			},
		},
		Extra: []registry.Subresource{approvalSubresource()},
	}
}

// PrepareForCreate records the requesting user in spec and clears status:
// nobody creates a request that is already approved.
func PrepareForCreate(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) {
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u := request.UserFrom(ctx); u != nil {
		csr.Spec.Username = u.Username
		csr.Spec.UID = u.UID
		csr.Spec.Groups = append([]string(nil), u.Groups...)
		if len(u.Extra) > 0 {
			csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
			for k, v := range u.Extra {
				csr.Spec.Extra[k] = certificatesv1.ExtraValue(append([]string(nil), v...))
			}
		}
	}
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// PrepareForStatusUpdate keeps spec and the Approved and Denied conditions
// of old: /status sets the certificate and other conditions (Failed).
func PrepareForStatusUpdate(csr, old *certificatesv1.CertificateSigningRequest) {
	csr.Spec = old.Spec
	keepConditions(csr, old, certificatesv1.CertificateApproved)
	keepConditions(csr, old, certificatesv1.CertificateDenied)
	stampConditions(csr, old)
}

// PrepareForApprovalUpdate keeps everything of old but the conditions.
func PrepareForApprovalUpdate(csr, old *certificatesv1.CertificateSigningRequest) {
	stampConditions(csr, old)
	conditions := csr.Status.Conditions
	csr.Spec = old.Spec
	csr.Status = *old.Status.DeepCopy()
	csr.Status.Conditions = conditions
}

// keepConditions puts back the stored conditions of type t when the update
// has as many of them (adding or removing some fails validation).
func keepConditions(csr, old *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	var oldIdx, newIdx []int
	for i, c := range old.Status.Conditions {
		if c.Type == t {
			oldIdx = append(oldIdx, i)
		}
	}
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			newIdx = append(newIdx, i)
		}
	}
	if len(oldIdx) != len(newIdx) {
		return
	}
	for i, o := range oldIdx {
		csr.Status.Conditions[newIdx[i]] = old.Status.Conditions[o]
	}
}

// stampConditions fills lastUpdateTime, and lastTransitionTime (kept from
// a stored condition of the same type and status), where unset.
func stampConditions(csr, old *certificatesv1.CertificateSigningRequest) {
	now := metav1.Now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
			for _, o := range old.Status.Conditions {
				if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
					c.LastTransitionTime = o.LastTransitionTime
					break
				}
			}
		}
	}
}

// approvalSubresource serves certificatesigningrequests/{name}/approval,
// through which approvers (`kubectl certificate approve|deny`, the
// approving controller) add Approved or Denied conditions.
func approvalSubresource() registry.Subresource {
	gvk := certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest")
	return registry.Subresource{
		Name:  "approval",
		Kind:  gvk,
		Verbs: []string{"get", "update"},
		New:   func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		Get: func(ctx context.Context, objs registry.Objects, _, name string) (runtime.Object, error) {
			return objs.Get(ctx, "", name)
		},
		Update: func(ctx context.Context, objs registry.Objects, _, name string, body runtime.Object, _ *metav1.UpdateOptions) (runtime.Object, error) {
			req, ok := body.(*certificatesv1.CertificateSigningRequest)
			if !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("expected a CertificateSigningRequest, got %T", body))
			}
			if req.Name != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", req.Name, name))
			}
			return objs.Modify(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
				old := cur.(*certificatesv1.CertificateSigningRequest)
				csr := req.DeepCopy()
				// System metadata and managed fields stay as stored; the
				// request's resourceVersion, if any, is a precondition.
				csr.ManagedFields = old.ManagedFields
				PrepareForApprovalUpdate(csr, old)
				if errs := ValidateApprovalUpdate(csr, old); len(errs) > 0 {
					return nil, apierrors.NewInvalid(gvk.GroupKind(), name, errs)
				}
				return csr, nil
			})
		},
	}
}
