package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Manifest media types the registry stores.
const (
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestSize is the largest manifest accepted (the spec's 4 MiB).
const maxManifestSize = 4 << 20

func isIndex(mediaType string) bool {
	return mediaType == mediaOCIIndex || mediaType == mediaDockerList
}

func knownManifestType(mediaType string) bool {
	switch mediaType {
	case mediaOCIManifest, mediaOCIIndex, mediaDockerManifest, mediaDockerList:
		return true
	}
	return false
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// manifest holds the fields of an image manifest or index the registry
// reads; the stored bytes are never re-encoded from it.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// serveManifest handles /v2/<name>/manifests/<reference>.
func (r *Registry) serveManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return r.getManifest(w, req, rt)
	case http.MethodPut:
		return r.putManifestRequest(w, req, rt)
	case http.MethodDelete:
		return r.deleteManifest(w, rt)
	}
	return only(req)
}

// resolve finds a manifest of the repository by tag or digest.
func (r *Registry) resolve(name, ref string) (hex, mediaType string, err error) {
	if !r.store.repoExists(name) {
		return "", "", nameUnknown(name)
	}
	if strings.Contains(ref, ":") {
		h, known, aerr := parseDigest(ref)
		if aerr != nil {
			return "", "", aerr
		}
		if !known {
			return "", "", manifestUnknown(ref)
		}
		hex = h
	} else {
		if !validTag(ref) {
			return "", "", manifestUnknown(ref)
		}
		h, ok, err := r.store.resolveTag(name, ref)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return "", "", manifestUnknown(ref)
		}
		hex = h
	}
	mt, ok, err := r.store.manifestType(name, hex)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", manifestUnknown(ref)
	}
	return hex, mt, nil
}

func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	hex, mt, err := r.resolve(rt.name, rt.ref)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(r.store.blobPath(hex))
	if err != nil {
		return fmt.Errorf("manifest %s@sha256:%s: %w", rt.name, hex, err)
	}
	h := w.Header()
	h.Set("Content-Type", mt)
	h.Set("Docker-Content-Digest", "sha256:"+hex)
	h.Set("ETag", `"sha256:`+hex+`"`)
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(data))
	return nil
}

func (r *Registry) putManifestRequest(w http.ResponseWriter, req *http.Request, rt route) error {
	data, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	if err != nil {
		return newError(http.StatusBadRequest, codeManifestInvalid, "reading the manifest: "+err.Error())
	}
	if len(data) > maxManifestSize {
		return newError(http.StatusRequestEntityTooLarge, codeSizeInvalid, fmt.Sprintf("manifest larger than %d bytes", maxManifestSize))
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	digest, subject, err := r.putManifest(rt.name, rt.ref, ct, data)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", "/v2/"+rt.name+"/manifests/"+digest)
	h.Set("Docker-Content-Digest", digest)
	if subject != "" {
		h.Set("OCI-Subject", subject)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// putManifest validates and stores a manifest under ref (a tag or its
// digest) and returns its digest and its subject's, if any. contentType
// may be empty: the manifest's mediaType field then says.
func (r *Registry) putManifest(name, ref, contentType string, data []byte) (digest, subject string, err error) {
	var wantHex string
	isDigest := strings.Contains(ref, ":")
	if isDigest {
		h, known, aerr := parseDigest(ref)
		if aerr != nil {
			return "", "", aerr
		}
		if !known {
			return "", "", digestInvalid("only sha256 digests are supported")
		}
		wantHex = h
	} else if !validTag(ref) {
		return "", "", &apiError{Status: http.StatusBadRequest, Code: codeManifestInvalid, Message: "invalid tag", Detail: ref}
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return "", "", newError(http.StatusBadRequest, codeManifestInvalid, "manifest is not valid JSON: "+err.Error())
	}
	mt, aerr := manifestMediaType(contentType, &m)
	if aerr != nil {
		return "", "", aerr
	}
	unlock := r.store.repoLocks.lock(name)
	defer unlock()
	if aerr := r.checkReferences(name, mt, &m); aerr != nil {
		return "", "", aerr
	}
	hex, err := r.store.putBlob(name, bytes.NewReader(data), wantHex)
	if err != nil {
		return "", "", err
	}
	if cur, ok, _ := r.store.manifestType(name, hex); !ok || cur != mt {
		if err := r.store.writeSmall(r.store.manifestLink(name, hex), []byte(mt)); err != nil {
			return "", "", err
		}
	}
	digest = "sha256:" + hex
	if m.Subject != nil {
		subjectHex, _, _ := parseDigest(m.Subject.Digest)
		if subjectHex != "" {
			ref := referrer(mt, digest, int64(len(data)), &m)
			b, _ := json.Marshal(ref)
			if err := r.store.writeSmall(filepath.Join(r.store.referrersPath(name, subjectHex), hex), b); err != nil {
				return "", "", err
			}
		}
		subject = m.Subject.Digest
	}
	if !isDigest {
		if err := r.store.writeSmall(r.store.tagPath(name, ref), []byte(digest)); err != nil {
			return "", "", err
		}
	}
	r.log.Info("manifest stored", "repository", name, "reference", ref, "digest", digest)
	return digest, subject, nil
}

// manifestMediaType decides a pushed manifest's media type from the
// Content-Type and the manifest's own mediaType field.
func manifestMediaType(contentType string, m *manifest) (string, *apiError) {
	if m.SchemaVersion != 2 {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, fmt.Sprintf("schemaVersion %d is not supported (only 2)", m.SchemaVersion))
	}
	ct := contentType
	if ct == "" || ct == "application/json" || ct == "application/octet-stream" {
		ct = m.MediaType
	}
	if ct == "" {
		// OCI manifests may leave mediaType out.
		ct = mediaOCIManifest
		if m.Manifests != nil {
			ct = mediaOCIIndex
		}
	}
	if m.MediaType != "" && m.MediaType != ct {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, fmt.Sprintf("manifest mediaType %q does not match Content-Type %q", m.MediaType, ct))
	}
	if !knownManifestType(ct) {
		return "", newError(http.StatusBadRequest, codeManifestInvalid, fmt.Sprintf("unsupported manifest media type %q", ct))
	}
	return ct, nil
}

// checkReferences checks that the content a manifest refers to is in the
// repository: the config and layers of an image, the manifests of an
// index.
func (r *Registry) checkReferences(name, mt string, m *manifest) *apiError {
	var refs []descriptor
	if isIndex(mt) {
		refs = m.Manifests
	} else {
		if m.Config == nil {
			return newError(http.StatusBadRequest, codeManifestInvalid, "an image manifest needs a config")
		}
		refs = append([]descriptor{*m.Config}, m.Layers...)
	}
	for _, d := range refs {
		hex, known, aerr := parseDigest(d.Digest)
		if aerr != nil {
			return &apiError{Status: http.StatusBadRequest, Code: codeManifestInvalid, Message: "invalid digest in manifest", Detail: d.Digest}
		}
		if len(d.URLs) > 0 || strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, "foreign") {
			continue // stored elsewhere by design
		}
		unknown := &apiError{Status: http.StatusBadRequest, Code: codeManifestBlobUnknown, Message: "blob unknown to registry", Detail: d.Digest}
		if !known {
			return unknown
		}
		if isIndex(mt) {
			if _, ok, _ := r.store.manifestType(name, hex); !ok {
				unknown.Message = "manifest unknown to the repository"
				return unknown
			}
			continue
		}
		size, ok := r.store.repoBlob(name, hex)
		if !ok {
			return unknown
		}
		if size != d.Size {
			return &apiError{Status: http.StatusBadRequest, Code: codeManifestInvalid,
				Message: fmt.Sprintf("descriptor of %s says %d bytes, the blob has %d", d.Digest, d.Size, size)}
		}
	}
	return nil
}

// referrer is the descriptor of a manifest in its subject's referrers.
func referrer(mt, digest string, size int64, m *manifest) descriptor {
	at := m.ArtifactType
	if at == "" && m.Config != nil {
		at = m.Config.MediaType
	}
	return descriptor{MediaType: mt, Digest: digest, Size: size, ArtifactType: at, Annotations: m.Annotations}
}

// deleteManifest removes a tag, or a manifest with the tags pointing at it.
// The blobs stay (other manifests may share them).
func (r *Registry) deleteManifest(w http.ResponseWriter, rt route) error {
	if !r.store.repoExists(rt.name) {
		return nameUnknown(rt.name)
	}
	unlock := r.store.repoLocks.lock(rt.name)
	defer unlock()
	if !strings.Contains(rt.ref, ":") {
		if !validTag(rt.ref) {
			return manifestUnknown(rt.ref)
		}
		if err := os.Remove(r.store.tagPath(rt.name, rt.ref)); errors.Is(err, fs.ErrNotExist) {
			return manifestUnknown(rt.ref)
		} else if err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	hex, known, aerr := parseDigest(rt.ref)
	if aerr != nil {
		return aerr
	}
	if !known {
		return manifestUnknown(rt.ref)
	}
	if _, ok, err := r.store.manifestType(rt.name, hex); err != nil {
		return err
	} else if !ok {
		return manifestUnknown(rt.ref)
	}
	tags, err := r.store.tags(rt.name)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if h, ok, _ := r.store.resolveTag(rt.name, t); ok && h == hex {
			if err := os.Remove(r.store.tagPath(rt.name, t)); err != nil {
				return err
			}
		}
	}
	if data, err := os.ReadFile(r.store.blobPath(hex)); err == nil {
		var m manifest
		if json.Unmarshal(data, &m) == nil && m.Subject != nil {
			if sh, ok, _ := parseDigest(m.Subject.Digest); ok {
				os.Remove(filepath.Join(r.store.referrersPath(rt.name, sh), hex))
			}
		}
	}
	if err := os.Remove(r.store.manifestLink(rt.name, hex)); err != nil {
		return err
	}
	r.log.Info("manifest deleted", "repository", rt.name, "digest", rt.ref)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// serveReferrers lists the manifests whose subject is a digest (OCI 1.1),
// optionally only those of one artifactType.
func (r *Registry) serveReferrers(w http.ResponseWriter, req *http.Request, rt route) error {
	hex, known, aerr := parseDigest(rt.ref)
	if aerr != nil {
		return aerr
	}
	manifests := []descriptor{}
	filter := req.URL.Query().Get("artifactType")
	if known {
		dir := r.store.referrersPath(rt.name, hex)
		names, err := listNames(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue // deleted meanwhile
			}
			var d descriptor
			if err := json.Unmarshal(data, &d); err != nil {
				return fmt.Errorf("referrer %s: %w", n, err)
			}
			if filter == "" || d.ArtifactType == filter {
				manifests = append(manifests, d)
			}
		}
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, req, mediaOCIIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, mediaOCIIndex, manifests})
}

func writeJSON(w http.ResponseWriter, req *http.Request, contentType string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(data)
	}
	return nil
}
