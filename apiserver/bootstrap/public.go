package bootstrap

import (
	"net/http"
	"strings"
)

// ClusterInfoPath is where a joining node reads the cluster's discovery
// ConfigMap without credentials, as kubeadm publishes it.
const ClusterInfoPath = "/api/v1/namespaces/kube-public/configmaps/cluster-info"

// PublicClusterInfo reports whether r reads the cluster-info ConfigMap,
// which anyone may (the API server's Public hook): kubeadm's
// kubeadm:bootstrap-signer-clusterinfo role lets system:anonymous get it.
// It holds the server's address and CA certificate, nothing secret.
func PublicClusterInfo(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.TrimSuffix(r.URL.Path, "/") == ClusterInfoPath
}
