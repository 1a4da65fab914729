// Package serviceaccount is berth's service account controller, as
// Kubernetes' (the "serviceaccount" controller of kube-controller-manager):
// every active namespace has a "default" ServiceAccount, created when the
// namespace appears and again whenever it is deleted. Pods that name no
// service account run as it.
package serviceaccount
