package certificates

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
)

// User names and groups the approver decides on.
const (
	nodeUserPrefix     = "system:node:"
	groupNodes         = "system:nodes"
	groupBootstrappers = "system:bootstrappers"
	groupMasters       = "system:masters"
)

// Approver approves the node certificate requests described in the package
// documentation.
type Approver struct {
	client kubernetes.Interface
	csrs   certlisters.CertificateSigningRequestLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	worker *controller.Worker
	n      int
	logger *slog.Logger
}

var _ controller.Controller = (*Approver)(nil)

// NewApprover returns the approving controller.
func NewApprover(s *controller.Shared) (controller.Controller, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "csrapproving")
	csrInf := s.Informers.Certificates().V1().CertificateSigningRequests()
	nodeInf := s.Informers.Core().V1().Nodes()
	a := &Approver{
		client: s.Client, csrs: csrInf.Lister(), nodes: nodeInf.Lister(), logger: logger,
		synced: []cache.InformerSynced{csrInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		n:      max(s.Options.Workers, 1),
	}
	a.worker = controller.NewWorker("certificatesigningrequest_approving", logger, a.sync)
	if _, err := csrInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { a.worker.AddObject(obj) },
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// Run approves until ctx ends.
func (a *Approver) Run(ctx context.Context) error {
	a.logger.Info("starting")
	defer a.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		return nil
	}
	a.worker.Run(ctx, a.n)
	return nil
}

func (a *Approver) sync(ctx context.Context, name string) error {
	csr, err := a.csrs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(csr.Status.Certificate) > 0 || hasCondition(csr, certificatesv1.CertificateApproved) || hasCondition(csr, certificatesv1.CertificateDenied) {
		return nil
	}
	req, err := parseRequest(csr.Spec.Request)
	if err != nil {
		// The API server validates requests; nothing to approve.
		return nil
	}
	ok, message := Decide(csr, req, a.otherNodeIPs(csr.Spec.Username))
	if !ok {
		if message != "" {
			a.logger.Debug("left for an administrator", "csr", name, "why", message)
		}
		return nil
	}
	csr = csr.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "AutoApproved", Message: message,
	})
	if _, err := a.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("approve %s: %w", name, err)
	}
	a.logger.Info("approved", "csr", name, "requestor", csr.Spec.Username, "signer", csr.Spec.SignerName)
	return nil
}

// otherNodeIPs returns the addresses of every node but the requesting
// user's: a node may not claim them in its serving certificate.
func (a *Approver) otherNodeIPs(user string) map[string]bool {
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	self := strings.TrimPrefix(user, nodeUserPrefix)
	out := map[string]bool{}
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		for _, addr := range n.Status.Addresses {
			if addr.Type == corev1.NodeInternalIP || addr.Type == corev1.NodeExternalIP {
				if ip := net.ParseIP(addr.Address); ip != nil {
					out[ip.String()] = true
				}
			}
		}
	}
	return out
}

// Decide says whether a request is approved automatically, with the
// approval message, or why not. takenIPs are addresses of other nodes.
//
//   - A node client certificate (subject CN=system:node:<name>,
//     O=system:nodes, no subject alternative names, client usages) from a
//     bootstrap token user or an administrator: approved, as Kubernetes'
//     "nodeclient" rule with its default roles.
//   - The same, requested by system:node:<name> itself: a renewal,
//     approved ("selfnodeclient").
//   - A node serving certificate requested by system:node:<name> itself,
//     for DNS name <name> and addresses no other node has.
func Decide(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest, takenIPs map[string]bool) (bool, string) {
	spec := csr.Spec
	switch spec.SignerName {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		if err := ValidateKubeletClient(req, spec.Usages); err != nil {
			return false, "not a node client certificate request: " + err.Error()
		}
		if spec.Username == req.Subject.CommonName && slices.Contains(spec.Groups, groupNodes) {
			return true, "Auto approving self kubelet client certificate: the node renews its own."
		}
		if slices.Contains(spec.Groups, groupBootstrappers) || slices.Contains(spec.Groups, groupMasters) {
			return true, "Auto approving kubelet client certificate for a joining node."
		}
		return false, fmt.Sprintf("%s may not ask for a client certificate of %s", spec.Username, req.Subject.CommonName)
	case certificatesv1.KubeletServingSignerName:
		if err := ValidateKubeletServing(req, spec.Usages); err != nil {
			return false, "not a node serving certificate request: " + err.Error()
		}
		if spec.Username != req.Subject.CommonName || !slices.Contains(spec.Groups, groupNodes) {
			return false, fmt.Sprintf("%s may not ask for a serving certificate of %s", spec.Username, req.Subject.CommonName)
		}
		node := strings.TrimPrefix(spec.Username, nodeUserPrefix)
		for _, n := range req.DNSNames {
			if n != node {
				return false, fmt.Sprintf("DNS name %q is not the node's name", n)
			}
		}
		for _, ip := range req.IPAddresses {
			if ip.IsUnspecified() || ip.IsMulticast() || takenIPs[ip.String()] {
				return false, fmt.Sprintf("address %s is not the node's", ip)
			}
		}
		return true, "Auto approving kubelet serving certificate: the node asks for its own name and addresses."
	}
	return false, ""
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			return true
		}
	}
	return false
}
