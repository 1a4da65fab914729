package admission

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"berth/apiserver/registry/generic"
)

// DefaultServiceAccount is the service account of pods that name none.
const DefaultServiceAccount = "default"

// ServiceAccounts reads service accounts. A missing one is an error for
// which apierrors.IsNotFound holds.
type ServiceAccounts interface {
	Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// defaultLookups is how often a missing "default" service account is
// looked up before a pod is refused: the service account controller
// creates it shortly after its namespace, as Kubernetes expects.
const defaultLookups = 10

// ServiceAccount is Kubernetes' ServiceAccount admission plugin for new
// pods. Pods that name no service account get the namespace's "default"
// one. With ServiceAccounts set, the service account must exist (pods are
// refused with 403 otherwise), its image pull secrets are given to pods
// that have none, and pods get the projected volume with an API token
// (see mountServiceAccountToken) unless automountServiceAccountToken is
// false on the pod or, if the pod does not say, on the service account.
// Mirror pods are left alone, but may not use service accounts or secrets.
type ServiceAccount struct {
	// ServiceAccounts looks service accounts up. Nil turns the lookup and
	// the token volume off: only the name is defaulted.
	ServiceAccounts ServiceAccounts
	// RetryInterval is the wait between lookups of a missing "default"
	// service account (ten in all). Zero means a random 100–200 ms, as in
	// Kubernetes.
	RetryInterval time.Duration
}

var _ generic.Admission = ServiceAccount{}

// Admit sets the service account of new pods and mounts its token.
func (s ServiceAccount) Admit(ctx context.Context, a *generic.Attributes) error {
	if a.Operation != generic.Create || a.Resource.Group != "" || a.Resource.Resource != "pods" || a.Subresource != "" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return s.admitMirrorPod(a, pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccount
		pod.Spec.DeprecatedServiceAccount = DefaultServiceAccount
	}
	if s.ServiceAccounts == nil {
		return nil
	}
	sa, err := s.lookup(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return forbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, pod.Spec.ServiceAccountName, err))
	}
	if automount(sa, pod) {
		mountServiceAccountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = ref.Name
		}
	}
	return nil
}

// lookup finds a service account, waiting a little for "default".
func (s ServiceAccount) lookup(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	attempts := 1
	if name == DefaultServiceAccount {
		attempts = defaultLookups
	}
	interval := s.RetryInterval
	if interval == 0 {
		interval = time.Duration(100+rand.IntN(100)) * time.Millisecond
	}
	for i := 0; ; i++ {
		sa, err := s.ServiceAccounts.Get(ctx, namespace, name)
		if err == nil || !apierrors.IsNotFound(err) || i+1 >= attempts {
			return sa, err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// admitMirrorPod keeps service accounts and secrets away from mirror pods
// (the kubelet's copies of static pods), which are not modified.
func (s ServiceAccount) admitMirrorPod(a *generic.Attributes, pod *corev1.Pod) error {
	if s.ServiceAccounts == nil {
		return nil
	}
	if pod.Spec.ServiceAccountName != "" {
		return forbidden(a, errors.New("a mirror pod may not reference service accounts"))
	}
	if referencesSecrets(pod) {
		return forbidden(a, errors.New("a mirror pod may not reference secrets"))
	}
	return nil
}

// automount: the pod's choice wins, then the service account's; the
// default is to mount.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

func forbidden(a *generic.Attributes, err error) error {
	return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, err)
}
