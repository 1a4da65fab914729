// Package apiserver is berth's Kubernetes API server: HTTPS, authentication
// and the authorizer seam, discovery, content negotiation (JSON, YAML,
// protobuf, server-side tables), and the resource verbs, which it hands to
// the generic store of each resource.
package apiserver
