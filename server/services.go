package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/allocator"
	"berth/apiserver/registry"
	"berth/apiserver/registry/core/service"
)

// services allocates ClusterIPs and NodePorts for Services.
type services struct {
	ips   *allocator.Range
	ports *allocator.Range
}

func newServices(client *clientv3.Client, cfg Config) *services {
	cidr := netip.MustParsePrefix(cfg.ServiceCIDR)
	ips, err := allocator.NewIPRange(client, Root+"ranges/serviceips/", cidr)
	if err != nil {
		panic(err) // Validate checked the CIDR
	}
	first, last, _ := cfg.NodePortRange()
	return &services{ips: ips, ports: allocator.NewPortRange(client, Root+"ranges/servicenodeports/", first, last)}
}

// resource returns the services resource with allocation hooked in.
func (s *services) resource() *registry.Resource {
	r := service.Resource()
	r.BeginCreate = func(ctx context.Context, obj runtime.Object, dryRun bool) (func(bool), error) {
		return s.allocate(ctx, obj.(*corev1.Service), nil, dryRun)
	}
	r.BeginUpdate = func(ctx context.Context, obj, old runtime.Object, dryRun bool) (func(bool), error) {
		return s.allocate(ctx, obj.(*corev1.Service), old.(*corev1.Service), dryRun)
	}
	r.AfterDelete = func(ctx context.Context, obj runtime.Object) {
		svc := obj.(*corev1.Service)
		s.release(ctx, svc, held(svc))
	}
	return r
}

// allocation is what a service holds.
type allocation struct {
	ips   []string
	ports []int32
}

func held(svc *corev1.Service) allocation {
	var a allocation
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			a.ips = append(a.ips, ip)
		}
	}
	if len(a.ips) == 0 && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		a.ips = append(a.ips, svc.Spec.ClusterIP)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.ports = append(a.ports, p.NodePort)
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		a.ports = append(a.ports, svc.Spec.HealthCheckNodePort)
	}
	return a
}

// allocate gives svc the ClusterIP and NodePorts it needs (keeping what
// old held), and returns a function that releases, once the write's fate
// is known, what the write no longer needs or failed to keep.
func (s *services) allocate(ctx context.Context, svc, old *corev1.Service, dryRun bool) (func(bool), error) {
	owner := string(svc.UID)
	var before allocation
	if old != nil {
		before = held(old)
	}
	var fresh allocation
	fail := func(err error) (func(bool), error) {
		if !dryRun {
			s.release(ctx, svc, fresh)
		}
		return nil, err
	}
	if service.NeedsClusterIP(svc) {
		ip := svc.Spec.ClusterIP
		switch {
		case ip == "":
			got, err := s.ips.AllocateNext(ctx, owner, !dryRun)
			if err != nil {
				return fail(ipError(svc, ip, err, s.ips.Describe))
			}
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = got, []string{got}
			fresh.ips = append(fresh.ips, got)
		case !slices.Contains(before.ips, ip):
			if err := s.claim(ctx, s.ips, ip, owner, dryRun); err != nil {
				return fail(ipError(svc, ip, err, s.ips.Describe))
			}
			fresh.ips = append(fresh.ips, ip)
		}
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
	if service.NeedsNodePorts(svc) {
		byPort := map[string]int32{} // ports shared by protocols of one port number
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			key := strconv.Itoa(int(p.Port))
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			switch {
			case p.NodePort == 0 && byPort[key] != 0:
				p.NodePort = byPort[key]
			case p.NodePort == 0:
				got, err := s.ports.AllocateNext(ctx, owner, !dryRun)
				if err != nil {
					return fail(portError(svc.Name, path, 0, err, s.ports.Describe))
				}
				n, _ := strconv.Atoi(got)
				p.NodePort = int32(n)
				fresh.ports = append(fresh.ports, p.NodePort)
			case !slices.Contains(before.ports, p.NodePort) && !slices.Contains(fresh.ports, p.NodePort):
				if err := s.claim(ctx, s.ports, strconv.Itoa(int(p.NodePort)), owner, dryRun); err != nil {
					return fail(portError(svc.Name, path, p.NodePort, err, s.ports.Describe))
				}
				fresh.ports = append(fresh.ports, p.NodePort)
			}
			byPort[key] = p.NodePort
		}
	}
	if service.NeedsHealthCheckNodePort(svc) && svc.Spec.HealthCheckNodePort == 0 {
		got, err := s.ports.AllocateNext(ctx, owner, !dryRun)
		if err != nil {
			return fail(portError(svc.Name, field.NewPath("spec", "healthCheckNodePort"), 0, err, s.ports.Describe))
		}
		n, _ := strconv.Atoi(got)
		svc.Spec.HealthCheckNodePort = int32(n)
		fresh.ports = append(fresh.ports, svc.Spec.HealthCheckNodePort)
	}
	return func(ok bool) {
		if dryRun {
			return
		}
		if !ok {
			s.release(ctx, svc, fresh)
			return
		}
		// Release what the old service held and the new one does not.
		now := held(svc)
		var gone allocation
		for _, ip := range before.ips {
			if !slices.Contains(now.ips, ip) {
				gone.ips = append(gone.ips, ip)
			}
		}
		for _, p := range before.ports {
			if !slices.Contains(now.ports, p) {
				gone.ports = append(gone.ports, p)
			}
		}
		s.release(ctx, svc, gone)
	}, nil
}

func (s *services) claim(ctx context.Context, r *allocator.Range, member, owner string, dryRun bool) error {
	if !r.Contains(member) {
		return allocator.ErrNotInRange
	}
	if dryRun {
		free, err := r.Free(ctx, member, owner)
		if err == nil && !free {
			err = allocator.ErrAllocated
		}
		return err
	}
	return r.Allocate(ctx, member, owner)
}

func (s *services) release(ctx context.Context, svc *corev1.Service, a allocation) {
	owner := string(svc.UID)
	// Release even when the request's context has ended.
	ctx = context.WithoutCancel(ctx)
	for _, ip := range a.ips {
		_ = s.ips.Release(ctx, ip, owner)
	}
	for _, p := range a.ports {
		_ = s.ports.Release(ctx, strconv.Itoa(int(p)), owner)
	}
}

// ipError is the 422 Kubernetes answers a ClusterIP it cannot give with.
func ipError(svc *corev1.Service, ip string, err error, cidr string) error {
	name, path := svc.Name, field.NewPath("spec", "clusterIPs")
	var fe *field.Error
	switch {
	case errors.Is(err, allocator.ErrAllocated):
		fe = field.Invalid(path, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))
	case errors.Is(err, allocator.ErrNotInRange):
		fe = field.Invalid(path, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, cidr))
	case errors.Is(err, allocator.ErrFull):
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
	default:
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), name, field.ErrorList{fe})
}

// portError is the 422 Kubernetes answers a NodePort it cannot give with.
func portError(name string, path *field.Path, port int32, err error, ports string) error {
	var fe *field.Error
	switch {
	case errors.Is(err, allocator.ErrAllocated):
		fe = field.Invalid(path, port, "provided port is already allocated")
	case errors.Is(err, allocator.ErrNotInRange):
		fe = field.Invalid(path, port, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", ports))
	case errors.Is(err, allocator.ErrFull):
		return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
	default:
		return apierrors.NewInternalError(err)
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), name, field.ErrorList{fe})
}
