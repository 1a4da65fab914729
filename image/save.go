package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Save writes an image to a tar archive as `docker save` of Docker 25+
// does: an OCI image layout (oci-layout, index.json, blobs/) naming the
// image, plus the manifest.json older `docker load` reads. The image's
// manifest is stored as it is, so Open and push keep its digest.
func Save(file, imageName string, img v1.Image) error {
	tag, err := name.NewTag(imageName)
	if err != nil {
		return fmt.Errorf("image name %q: %w", imageName, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".berth-save-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeArchive(tmp, tag, img); err != nil {
		tmp.Close()
		return fmt.Errorf("save %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func writeArchive(w io.Writer, tag name.Tag, img v1.Image) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(name string, data []byte) error { return add(name, int64(len(data)), bytes.NewReader(data)) }
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	full := strings.Replace(tag.Name(), name.DefaultRegistry+"/", "docker.io/", 1)
	if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	index, _ := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: mt, Digest: digest, Size: int64(len(manifest)),
			Annotations: map[string]string{annotationImageName: full, annotationRefName: tag.TagStr()},
		}},
	})
	if err := addBytes("index.json", index); err != nil {
		return err
	}
	legacy := []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: blob(configName), RepoTags: []string{tag.String()}}}
	if err := addBytes(blob(digest), manifest); err != nil {
		return err
	}
	if err := addBytes(blob(configName), config); err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		legacy[0].Layers = append(legacy[0].Layers, blob(d))
		if seen[d] {
			continue
		}
		seen[d] = true
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = add(blob(d), size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	lm, _ := json.Marshal(legacy)
	if err := addBytes("manifest.json", lm); err != nil {
		return err
	}
	return tw.Close()
}
