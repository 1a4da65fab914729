// Package registry is the cluster's image registry: an OCI distribution
// (v1.1) server that Docker, containerd and go-containerregistry push to and
// pull from. No public registry is reachable from a berth cluster, so every
// image a pod runs comes from here: the agents' containerd uses it as a
// mirror for every registry name, `berth image push` fills it, and the
// server stores the built-in images in it at start (EnsureBuiltins).
//
// Content lives under one directory:
//
//	blobs/sha256/<hex>                    every blob and manifest, by digest
//	repositories/<name>/_blobs/<hex>      a blob of the repository (empty file)
//	repositories/<name>/_manifests/<hex>  a manifest of the repository (its media type)
//	repositories/<name>/_tags/<tag>       the digest a tag points at
//	repositories/<name>/_referrers/<subject hex>/<hex>  OCI 1.1 referrers
//	uploads/<id>                          blob uploads in progress
//	tmp/                                  files being written
//
// Every file is written in tmp/, synced and renamed into place, and a tag is
// written only after its manifest and the manifest's blobs: a crash leaves
// at most unreferenced content, never a torn blob or a tag pointing at
// nothing. Pushed manifests are stored byte for byte, so digests never
// change.
//
// The server mounts the registry under /v2/ on the API server's port:
// reads are anonymous (containerd pulls without credentials, see IsRead),
// writes need an authenticated user.
package registry
