package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"k8s.io/client-go/rest"

	"berth/registry"
)

// listJobs bounds the requests List makes at once.
const listJobs = 8

// List returns the tagged images of the cluster registry, by repository
// and tag, read through the distribution API (catalog, tags, manifests and
// configs).
func List(ctx context.Context, cfg *rest.Config) ([]registry.Image, error) {
	reg, err := Registry(cfg)
	if err != nil {
		return nil, err
	}
	opts, err := Options(ctx, cfg)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, reg, opts...)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	var tags []name.Tag
	for _, r := range repos {
		repo := reg.Repo(r)
		ts, err := remote.List(repo, opts...)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", r, err)
		}
		for _, t := range ts {
			tags = append(tags, repo.Tag(t))
		}
	}
	out := make([]registry.Image, len(tags))
	errs := make([]error, len(tags))
	sem := make(chan struct{}, listJobs)
	var wg sync.WaitGroup
	for i, tag := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = describe(tag, opts)
		}()
	}
	wg.Wait()
	// Tags deleted while listing are left out.
	var images []registry.Image
	for i, err := range errs {
		switch {
		case err == nil:
			images = append(images, out[i])
		case !isNotFound(err):
			return nil, err
		}
	}
	sort.Slice(images, func(i, j int) bool {
		if images[i].Repository != images[j].Repository {
			return images[i].Repository < images[j].Repository
		}
		return images[i].Tag < images[j].Tag
	})
	return images, nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// describe reads a tag's manifest: digest, media type, size (manifests,
// configs and layers, each blob once) and creation time.
func describe(tag name.Tag, opts []remote.Option) (registry.Image, error) {
	desc, err := remote.Get(tag, opts...)
	if err != nil {
		return registry.Image{}, fmt.Errorf("read %s: %w", tag, err)
	}
	img := registry.Image{Repository: tag.RepositoryStr(), Tag: tag.TagStr(), Digest: desc.Digest.String(), MediaType: string(desc.MediaType), Size: desc.Size}
	seen := map[v1.Hash]bool{desc.Digest: true}
	add := func(i v1.Image) (v1.Time, error) {
		m, err := i.Manifest()
		if err != nil {
			return v1.Time{}, err
		}
		for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				img.Size += d.Size
			}
		}
		cf, err := i.ConfigFile()
		if err != nil {
			return v1.Time{}, err
		}
		return cf.Created, nil
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return img, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return img, err
		}
		for i, d := range im.Manifests {
			if !d.MediaType.IsImage() || seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			img.Size += d.Size
			child, err := idx.Image(d.Digest)
			if err != nil {
				return img, err
			}
			created, err := add(child)
			if err != nil {
				return img, err
			}
			if i == 0 || (d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64") {
				img.Created = created.Time
			}
		}
		return img, nil
	}
	i, err := desc.Image()
	if err != nil {
		return img, err
	}
	created, err := add(i)
	img.Created = created.Time
	return img, err
}
