package daemonset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"berth/controller/history"
)

// templatePatch is what a revision records: a strategic merge patch that
// replaces spec.template with ds's, built as Kubernetes builds it.
func templatePatch(ds *appsv1.DaemonSet) ([]byte, error) {
	data, err := json.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("encode daemonset %s: %w", dsKey(ds), err)
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode daemonset %s: %w", dsKey(ds), err)
	}
	spec, _ := raw["spec"].(map[string]interface{})
	template, _ := spec["template"].(map[string]interface{})
	if template == nil {
		template = map[string]interface{}{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": template}})
}

// matches reports whether rev records ds's current template.
func matches(ds *appsv1.DaemonSet, rev *appsv1.ControllerRevision) (bool, error) {
	patch, err := templatePatch(ds)
	if err != nil {
		return false, err
	}
	return bytes.Equal(patch, rev.Data.Raw), nil
}

// controlledRevisions returns the revisions ds owns, adopting orphans its
// selector matches and releasing the others.
func (c *Controller) controlledRevisions(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of daemonset %s: %w", dsKey(ds), err)
	}
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list revisions of daemonset %s: %w", dsKey(ds), err)
	}
	claimer := &history.Claimer{
		Owner: ds, Kind: dsKind,
		Match:    func(o metav1.Object) bool { return selector.Matches(labels.Set(o.GetLabels())) },
		CanAdopt: c.canAdopt(ds),
		Patch: func(ctx context.Context, name string, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		ok, err := claimer.Claim(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("claim revisions of daemonset %s: %w", dsKey(ds), err)
		}
		if ok {
			owned = append(owned, r)
		}
	}
	return owned, nil
}

// constructHistory returns the revision of ds's current template (created,
// or renumbered to be the newest, as needed) and the older ones.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	revs, err := c.controlledRevisions(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	var current []*appsv1.ControllerRevision
	api := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	for _, r := range revs {
		// Label revisions that lack the hash with their name.
		if _, ok := r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			u := r.DeepCopy()
			if u.Labels == nil {
				u.Labels = map[string]string{}
			}
			u.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = u.Name
			if r, err = api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
				return nil, nil, fmt.Errorf("label revision %s/%s: %w", u.Namespace, u.Name, err)
			}
		}
		ok, err := matches(ds, r)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			current = append(current, r)
		} else {
			old = append(old, r)
		}
	}
	next := maxRevision(old) + 1
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupCurrent(ctx, ds, current); err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		u := cur.DeepCopy()
		u.Revision = next
		if cur, err = api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			return nil, nil, fmt.Errorf("renumber revision %s/%s: %w", u.Namespace, u.Name, err)
		}
	}
	return cur, old, nil
}

func maxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}

// snapshot records ds's template as revision n, named
// "<ds>-<template hash>". A name taken by another template bumps ds's
// collision count and fails, to be retried with the new name.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, n int64) (*appsv1.ControllerRevision, error) {
	patch, err := templatePatch(ds)
	if err != nil {
		return nil, err
	}
	hash := history.HashTemplate(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := make(map[string]string, len(ds.Spec.Template.Labels)+1)
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	var annotations map[string]string
	if len(ds.Annotations) > 0 {
		annotations = make(map[string]string, len(ds.Annotations))
		for k, v := range ds.Annotations {
			annotations[k] = v
		}
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: n,
	}
	api := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	created, createErr := api.Create(ctx, rev, metav1.CreateOptions{})
	if createErr == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(createErr) {
		return nil, fmt.Errorf("create revision %s/%s: %w", rev.Namespace, rev.Name, createErr)
	}
	existing, err := api.Get(ctx, rev.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get revision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	if ok, err := matches(ds, existing); err != nil || ok {
		return existing, err
	}
	// A hash collision: bump the collision count (unless ours is stale).
	fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get daemonset %s: %w", dsKey(ds), err)
	}
	if !reflect.DeepEqual(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, fmt.Errorf("found a stale collision count of DaemonSet %q while processing; will retry until it is updated", ds.Name)
	}
	if fresh.Status.CollisionCount == nil {
		fresh.Status.CollisionCount = new(int32)
	}
	*fresh.Status.CollisionCount++
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("bump collision count of daemonset %s: %w", dsKey(ds), err)
	}
	c.logger.Info("hash collision; collision count bumped", "daemonset", dsKey(ds), "collisionCount", *fresh.Status.CollisionCount)
	return nil, fmt.Errorf("create revision %s/%s: %w", rev.Namespace, rev.Name, createErr)
}

// dedupCurrent keeps the newest of several revisions recording the current
// template, relabelling pods of the others before deleting them.
func (c *Controller) dedupCurrent(ctx context.Context, ds *appsv1.DaemonSet, current []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	if len(current) == 1 {
		return current[0], nil
	}
	keep := current[0]
	for _, r := range current {
		if r.Revision >= keep.Revision {
			keep = r
		}
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for _, r := range current {
		if r.Name == keep.Name {
			continue
		}
		pods, err := c.daemonPods(ctx, ds)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				continue
			}
			patch, _ := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}})
			if _, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return nil, fmt.Errorf("relabel pod %s/%s: %w", p.Namespace, p.Name, err)
			}
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete duplicate revision %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return keep, nil
}

// cleanupHistory deletes old revisions beyond revisionHistoryLimit, the
// oldest first, except those pods still run.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	if len(old) <= limit {
		return nil
	}
	byNode, err := c.podsByNode(ctx, ds)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	live := map[string]bool{}
	for _, pods := range byNode {
		for _, p := range pods {
			if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
				live[h] = true
			}
		}
	}
	// Oldest first, skipping revisions pods still run.
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	history.Sort(sorted)
	toKill := len(old) - limit
	for _, r := range sorted {
		if toKill <= 0 {
			break
		}
		if live[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete revision %s/%s: %w", r.Namespace, r.Name, err)
		}
		toKill--
	}
	return nil
}
