// Package openapi serves the OpenAPI documents of the berth API server:
// /openapi/v2 (Swagger 2.0, JSON or gnostic protobuf) and /openapi/v3 (an
// index of group versions, each with its own OpenAPI 3.0 document).
//
// Clients depend on these documents for more than documentation: kubectl
// explain prints them, kubectl apply and edit read the strategic-merge-patch
// metadata (x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key) from
// them, kubectl decides whether the server validates fields by looking for
// the fieldValidation parameter of the PATCH operation of a kind, and
// client-go builds structured-merge-diff type converters from them.
//
// Kubernetes generates its definitions at build time; berth derives them at
// run time from the Go types registered in the scheme (json tags, the
// generated SwaggerDoc descriptions, the patch struct tags), from the
// structured-merge-diff schema that client-go ships (list and map types,
// defaults) and from the values of the string types marked +enum, which
// `go generate` reads from the k8s.io/api sources into enums_generated.go.
// The documents are built lazily on the first request, cached as encoded
// bytes, and rebuilt after Invalidate, so resources added at run time
// (custom resources, which bring their own schema) can be published.
package openapi
