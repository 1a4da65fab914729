// Package join is how a node joins a berth cluster, and the format of the
// token it joins with.
//
// A join token, printed by `berth token create`, reads
//
//	K10<hash>::<id>.<secret>
//
// (k3s's layout). <id>.<secret> is a Kubernetes bootstrap token, stored by
// the server as the Secret kube-system/bootstrap-token-<id>; <hash> is the
// hex SHA-256 of the cluster CA certificate's SubjectPublicKeyInfo, the
// value kubeadm's --discovery-token-ca-cert-hash carries as
// "sha256:<hash>".
//
// Join does what kubeadm's discovery and the kubelet's TLS bootstrap do
// together: read the public ConfigMap kube-public/cluster-info without
// trusting the server, keep the CA only if it matches the token's hash,
// then, trusting that CA alone, authenticate with the bootstrap token and
// ask for the node's client certificate (system:node:<name>, group
// system:nodes) through a CertificateSigningRequest; then, as the node,
// ask for a serving certificate for the agent's HTTPS port. The server's
// approver and signer controllers (controller/certificates) approve and
// sign both.
package join
