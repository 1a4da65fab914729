package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/controller/endpoints/endpointutil"
)

// reconcile makes a Service's slices hold the endpoints of its pods.
func (c *Controller) reconcile(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, trigger time.Time) error {
	types := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	var unsupported []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if !types[s.AddressType] {
			unsupported = append(unsupported, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	var errs []error
	for _, at := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		if types[at] {
			if err := c.reconcileAddressType(ctx, svc, pods, byType[at], trigger, at); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range unsupported {
		if err := c.deleteSlice(ctx, svc, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// desiredGroup is the endpoints of one set of ports.
type desiredGroup struct {
	ports     []discoveryv1.EndpointPort
	endpoints endpointSet
}

func (c *Controller) reconcileAddressType(ctx context.Context, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, trigger time.Time, addressType discoveryv1.AddressType) error {
	var toCreate, toUpdate, toDelete []*discoveryv1.EndpointSlice
	var errs []error

	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if ownedBy(s, svc) {
			k := portMapKey(s.Ports)
			existingByPorts[k] = append(existingByPorts[k], s)
		} else {
			toDelete = append(toDelete, s)
		}
	}

	desired := map[string]*desiredGroup{}
	for _, pod := range pods {
		if !endpointutil.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		k := portMapKey(ports)
		if desired[k] == nil {
			desired[k] = &desiredGroup{ports: ports, endpoints: endpointSet{}}
		}
		node, err := c.nodes.Get(pod.Spec.NodeName)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			// Leave the pod out until its node shows up (the Service is
			// retried), unless the Service publishes every address.
			if !svc.Spec.PublishNotReadyAddresses {
				errs = append(errs, fmt.Errorf("skipping Pod %s for Service %s/%s: Node %s Not Found", pod.Name, svc.Namespace, svc.Name, pod.Spec.NodeName))
				continue
			}
		}
		ep := podToEndpoint(pod, node, svc, addressType)
		if len(ep.Addresses) > 0 {
			desired[k].endpoints.insert(&ep)
		}
	}

	for k, group := range desired {
		create, update, del := c.reconcilePorts(svc, existingByPorts[k], group, addressType)
		toCreate = append(toCreate, create...)
		toUpdate = append(toUpdate, update...)
		toDelete = append(toDelete, del...)
	}
	for k, slices := range existingByPorts {
		if desired[k] == nil {
			toDelete = append(toDelete, slices...)
		}
	}

	// A Service without endpoints keeps one empty placeholder slice.
	if len(existing) == len(toDelete) && len(toCreate) == 0 {
		placeholder := newSlice(svc, []discoveryv1.EndpointPort{}, addressType)
		if len(toDelete) == 1 && isPlaceholder(toDelete[0], placeholder) {
			toDelete = nil
		} else {
			toCreate = append(toCreate, placeholder)
		}
	}

	unchanged := unchangedSlices(existing, toUpdate, toDelete)
	toUpdate = reconcileHints(svc, toCreate, toUpdate, unchanged)
	if err := c.finalize(ctx, svc, toCreate, toUpdate, toDelete, trigger); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// isPlaceholder reports whether a slice is the same empty placeholder as
// want: same namespace, labels, owner, no ports or endpoints.
func isPlaceholder(s, want *discoveryv1.EndpointSlice) bool {
	return s.Namespace == want.Namespace && len(s.Endpoints) == 0 && len(s.Ports) == 0 &&
		s.AddressType == want.AddressType &&
		apiequality.Semantic.DeepEqual(s.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(s.OwnerReferences, want.OwnerReferences)
}

// reconcilePorts reconciles the slices of one port set: endpoints no
// longer wanted are removed and changed ones updated in place; new ones
// fill the slices being updated (fullest first), then fit into one
// untouched slice with room, then go into new slices.
func (c *Controller) reconcilePorts(svc *corev1.Service, existing []*discoveryv1.EndpointSlice, group *desiredGroup, addressType discoveryv1.AddressType) (toCreate, toUpdate, toDelete []*discoveryv1.EndpointSlice) {
	max := c.cfg.MaxEndpointsPerSlice
	byName := map[string]*discoveryv1.EndpointSlice{}
	unchanged, update, del := map[string]bool{}, map[string]bool{}, map[string]bool{}
	want := group.endpoints

	for _, s := range existing {
		byName[s.Name] = s
		kept := []discoveryv1.Endpoint{}
		changed := false
		for i := range s.Endpoints {
			have := &s.Endpoints[i]
			got := want.get(have)
			if got == nil {
				continue
			}
			kept = append(kept, *got)
			if !endpointsEqualBeyondKey(got, have) {
				changed = true
			}
			want.remove(have)
		}
		labels, labelsChanged := sliceLabels(s, svc)
		switch {
		case changed || len(kept) != len(s.Endpoints):
			if len(kept) == 0 {
				del[s.Name] = true
				continue
			}
			cp := s.DeepCopy()
			cp.Endpoints, cp.Labels = kept, labels
			byName[s.Name] = cp
			update[s.Name] = true
		case labelsChanged:
			cp := s.DeepCopy()
			cp.Labels = labels
			byName[s.Name] = cp
			update[s.Name] = true
		default:
			unchanged[s.Name] = true
		}
	}

	if len(want) > 0 && len(update) > 0 {
		var fill []*discoveryv1.EndpointSlice
		for name := range update {
			fill = append(fill, byName[name])
		}
		sort.SliceStable(fill, func(i, j int) bool {
			if len(fill[i].Endpoints) != len(fill[j].Endpoints) {
				return len(fill[i].Endpoints) > len(fill[j].Endpoints)
			}
			return fill[i].Name < fill[j].Name
		})
		for _, s := range fill {
			for len(want) > 0 && len(s.Endpoints) < max {
				s.Endpoints = append(s.Endpoints, *want.pop())
			}
		}
	}

	for len(want) > 0 {
		var target *discoveryv1.EndpointSlice
		if len(want) < max && len(unchanged) > 0 {
			var candidates []*discoveryv1.EndpointSlice
			for name := range unchanged {
				candidates = append(candidates, byName[name])
			}
			target = sliceToFill(candidates, len(want), max)
		}
		if target == nil {
			target = newSlice(svc, group.ports, addressType)
		} else {
			target = target.DeepCopy()
			byName[target.Name] = target
		}
		for len(want) > 0 && len(target.Endpoints) < max {
			target.Endpoints = append(target.Endpoints, *want.pop())
		}
		if target.Name != "" {
			update[target.Name] = true
			delete(unchanged, target.Name)
		} else {
			toCreate = append(toCreate, target)
		}
	}

	for _, name := range sortedKeys(update) {
		toUpdate = append(toUpdate, byName[name])
	}
	for _, name := range sortedKeys(del) {
		toDelete = append(toDelete, byName[name])
	}
	return toCreate, toUpdate, toDelete
}

// sliceToFill is the slice that comes closest to full with n more
// endpoints, or nil when none has room.
func sliceToFill(slices []*discoveryv1.EndpointSlice, n, max int) *discoveryv1.EndpointSlice {
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	best := max
	var out *discoveryv1.EndpointSlice
	for _, s := range slices {
		if diff := max - (n + len(s.Endpoints)); diff >= 0 && diff < best {
			best, out = diff, s
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unchangedSlices(existing, toUpdate, toDelete []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	changed := map[string]bool{}
	for _, s := range toUpdate {
		changed[s.Name] = true
	}
	for _, s := range toDelete {
		changed[s.Name] = true
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if !changed[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// reconcileHints gives ready endpoints a hint for their own zone when the
// Service asks for trafficDistribution PreferClose, and removes hints
// otherwise; unchanged slices with wrong hints are updated too.
func reconcileHints(svc *corev1.Service, toCreate, toUpdate, unchanged []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	preferClose := svc.Spec.TrafficDistribution != nil && *svc.Spec.TrafficDistribution == corev1.ServiceTrafficDistributionPreferClose &&
		!topologyAnnotated(svc)
	if preferClose {
		for _, s := range unchanged {
			if needsZoneHints(s) {
				toUpdate = append(toUpdate, s.DeepCopy())
			}
		}
	}
	for _, list := range [][]*discoveryv1.EndpointSlice{toCreate, toUpdate} {
		for _, s := range list {
			for i := range s.Endpoints {
				ep := &s.Endpoints[i]
				switch {
				case !preferClose:
					ep.Hints = nil
				case ep.Conditions.Ready == nil || !*ep.Conditions.Ready:
				case ep.Zone != nil:
					ep.Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: *ep.Zone}}}
				default:
					ep.Hints = nil
				}
			}
		}
	}
	return toUpdate
}

// topologyAnnotated reports whether a Service asks for topology-aware
// hints by annotation, which take precedence over trafficDistribution
// (and which berth does not compute).
func topologyAnnotated(svc *corev1.Service) bool {
	v, ok := svc.Annotations[corev1.DeprecatedAnnotationTopologyAwareHints]
	if !ok {
		v, ok = svc.Annotations[corev1.AnnotationTopologyMode]
	}
	return ok && (v == "Auto" || v == "auto")
}

func needsZoneHints(s *discoveryv1.EndpointSlice) bool {
	for _, ep := range s.Endpoints {
		if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
			continue
		}
		if ep.Zone != nil {
			if ep.Hints == nil || len(ep.Hints.ForZones) != 1 || ep.Hints.ForZones[0].Name != *ep.Zone {
				return true
			}
		} else if ep.Hints != nil && len(ep.Hints.ForZones) > 0 {
			return true
		}
	}
	return false
}

// finalize writes the changes: deletions paired with creations of the
// same address type become updates of the deleted slices; nothing is
// created for a Service being deleted.
func (c *Controller) finalize(ctx context.Context, svc *corev1.Service, toCreate, toUpdate, toDelete []*discoveryv1.EndpointSlice, trigger time.Time) error {
	for i := 0; i < len(toDelete) && len(toCreate) > 0; {
		old, s := toDelete[i], toCreate[len(toCreate)-1]
		if old.AddressType == s.AddressType && ownedBy(old, svc) {
			s.Name = old.Name
			s.ResourceVersion = old.ResourceVersion
			toCreate = toCreate[:len(toCreate)-1]
			toUpdate = append(toUpdate, s)
			toDelete = append(toDelete[:i], toDelete[i+1:]...)
		} else {
			i++
		}
	}
	slices := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if svc.DeletionTimestamp == nil {
		for _, s := range toCreate {
			setTriggerTime(s, trigger)
			created, err := slices.Create(ctx, s, metav1.CreateOptions{})
			if err != nil {
				if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					return nil
				}
				return fmt.Errorf("failed to create EndpointSlice for Service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
			c.tracker.update(created)
		}
	}
	for _, s := range toUpdate {
		setTriggerTime(s, trigger)
		updated, err := slices.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("failed to update %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
		}
		c.tracker.update(updated)
	}
	for _, s := range toDelete {
		if err := c.deleteSlice(ctx, svc, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) deleteSlice(ctx context.Context, svc *corev1.Service, s *discoveryv1.EndpointSlice) error {
	err := c.client.DiscoveryV1().EndpointSlices(svc.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("failed to delete %s EndpointSlice for Service %s/%s: %w", s.Name, svc.Namespace, svc.Name, err)
	}
	if err == nil {
		c.tracker.expectDeletion(s)
	}
	return nil
}

// setTriggerTime sets or clears the last-change-trigger-time annotation.
func setTriggerTime(s *discoveryv1.EndpointSlice, trigger time.Time) {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		s.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
}
