// Package ingressstatus writes status.loadBalancer of the Ingresses that
// berth's built-in ingress controller serves, as k3s's traefik publishes
// its addresses: the ingress controller runs in every node agent, so an
// Ingress is reachable at the InternalIP of every Ready node, and
// `kubectl get ingress` shows them under ADDRESS.
//
// An Ingress is berth's when its legacy kubernetes.io/ingress.class
// annotation, else its spec.ingressClassName, names the class "berth" (or
// any IngressClass whose spec.controller is "berth.dev/ingress"), or when
// it names no class and such a class carries
// ingressclass.kubernetes.io/is-default-class: "true" — the ingress controller's own
// rule (ingress.ClassesOf), shared so that the two always agree. Other Ingresses are not touched. The
// status follows the nodes (readiness, addresses, nodes added or
// removed) and the IngressClasses; it is written through the status
// subresource, only when it differs.
package ingressstatus
