package pod

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// DisruptionBudgets reads and updates the PodDisruptionBudgets an eviction
// must respect.
type DisruptionBudgets interface {
	List(ctx context.Context, namespace string) ([]policyv1.PodDisruptionBudget, error)
	// UpdateStatus stores pdb's status; it fails with a Conflict when pdb
	// is stale.
	UpdateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error
}

// maxDisruptedPods bounds status.disruptedPods, as Kubernetes does.
const maxDisruptedPods = 2000

// evictionAttempts is how often an eviction re-reads budgets that changed
// under it before giving up with 429.
const evictionAttempts = 3

// Eviction returns the pods/eviction subresource: deleting a pod only if
// its PodDisruptionBudget allows it.
func Eviction(budgets DisruptionBudgets) registry.Subresource {
	return registry.Subresource{
		Name:  "eviction",
		Kind:  policyv1.SchemeGroupVersion.WithKind("Eviction"),
		Verbs: []string{"create"},
		New:   func() runtime.Object { return &policyv1.Eviction{} },
		Create: func(ctx context.Context, objs registry.Objects, namespace, name string, body runtime.Object, _ *metav1.CreateOptions) (runtime.Object, error) {
			return evict(ctx, objs, budgets, namespace, name, body.(*policyv1.Eviction))
		},
	}
}

func evict(ctx context.Context, objs registry.Objects, budgets DisruptionBudgets, namespace, name string, ev *policyv1.Eviction) (runtime.Object, error) {
	if ev.Name != "" && ev.Name != name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := &metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = ev.DeleteOptions.DeepCopy()
	}
	obj, err := objs.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	pod := obj.(*corev1.Pod)
	if !ignoresBudgets(pod) {
		if err := takeDisruption(ctx, budgets, pod); err != nil {
			return nil, err
		}
		if _, err := objs.Modify(ctx, namespace, name, func(obj runtime.Object) (runtime.Object, error) {
			p := obj.(*corev1.Pod)
			setCondition(&p.Status, corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting",
			})
			return p, nil
		}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	if _, _, err := objs.Delete(ctx, namespace, name, opts); err != nil {
		return nil, err
	}
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}, nil
}

// ignoresBudgets: pods that are not running, or already going, may always
// be evicted.
func ignoresBudgets(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// takeDisruption consumes one allowed disruption of the pod's budget.
func takeDisruption(ctx context.Context, budgets DisruptionBudgets, pod *corev1.Pod) error {
	for attempt := 1; ; attempt++ {
		pdbs, err := budgets.List(ctx, pod.Namespace)
		if err != nil {
			return err
		}
		var matching []policyv1.PodDisruptionBudget
		for _, pdb := range pdbs {
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
				continue
			}
			matching = append(matching, pdb)
		}
		switch len(matching) {
		case 0:
			return nil
		case 1:
		default:
			return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
		}
		pdb := matching[0].DeepCopy()
		if !podReady(pod) {
			policy := pdb.Spec.UnhealthyPodEvictionPolicy
			if policy != nil && *policy == policyv1.AlwaysAllow {
				return nil
			}
			if pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy {
				return nil
			}
		}
		if err := checkBudget(pdb); err != nil {
			return err
		}
		pdb.Status.DisruptionsAllowed--
		if pdb.Status.DisruptedPods == nil {
			pdb.Status.DisruptedPods = map[string]metav1.Time{}
		}
		pdb.Status.DisruptedPods[pod.Name] = metav1.Now()
		err = budgets.UpdateStatus(ctx, pdb)
		if apierrors.IsConflict(err) && attempt < evictionAttempts {
			continue
		}
		if apierrors.IsConflict(err) {
			return tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", "")
		}
		return err
	}
}

func checkBudget(pdb *policyv1.PodDisruptionBudget) error {
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
			fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), pdb.Name, errors.New("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > maxDisruptedPods {
		return apierrors.NewForbidden(policyv1.Resource("poddisruptionbudget"), pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		return tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
			fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	return nil
}

// tooManyRequests is the 429 an eviction a budget forbids gets, with the
// budget's reason as a DisruptionBudget cause.
func tooManyRequests(message, cause string) error {
	err := apierrors.NewTooManyRequests(message, 0)
	if cause != "" {
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	}
	err.ErrStatus.Code = http.StatusTooManyRequests
	return err
}
