// Package certificates holds berth's CertificateSigningRequest controllers,
// as kube-controller-manager's csrapproving, csrsigning and csrcleaner:
//
//   - the approver approves what joining and running nodes ask for: node
//     client certificates (signer kubernetes.io/kube-apiserver-client-kubelet)
//     requested with a bootstrap token (system:bootstrappers) or renewed by
//     the node itself (system:nodes), as upstream; and, unlike upstream
//     (which leaves them to an administrator), node serving certificates
//     (kubernetes.io/kubelet-serving) that a node asks for its own name and
//     addresses, so that the agent's HTTPS port is verifiable without a
//     manual step, which is what k3s effectively does. Anything else stays
//     pending for `kubectl certificate approve|deny`.
//   - the signer issues approved requests of those two signers and of
//     kubernetes.io/kube-apiserver-client with the cluster CA.
//   - the cleaner deletes requests once they are of no more use.
package certificates
