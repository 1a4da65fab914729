package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Split maps an image name as a pod spec writes it to the repository and
// reference (tag or digest) the registry stores it under: the path a
// mirror requests. Docker Hub names are normalized ("busybox" is
// "library/busybox", tag "latest"); other registries' names keep their
// path ("quay.io/foo/bar:1" is "foo/bar", "1").
func Split(image string) (repository, reference string, err error) {
	ref, err := name.ParseReference(image)
	if err != nil && image != "" && !strings.Contains(image, "/") {
		// go-containerregistry wants two characters at least, Docker
		// Hub's "library/" included: "a" is "library/a".
		if r, err2 := name.ParseReference("library/" + image); err2 == nil {
			ref, err = r, nil
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("image name %q: %w", image, err)
	}
	return ref.Context().RepositoryStr(), ref.Identifier(), nil
}

// Put stores an image under a name as pod specs write it ("busybox",
// "berth/demo:v1", "example.com/app@sha256:..."), in process: its layers,
// config and manifest, byte for byte.
func (r *Registry) Put(image string, img v1.Image) error {
	repo, ref, err := Split(image)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	for _, l := range layers {
		if err := r.putLayer(repo, l); err != nil {
			return fmt.Errorf("put %s: %w", image, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	if _, err := r.store.putBlob(repo, bytes.NewReader(raw), cfgName.Hex); err != nil {
		return fmt.Errorf("put %s: config: %w", image, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	if _, _, err := r.putManifest(repo, ref, string(mt), manifest); err != nil {
		return fmt.Errorf("put %s: %w", image, err)
	}
	return nil
}

func (r *Registry) putLayer(repo string, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	if d.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: only sha256 digests are supported", d)
	}
	if _, ok := r.store.hasBlob(d.Hex); ok {
		return r.store.linkBlob(repo, d.Hex)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	defer rc.Close()
	if _, err := r.store.putBlob(repo, rc, d.Hex); err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	return nil
}

// Image is a tagged image of the registry.
type Image struct {
	// Repository as stored, e.g. "library/busybox" or "berth/demo".
	Repository string
	Tag        string
	// Digest of the manifest (or index), "sha256:...".
	Digest    string
	MediaType string
	// Size is the bytes the image takes in the registry: manifest, config
	// and (compressed) layers; for an index, those of all its images.
	Size int64
	// Created is the image config's creation time (of the linux/amd64
	// image of an index); zero when unknown.
	Created time.Time
}

// Name is the image's name as a pod spec writes it: "busybox:latest" for
// library/busybox, else repository:tag.
func (i Image) Name() string {
	repo := i.Repository
	if short, ok := strings.CutPrefix(repo, "library/"); ok && !strings.Contains(short, "/") {
		repo = short
	}
	return repo + ":" + i.Tag
}

// List returns every tagged image, by repository and tag.
func (r *Registry) List() ([]Image, error) {
	repos, err := r.store.repositories()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, repo := range repos {
		tags, err := r.store.tags(repo)
		if err != nil {
			return nil, err
		}
		for _, tag := range tags {
			hex, mt, err := r.resolve(repo, tag)
			if err != nil {
				continue // deleted meanwhile
			}
			img := Image{Repository: repo, Tag: tag, Digest: "sha256:" + hex, MediaType: mt}
			img.Size, img.Created = r.describe(hex, map[string]bool{}, 0)
			out = append(out, img)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Repository != out[j].Repository {
			return out[i].Repository < out[j].Repository
		}
		return out[i].Tag < out[j].Tag
	})
	return out, nil
}

// describe sums the sizes of the manifest hex and what it refers to
// (counting each blob once) and finds the image's creation time.
func (r *Registry) describe(hex string, seen map[string]bool, depth int) (int64, time.Time) {
	var created time.Time
	if seen[hex] || depth > 2 {
		return 0, created
	}
	seen[hex] = true
	data, err := os.ReadFile(r.store.blobPath(hex))
	if err != nil {
		return 0, created
	}
	size := int64(len(data))
	var m manifest
	if json.Unmarshal(data, &m) != nil {
		return size, created
	}
	if m.Manifests != nil {
		for i, d := range m.Manifests {
			h, ok, _ := parseDigest(d.Digest)
			if !ok {
				continue
			}
			s, c := r.describe(h, seen, depth+1)
			size += s
			amd64 := d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64"
			if i == 0 || amd64 {
				created = c
			}
		}
		return size, created
	}
	refs := m.Layers
	if m.Config != nil {
		refs = append([]descriptor{*m.Config}, refs...)
		if h, ok, _ := parseDigest(m.Config.Digest); ok {
			created = r.created(h)
		}
	}
	for _, d := range refs {
		if h, ok, _ := parseDigest(d.Digest); ok && !seen[h] {
			seen[h] = true
			size += d.Size
		}
	}
	return size, created
}

// created reads the creation time of an image config.
func (r *Registry) created(hex string) time.Time {
	data, err := os.ReadFile(r.store.blobPath(hex))
	if err != nil {
		return time.Time{}
	}
	var cfg struct {
		Created time.Time `json:"created"`
	}
	json.Unmarshal(data, &cfg)
	return cfg.Created
}
