// Package validation checks core/v1 types that several API resources share:
// pod specs and pod templates with everything nested in them (containers,
// volumes, resources, probes, scheduling constraints, security contexts),
// following pkg/apis/core/validation of Kubernetes 1.33.
//
// Errors carry the same field paths, types and messages as Kubernetes, so a
// client sees the same 422 response. Feature-gated rules follow the default
// gates of Kubernetes 1.33. Object metadata (name, labels, annotations of the
// object itself) is checked by the generic store, not here; the labels and
// annotations of an embedded pod template are checked here.
package validation
