package endpointslice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	utilnet "k8s.io/utils/net"

	"berth/controller/endpoints/endpointutil"
)

// ManagedBy is the value of the managed-by label of the slices this
// controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// podToEndpoint is a pod's endpoint in a slice of addressType.
func podToEndpoint(pod *corev1.Pod, node *corev1.Node, svc *corev1.Service, addressType discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := endpointutil.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// A terminating pod is never ready, unless the Service publishes
	// addresses regardless.
	ready := svc.Spec.PublishNotReadyAddresses || serving && !terminating
	ep := discoveryv1.Endpoint{
		Addresses:  endpointAddresses(pod.Status, addressType),
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		name := pod.Spec.NodeName
		ep.NodeName = &name
	}
	if node != nil && node.Labels[corev1.LabelTopologyZone] != "" {
		zone := node.Labels[corev1.LabelTopologyZone]
		ep.Zone = &zone
	}
	if endpointutil.ShouldSetHostname(pod, svc) {
		hostname := pod.Spec.Hostname
		ep.Hostname = &hostname
	}
	return ep
}

// endpointAddresses are a pod's IPs of an address type, normalized.
func endpointAddresses(status corev1.PodStatus, addressType discoveryv1.AddressType) []string {
	out := []string{}
	for _, podIP := range status.PodIPs {
		ip := utilnet.ParseIPSloppy(podIP.IP)
		if ip == nil {
			continue
		}
		if utilnet.IsIPv6(ip) == (addressType == discoveryv1.AddressTypeIPv6) {
			out = append(out, ip.String())
		}
	}
	return out
}

// endpointPorts resolves a Service's ports on a pod; ports a pod lacks are
// left out.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	if len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return out
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, err := endpointutil.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, proto, port := sp.Name, sp.Protocol, int32(num)
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// hashOf is a stable digest of an object's deep printing.
func hashOf(obj interface{}) string {
	sum := sha256.Sum256([]byte(dump.ForHash(obj)))
	return hex.EncodeToString(sum[:16])
}

// portMapKey names a set of endpoint ports, whatever their order.
func portMapKey(ports []discoveryv1.EndpointPort) string {
	sorted := append([]discoveryv1.EndpointPort{}, ports...)
	hashes := make([]string, len(sorted))
	for i := range sorted {
		hashes[i] = hashOf(sorted[i])
	}
	sort.Strings(hashes)
	return hashOf(hashes)
}

// endpointKey identifies an endpoint across slices: its addresses,
// hostname and pod, so that changes of conditions or topology update it
// in place.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := append([]string{}, ep.Addresses...)
	sort.Strings(addrs)
	k := struct {
		Addresses                 []string
		Hostname, Namespace, Name string
	}{Addresses: addrs}
	if ep.Hostname != nil {
		k.Hostname = *ep.Hostname
	}
	if ep.TargetRef != nil {
		k.Namespace, k.Name = ep.TargetRef.Namespace, ep.TargetRef.Name
	}
	return hashOf(k)
}

// endpointSet is a set of endpoints by key.
type endpointSet map[string]*discoveryv1.Endpoint

func (s endpointSet) insert(ep *discoveryv1.Endpoint) { s[endpointKey(ep)] = ep }
func (s endpointSet) get(ep *discoveryv1.Endpoint) *discoveryv1.Endpoint {
	return s[endpointKey(ep)]
}
func (s endpointSet) remove(ep *discoveryv1.Endpoint) { delete(s, endpointKey(ep)) }

// pop takes an endpoint out of the set, in key order for determinism.
func (s endpointSet) pop() *discoveryv1.Endpoint {
	var first string
	for k := range s {
		if first == "" || k < first {
			first = k
		}
	}
	ep := s[first]
	delete(s, first)
	return ep
}

// endpointsEqualBeyondKey compares what endpointKey leaves out (hints
// are reconciled separately).
func endpointsEqualBeyondKey(a, b *discoveryv1.Endpoint) bool {
	return strPtrEqual(a.NodeName, b.NodeName) && strPtrEqual(a.Zone, b.Zone) &&
		boolPtrEqual(a.Conditions.Ready, b.Conditions.Ready) &&
		boolPtrEqual(a.Conditions.Serving, b.Conditions.Serving) &&
		boolPtrEqual(a.Conditions.Terminating, b.Conditions.Terminating) &&
		targetRefEqual(a.TargetRef, b.TargetRef)
}

func strPtrEqual(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func boolPtrEqual(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func targetRefEqual(a, b *corev1.ObjectReference) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return x == y
}

// newSlice is an empty slice of a Service for a port set and address type.
func newSlice(svc *corev1.Service, ports []discoveryv1.EndpointPort, addressType discoveryv1.AddressType) *discoveryv1.EndpointSlice {
	owner := metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			OwnerReferences: []metav1.OwnerReference{*owner},
		},
		Ports:       ports,
		AddressType: addressType,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	s.Labels, _ = sliceLabels(s, svc)
	return s
}

// slicePrefix is the generateName of a Service's slices.
func slicePrefix(service string) string {
	prefix := service + "-"
	if len(validation.NameIsDNSSubdomain(prefix, true)) != 0 {
		return service
	}
	return prefix
}

// ownedBy reports whether a slice belongs to a Service (this one, not an
// earlier Service of the same name).
func ownedBy(slice *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range slice.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// reservedLabel reports whether a label is the controller's own.
func reservedLabel(key string) bool {
	return key == discoveryv1.LabelServiceName || key == discoveryv1.LabelManagedBy || key == corev1.IsHeadlessService
}

// sliceLabels are the labels a slice of a Service must have: the
// Service's own, the headless label if it has no cluster IP, the service
// name and managed-by; true if the Service's own labels differ from the
// slice's.
func sliceLabels(slice *discoveryv1.EndpointSlice, svc *corev1.Service) (map[string]string, bool) {
	have, want := map[string]string{}, map[string]string{}
	for k, v := range slice.Labels {
		if !reservedLabel(k) {
			have[k] = v
		}
	}
	for k, v := range svc.Labels {
		if !reservedLabel(k) {
			want[k] = v
		}
	}
	changed := !maps.Equal(have, want)
	if !endpointutil.IsServiceIPSet(svc) {
		want[corev1.IsHeadlessService] = ""
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ManagedBy
	return want, changed
}

// addressTypes are the slice address types a Service needs: its IP
// families (both, for a headless Service that states none).
func addressTypes(svc *corev1.Service) map[discoveryv1.AddressType]bool {
	out := map[discoveryv1.AddressType]bool{}
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out[discoveryv1.AddressTypeIPv4] = true
		case corev1.IPv6Protocol:
			out[discoveryv1.AddressTypeIPv6] = true
		}
	}
	if len(out) > 0 {
		return out
	}
	if endpointutil.IsServiceIPSet(svc) {
		if utilnet.IsIPv6String(svc.Spec.ClusterIP) {
			out[discoveryv1.AddressTypeIPv6] = true
		} else {
			out[discoveryv1.AddressTypeIPv4] = true
		}
		return out
	}
	out[discoveryv1.AddressTypeIPv4] = true
	out[discoveryv1.AddressTypeIPv6] = true
	return out
}

// serviceKeyOf is the key of the Service a slice belongs to, from its
// label.
func serviceKeyOf(slice *discoveryv1.EndpointSlice) (string, error) {
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return "", fmt.Errorf("EndpointSlice missing %s label", discoveryv1.LabelServiceName)
	}
	return slice.Namespace + "/" + name, nil
}
