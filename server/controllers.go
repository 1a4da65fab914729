package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"

	"berth/pki"

	"berth/controller"
	"berth/controller/certificates"
	"berth/controller/cronjob"
	"berth/controller/daemonset"
	"berth/controller/deployment"
	"berth/controller/disruption"
	"berth/controller/dnsendpoints"
	"berth/controller/endpoints"
	"berth/controller/endpointslice"
	"berth/controller/gc"
	"berth/controller/ingressstatus"
	"berth/controller/job"
	"berth/controller/manager"
	"berth/controller/namespace"
	"berth/controller/nodeipam"
	"berth/controller/nodelifecycle"
	"berth/controller/nodelifecycle/tainteviction"
	"berth/controller/podgc"
	"berth/controller/replicaset"
	"berth/controller/rootcacert"
	"berth/controller/serviceaccount"
	"berth/controller/servicelb"
	"berth/controller/statefulset"
	"berth/controller/ttlafterfinished"
)

// availableControllers lists every controller the manager can run; cfg
// gives the node IPAM controller its ranges; ca is the cluster CA (the root
// CA publisher puts it in every namespace, the certificate signer signs
// with it).
func availableControllers(cfg Config, ca *pki.CA) []manager.Entry {
	var caPEM []byte
	if ca != nil {
		caPEM = ca.PEM
	}
	// Names are kube-controller-manager's (--controllers), berth's own
	// end in -controller too.
	return []manager.Entry{
		{Name: "deployment-controller", New: deployment.New},
		{Name: "replicaset-controller", New: replicaset.New},
		{Name: "garbage-collector-controller", New: gc.New},
		{Name: "namespace-controller", New: namespace.New},
		{Name: "serviceaccount-controller", New: serviceaccount.New},
		{Name: "root-ca-certificate-publisher-controller", New: func(s *controller.Shared) (controller.Controller, error) {
			return rootcacert.NewWithConfig(s, rootcacert.Config{RootCA: caPEM})
		}},
		{Name: "pod-garbage-collector-controller", New: podgc.New},
		{Name: "node-lifecycle-controller", New: nodelifecycle.New},
		{Name: "taint-eviction-controller", New: tainteviction.New},
		{Name: "endpoints-controller", New: endpoints.New},
		{Name: "endpointslice-controller", New: endpointslice.New},
		{Name: "disruption-controller", New: disruption.New},
		{Name: "certificatesigningrequest-approving-controller", New: certificates.NewApprover},
		{Name: "certificatesigningrequest-signing-controller", New: func(s *controller.Shared) (controller.Controller, error) {
			return certificates.NewWithConfig(s, certificates.Config{CA: ca})
		}},
		{Name: "certificatesigningrequest-cleaner-controller", New: certificates.NewCleaner},
		{Name: "statefulset-controller", New: statefulset.New},
		{Name: "daemonset-controller", New: daemonset.New},
		{Name: "job-controller", New: job.New},
		{Name: "cronjob-controller", New: cronjob.New},
		{Name: "ttl-after-finished-controller", New: ttlafterfinished.New},
		{Name: "node-ipam-controller", New: func(s *controller.Shared) (controller.Controller, error) {
			return nodeipam.NewWithConfig(s, nodeipam.Config{ClusterCIDR: cfg.ClusterCIDR, NodeCIDRMaskSize: cfg.NodeCIDRMaskSize})
		}},
		{Name: "service-lb-controller", New: servicelb.New},
		// berth's own: the status of its Ingresses, the endpoints of its
		// DNS.
		{Name: "ingress-status-controller", New: ingressstatus.New},
		{Name: "dns-endpoints-controller", New: dnsendpoints.New},
	}
}

// enabledControllers picks the controllers cfg.Controllers asks for:
// "*" (all), NAME, -NAME.
func enabledControllers(spec []string, cfg Config, ca *pki.CA) ([]manager.Entry, error) {
	all := availableControllers(cfg, ca)
	if len(spec) == 0 {
		spec = []string{"*"}
	}
	known := map[string]bool{}
	for _, e := range all {
		known[e.Name] = true
	}
	star := false
	on, off := map[string]bool{}, map[string]bool{}
	for _, s := range spec {
		switch name, neg := strings.CutPrefix(s, "-"); {
		case s == "*":
			star = true
		case !known[name]:
			return nil, fmt.Errorf("controllers: unknown controller %q", name)
		case neg:
			off[name] = true
		default:
			on[name] = true
		}
	}
	var out []manager.Entry
	for _, e := range all {
		if (star || on[e.Name]) && !off[e.Name] {
			out = append(out, e)
		}
	}
	return out, nil
}

// ControllerNames lists the controllers berth can run.
func ControllerNames() []string {
	var out []string
	for _, e := range availableControllers(Config{}, nil) {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

// identity names this process in leader elections.
func identity() string {
	h, _ := os.Hostname()
	return h + "_" + string(uuid.NewUUID())
}

// runControllers runs the controller manager until ctx ends.
func (s *Server) runControllers(ctx context.Context, rc *rest.Config, ca *pki.CA) error {
	entries, err := enabledControllers(s.cfg.Controllers, s.cfg, ca)
	if err != nil {
		return err
	}
	return manager.Run(ctx, manager.Config{
		Rest:        rc,
		Identity:    identity(),
		Controllers: entries,
		Options: controller.Options{
			NodeMonitorGracePeriod: s.cfg.NodeMonitorGracePeriod,
		},
		LeaseDuration: s.cfg.LeaseDuration, RenewDeadline: s.cfg.RenewDeadline, RetryPeriod: s.cfg.RetryPeriod,
		Logger: s.cfg.Logger.With("component", "controller-manager"),
	})
}
