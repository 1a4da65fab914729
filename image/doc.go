// Package image is the client side of the cluster registry, for
// `berth image` and for tests: it builds images (from a directory or a Go
// main package, on scratch or a base image of the cluster), reads images
// from files (OCI layouts and `docker save` tarballs, keeping their
// digests), and pushes, pulls and lists them in the registry that the API
// server serves under /v2/, authenticated with a kubeconfig's
// credentials. Image names are written as in pod specs ("busybox",
// "berth/demo:v1", "quay.io/org/app:1.0"): the registry mirrors every
// registry name, so only the repository path and tag matter.
package image
