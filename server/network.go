package server

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"berth/controller/dnsendpoints"
	"berth/controller/ingressstatus"
)

// dnsServiceLabels are the labels of kube-dns, as Kubernetes' DNS add-ons
// set them.
var dnsServiceLabels = map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true"}

// dnsPorts are the ports of kube-dns: the agents' DNS servers listen on 53.
func dnsPorts() []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: dnsendpoints.PortDNS, Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(dnsendpoints.DefaultPort)},
		{Name: dnsendpoints.PortDNSTCP, Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(dnsendpoints.DefaultPort)},
	}
}

// bootstrapNetwork makes what cluster networking needs from the start: the
// DNS Service and the "berth" IngressClass. A DNS Service that cannot be
// made (its address taken by another Service, say) is logged, not fatal.
func (s *Server) bootstrapNetwork(ctx context.Context) error {
	if err := s.dnsService(ctx); err != nil {
		s.cfg.Logger.Error("cluster DNS service not created: pods of dnsPolicy ClusterFirst cannot resolve names",
			"service", dnsendpoints.DefaultNamespace+"/"+dnsendpoints.DefaultService, "clusterIP", s.cfg.ClusterDNS, "err", err)
	}
	return s.ingressClass(ctx)
}

// dnsService ensures kube-system/kube-dns: ClusterIP cfg.ClusterDNS, ports
// dns 53/UDP and dns-tcp 53/TCP, and no selector — the DNS servers run in
// the node agents, and the dns-endpoints controller points the Service at
// them. An existing Service keeps the user's changes: only missing labels
// and ports are put back, and one with a selector (DNS pods of the user's)
// is left as it is.
func (s *Server) dnsService(ctx context.Context) error {
	st := s.store("services")
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: dnsendpoints.DefaultService, Namespace: dnsendpoints.DefaultNamespace, Labels: maps.Clone(dnsServiceLabels)},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       s.cfg.ClusterDNS,
			ClusterIPs:      []string{s.cfg.ClusterDNS},
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports:           dnsPorts(),
		},
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		obj, err := st.Get(ctx, want.Namespace, want.Name)
		if apierrors.IsNotFound(err) {
			// Another server may create it meanwhile: look again then.
			if _, lastErr = st.Create(ctx, want.Namespace, want.DeepCopy(), &metav1.CreateOptions{FieldManager: bootstrapManager}); lastErr == nil {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		cur := obj.(*corev1.Service)
		if cur.Spec.Selector != nil {
			s.cfg.Logger.Info("kube-dns has a selector: its endpoints are left to the user's DNS pods", "selector", cur.Spec.Selector)
			return nil
		}
		if cur.Spec.ClusterIP != s.cfg.ClusterDNS {
			s.cfg.Logger.Warn("kube-dns keeps its cluster IP (immutable); delete the service to move it", "clusterIP", cur.Spec.ClusterIP, "clusterDNS", s.cfg.ClusterDNS)
		}
		upd, changed := repairDNSService(cur)
		if !changed {
			return nil
		}
		_, _, lastErr = st.Update(ctx, upd.Namespace, upd.Name, "", upd, &metav1.UpdateOptions{FieldManager: bootstrapManager})
		if lastErr == nil || !apierrors.IsConflict(lastErr) {
			return lastErr
		}
	}
	return lastErr
}

// repairDNSService puts back missing labels and ports of kube-dns.
func repairDNSService(cur *corev1.Service) (*corev1.Service, bool) {
	upd := cur.DeepCopy()
	changed := false
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	for k, v := range dnsServiceLabels {
		if _, ok := upd.Labels[k]; !ok {
			upd.Labels[k] = v
			changed = true
		}
	}
	for _, p := range dnsPorts() {
		present := false
		for _, q := range upd.Spec.Ports {
			if q.Name == p.Name || (q.Port == p.Port && q.Protocol == p.Protocol) {
				present = true
			}
		}
		if !present {
			upd.Spec.Ports = append(upd.Spec.Ports, p)
			changed = true
		}
	}
	return upd, changed
}

// ingressClass creates the IngressClass "berth" of the agents' ingress
// controller if it is absent, as the default class unless another class
// already is (two defaults would make class-less Ingresses ambiguous).
func (s *Server) ingressClass(ctx context.Context) error {
	st := s.store("ingressclasses.networking.k8s.io")
	_, err := st.Get(ctx, "", ingressstatus.DefaultClassName)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("ingress class %s: %w", ingressstatus.DefaultClassName, err)
	}
	list, err := st.List(ctx, "", &metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list ingress classes: %w", err)
	}
	isDefault := "true"
	for _, ic := range list.(*networkingv1.IngressClassList).Items {
		if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			isDefault = "false"
		}
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ingressstatus.DefaultClassName,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: isDefault},
		},
		Spec: networkingv1.IngressClassSpec{Controller: ingressstatus.DefaultController},
	}
	if _, err := st.Create(ctx, "", ic, &metav1.CreateOptions{FieldManager: bootstrapManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ingress class %s: %w", ic.Name, err)
	}
	return nil
}

// ClusterCIDR is the pod network (after defaults), for an agent run beside
// the server (`berth up`).
func (s *Server) ClusterCIDR() string { return s.cfg.ClusterCIDR }

// ClusterDNS is the ClusterIP of kube-dns (after defaults), the nameserver
// of pods with dnsPolicy ClusterFirst.
func (s *Server) ClusterDNS() string { return s.cfg.ClusterDNS }
