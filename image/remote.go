package image

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/rest"

	"berth/registry"
)

// userAgent identifies berth's requests in the registry's logs.
const userAgent = "berth-image"

// Registry returns the cluster registry of a client configuration: the
// API server's host:port.
func Registry(cfg *rest.Config) (name.Registry, error) {
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return name.Registry{}, fmt.Errorf("server %q: not a URL", cfg.Host)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("server %q: %w", cfg.Host, err)
	}
	return reg, nil
}

// Reference returns where an image name (as pod specs write it) is in the
// cluster registry: "busybox" is REGISTRY/library/busybox:latest.
func Reference(cfg *rest.Config, image string) (name.Reference, error) {
	reg, err := Registry(cfg)
	if err != nil {
		return nil, err
	}
	repo, ref, err := registry.Split(image)
	if err != nil {
		return nil, err
	}
	r := reg.Repo(strings.Split(repo, "/")...)
	if strings.Contains(ref, ":") {
		return r.Digest(ref), nil
	}
	return r.Tag(ref), nil
}

// Normalize returns an image name as the registry stores it: repository
// path and tag ("busybox" is "library/busybox:latest") or digest.
func Normalize(image string) (string, error) {
	repo, ref, err := registry.Split(image)
	if err != nil {
		return "", err
	}
	if strings.Contains(ref, ":") {
		return repo + "@" + ref, nil
	}
	return repo + ":" + ref, nil
}

// Options are go-containerregistry's remote options for the cluster
// registry: the kubeconfig's transport (CA, client certificate or token).
func Options(ctx context.Context, cfg *rest.Config) ([]remote.Option, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("transport for %s: %w", cfg.Host, err)
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithUserAgent(userAgent)}, nil
}

// Push stores an image in the cluster registry under a name as pod specs
// write it and returns its digest (unchanged: what is pushed is the
// image's own manifest).
func Push(ctx context.Context, cfg *rest.Config, image string, img v1.Image) (v1.Hash, error) {
	ref, opts, err := target(ctx, cfg, image)
	if err != nil {
		return v1.Hash{}, err
	}
	if mounts(img) {
		// go-containerregistry before v0.21.9 races when it mounts a
		// layer while uploading others (its issue #2391): one at a time.
		opts = append(opts, remote.WithJobs(1))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", image, err)
	}
	return img.Digest()
}

// mounts reports whether pushing img may mount layers from another
// repository: layers read from a registry (a base image) are mounted.
func mounts(img v1.Image) bool {
	layers, err := img.Layers()
	if err != nil {
		return false
	}
	for _, l := range layers {
		if _, ok := l.(*remote.MountableLayer); ok {
			return true
		}
	}
	return false
}

// PushIndex stores an image index (a multi-platform image) and its images.
func PushIndex(ctx context.Context, cfg *rest.Config, image string, idx v1.ImageIndex) (v1.Hash, error) {
	ref, opts, err := target(ctx, cfg, image)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", image, err)
	}
	return idx.Digest()
}

// Pull reads an image of the cluster registry (the linux/amd64 image of
// an index).
func Pull(ctx context.Context, cfg *rest.Config, image string) (v1.Image, error) {
	ref, opts, err := target(ctx, cfg, image)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, append(opts, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", image, err)
	}
	return img, nil
}

func target(ctx context.Context, cfg *rest.Config, image string) (name.Reference, []remote.Option, error) {
	ref, err := Reference(cfg, image)
	if err != nil {
		return nil, nil, err
	}
	opts, err := Options(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return ref, opts, nil
}
