// Package networkpolicy describes networking.k8s.io/v1 NetworkPolicies to the
// generic store: the policyTypes and port protocol defaults, Kubernetes'
// validation of selectors, peers, ports and ipBlocks, and the
// `kubectl get netpol` columns.
package networkpolicy
