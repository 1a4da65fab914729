package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"k8s.io/client-go/rest"

	"berth/pki"
)

// Identities of the control plane's own clients, as Kubernetes names them.
const (
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	kubeletClientUser     = "kube-apiserver-kubelet-client"
)

// loopbackConfig returns a client configuration for one of the server's
// own components: a client certificate for user (made in memory at each
// start), protobuf encoding, and rate limits that do not hold back the
// control plane.
func loopbackConfig(ca *pki.CA, port int, user string) (*rest.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	certPEM, err := ca.Issue(pki.Leaf{CommonName: user}, key.Public())
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: ca.PEM, CertData: certPEM, KeyData: keyPEM,
		},
		ContentConfig: rest.ContentConfig{
			ContentType:        "application/vnd.kubernetes.protobuf",
			AcceptContentTypes: "application/vnd.kubernetes.protobuf,application/json",
		},
		QPS:       -1,
		UserAgent: user,
	}, nil
}
