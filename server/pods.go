package server

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/registry"
	"berth/apiserver/registry/core/pod"
)

// podResource returns pods with their binding and eviction subresources.
func (s *Server) podResource() *registry.Resource {
	r := pod.Resource()
	r.Extra = append(r.Extra, pod.Binding(), pod.Eviction(disruptionBudgets{s}))
	return r
}

// disruptionBudgets gives evictions the PodDisruptionBudgets.
type disruptionBudgets struct{ s *Server }

func (d disruptionBudgets) List(ctx context.Context, namespace string) ([]policyv1.PodDisruptionBudget, error) {
	list, err := d.s.store("poddisruptionbudgets.policy").List(ctx, namespace, &metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.(*policyv1.PodDisruptionBudgetList).Items, nil
}

func (d disruptionBudgets) UpdateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	_, _, err := d.s.store("poddisruptionbudgets.policy").Update(ctx, pdb.Namespace, pdb.Name, "status", pdb, &metav1.UpdateOptions{FieldManager: bootstrapManager})
	return err
}
