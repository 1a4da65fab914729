package server

import (
	"berth/apiserver/registry"
	"berth/apiserver/registry/apps/controllerrevision"
	"berth/apiserver/registry/apps/daemonset"
	"berth/apiserver/registry/apps/deployment"
	"berth/apiserver/registry/apps/replicaset"
	"berth/apiserver/registry/apps/statefulset"
	"berth/apiserver/registry/autoscaling/hpa"
	"berth/apiserver/registry/batch/cronjob"
	"berth/apiserver/registry/batch/job"
	"berth/apiserver/registry/certificates/csr"
	"berth/apiserver/registry/coordination/lease"
	"berth/apiserver/registry/core/configmap"
	"berth/apiserver/registry/core/endpoints"
	"berth/apiserver/registry/core/event"
	"berth/apiserver/registry/core/limitrange"
	"berth/apiserver/registry/core/namespace"
	"berth/apiserver/registry/core/resourcequota"
	"berth/apiserver/registry/core/secret"
	"berth/apiserver/registry/discovery/endpointslice"
	eventsv1 "berth/apiserver/registry/events/event"
	"berth/apiserver/registry/networking/ingress"
	"berth/apiserver/registry/networking/ingressclass"
	"berth/apiserver/registry/networking/networkpolicy"
	"berth/apiserver/registry/policy/pdb"
	"berth/apiserver/registry/rbac/clusterrole"
	"berth/apiserver/registry/rbac/clusterrolebinding"
	"berth/apiserver/registry/rbac/role"
	"berth/apiserver/registry/rbac/rolebinding"
	"berth/apiserver/registry/scheduling/priorityclass"
)

// builtinResources lists the resources every server serves, in the order
// of Kubernetes' discovery: core first, then the groups by priority.
// Resources that share storage come after the one that owns it.
func (s *Server) builtinResources() []*registry.Resource {
	return []*registry.Resource{
		// core/v1
		namespace.Resource(),
		s.podResource(),
		s.services.resource(),
		endpoints.Resource(),
		configmap.Resource(),
		secret.Resource(),
		s.nodeResource(),
		event.ResourceWithTTL(int64(s.cfg.EventTTL.Seconds())),
		s.serviceAccountResource(),
		limitrange.Resource(),
		resourcequota.Resource(),
		// apps/v1
		deployment.Resource(),
		replicaset.Resource(),
		statefulset.Resource(),
		daemonset.Resource(),
		controllerrevision.Resource(),
		// events.k8s.io/v1, stored as core/v1 events
		eventsv1.Resource(),
		// autoscaling/v2
		hpa.Resource(),
		// batch/v1
		job.Resource(),
		cronjob.Resource(),
		// certificates.k8s.io/v1
		csr.Resource(),
		// networking.k8s.io/v1
		ingress.Resource(),
		ingressclass.Resource(),
		networkpolicy.Resource(),
		// policy/v1
		pdb.Resource(),
		// rbac.authorization.k8s.io/v1
		role.Resource(),
		rolebinding.Resource(),
		clusterrole.Resource(),
		clusterrolebinding.Resource(),
		// scheduling.k8s.io/v1
		priorityclass.Resource(),
		// coordination.k8s.io/v1
		lease.Resource(),
		// discovery.k8s.io/v1
		endpointslice.Resource(),
	}
}
