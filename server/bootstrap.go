package server

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"berth/apiserver/bootstrap"
	"berth/apiserver/registry/scheduling/priorityclass"
	"berth/join"
	"berth/pki"
)

// systemNamespaces exist from the start, as in Kubernetes.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrapManager is the field manager of objects the server maintains.
const bootstrapManager = "berth-apiserver"

// bootstrap creates what every cluster has from the start: the system
// namespaces, the "kubernetes" service pointing at this API server, the
// cluster DNS service and the default IngressClass.
func (s *Server) bootstrap(ctx context.Context, port int, ca *pki.CA) error {
	nss := s.store("namespaces")
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := nss.Create(ctx, "", ns, &metav1.CreateOptions{FieldManager: bootstrapManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	pcs := s.store("priorityclasses.scheduling.k8s.io")
	for _, pc := range priorityclass.SystemPriorityClasses() {
		if _, err := pcs.Create(ctx, "", pc, &metav1.CreateOptions{FieldManager: bootstrapManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	// kube-public/cluster-info lets joining nodes find the server and check
	// its CA against their token, as kubeadm sets it up.
	info := join.ClusterInfo(fmt.Sprintf("https://%s", net.JoinHostPort(s.advertiseIP(), strconv.Itoa(port))), ca.PEM)
	if err := s.ensure(ctx, "configmaps", info, func(cur runtime.Object) runtime.Object {
		c := cur.(*corev1.ConfigMap).DeepCopy()
		c.Data = info.Data
		return c
	}); err != nil {
		return err
	}
	if err := s.kubernetesService(ctx, port); err != nil {
		return err
	}
	return s.bootstrapNetwork(ctx)
}

// bootstrapTokens authenticates the bootstrap tokens of joining nodes.
func (s *Server) bootstrapTokens() (*bootstrap.Authenticator, error) {
	return bootstrap.New(bootstrap.Config{Logger: s.cfg.Logger, Secrets: bootstrap.SecretGetterFunc(
		func(ctx context.Context, ns, name string) (*corev1.Secret, error) {
			obj, err := s.store("secrets").Get(ctx, ns, name)
			if err != nil {
				return nil, err
			}
			return obj.(*corev1.Secret), nil
		})})
}

// kubernetesService makes default/kubernetes, the in-cluster address of the
// API server, with its Endpoints and EndpointSlice kept at this server's
// advertised address and port.
func (s *Server) kubernetesService(ctx context.Context, port int) error {
	ip, err := firstServiceIP(s.cfg.ServiceCIDR)
	if err != nil {
		return err
	}
	labels := map[string]string{"component": "apiserver", "provider": "kubernetes"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: labels},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       ip.String(),
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{
				Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(port)),
			}},
		},
	}
	if err := s.ensure(ctx, "services", svc, func(cur runtime.Object) runtime.Object {
		c := cur.(*corev1.Service).DeepCopy()
		c.Spec.Ports = svc.Spec.Ports
		return c
	}); err != nil {
		return err
	}
	addr := s.advertiseIP()
	if net.ParseIP(addr).IsLoopback() {
		// Endpoints may not point at loopback; pods could not reach it.
		s.cfg.Logger.Warn("no address to advertise the API server at: the kubernetes service has no endpoints", "address", addr)
		return nil
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.ensure(ctx, "endpoints", ep, func(cur runtime.Object) runtime.Object {
		c := cur.(*corev1.Endpoints).DeepCopy()
		c.Subsets = ep.Subsets
		return c
	}); err != nil {
		return err
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes",
			discoveryv1.LabelManagedBy:   "kube-apiserver",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	return s.ensure(ctx, "endpointslices.discovery.k8s.io", slice, func(cur runtime.Object) runtime.Object {
		c := cur.(*discoveryv1.EndpointSlice).DeepCopy()
		c.Endpoints, c.Ports = slice.Endpoints, slice.Ports
		return c
	})
}

// ensure creates obj, or brings the stored object in line with update, as
// Kubernetes maintains its own service: read first, create only if
// missing (a create would try to allocate what the stored object holds).
func (s *Server) ensure(ctx context.Context, resource string, obj runtime.Object, update func(cur runtime.Object) runtime.Object) error {
	st := s.store(resource)
	m := obj.(metav1.Object)
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := st.Get(ctx, m.GetNamespace(), m.GetName())
		if apierrors.IsNotFound(err) {
			_, err = st.Create(ctx, m.GetNamespace(), obj.DeepCopyObject(), &metav1.CreateOptions{FieldManager: bootstrapManager})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("create %s %s: %w", resource, m.GetName(), err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		_, _, err = st.Update(ctx, m.GetNamespace(), m.GetName(), "", update(cur), &metav1.UpdateOptions{FieldManager: bootstrapManager})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("update %s %s: %w", resource, m.GetName(), err)
		}
		return nil
	}
	return fmt.Errorf("%s %s keeps changing", resource, m.GetName())
}
