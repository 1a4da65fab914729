package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/apiserver/nodeproxy"
	"berth/apiserver/registry"
	"berth/apiserver/registry/core/node"
	"berth/apiserver/registry/core/pod"
	"berth/pki"
)

// podResource returns pods with their binding and eviction subresources,
// and log, exec, attach and portforward proxied to the node agents.
func (s *Server) podResource() *registry.Resource {
	r := pod.Resource()
	r.Extra = append(r.Extra, pod.Binding(), pod.Eviction(disruptionBudgets{s}))
	r.Extra = append(r.Extra, pod.Connect(s.nodeProxy)...)
	return r
}

// nodeResource returns nodes with nodes/proxy to their agents.
func (s *Server) nodeResource() *registry.Resource {
	r := node.Resource()
	r.Extra = append(r.Extra, node.Proxy(s.nodeProxy))
	return r
}

// newNodeProxy makes the API server's client of the node agents: the
// kube-apiserver-kubelet-client certificate (made at each start), trusting
// agents whose serving certificates the cluster CA signed.
func (s *Server) newNodeProxy(ca *pki.CA) (*nodeproxy.Proxy, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.Issue(pki.Leaf{CommonName: kubeletClientUser}, key.Public())
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return nodeproxy.New(nodeproxy.Config{
		ClientCert: pair,
		RootCAs:    pool,
		Nodes: nodeproxy.NodeGetterFunc(func(ctx context.Context, name string) (*corev1.Node, error) {
			obj, err := s.store("nodes").GetCached(ctx, "", name)
			if err != nil {
				return nil, err
			}
			return obj.(*corev1.Node), nil
		}),
		Logger: s.cfg.Logger.With("component", "nodeproxy"),
	})
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
