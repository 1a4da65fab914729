package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// blob is one encoded document, kept as bytes: the model it was rendered
// from is dropped once rendered.
type blob struct {
	data     []byte
	etag     string
	modified time.Time

	gzOnce sync.Once
	gz     []byte
}

func newBlob(data []byte) *blob {
	return &blob{data: data, etag: fmt.Sprintf("%X", sha512.Sum512(data)), modified: time.Now()}
}

// gzipped returns the data gzip-compressed, compressing it on first use.
func (b *blob) gzipped() []byte {
	b.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := zw.Write(b.data); err == nil && zw.Close() == nil {
			b.gz = buf.Bytes()
		}
	})
	return b.gz
}

// generation holds the documents of one set of resources. Each document
// is built on first use; Invalidate starts a new generation.
type generation struct {
	scheme       *runtime.Scheme
	listResource func() []Resource

	mu        sync.Mutex
	resources []Resource
	listed    bool
	merge     *mergeInfo
	v2        *blob
	v2pb      *blob
	v3        map[string]*blob // by index key: "api/v1", "apis/apps/v1", ...
	v3pb      map[string]*blob
	index     *blob
}

func (g *generation) snapshotLocked() ([]Resource, *mergeInfo, error) {
	if !g.listed {
		g.resources = g.listResource()
		g.listed = true
	}
	if g.merge == nil {
		m, err := builtinMergeInfo(g.scheme)
		if err != nil {
			return nil, nil, err
		}
		g.merge = m
	}
	return g.resources, g.merge, nil
}

func (g *generation) build(f flavor) (*model, error) {
	resources, merge, err := g.snapshotLocked()
	if err != nil {
		return nil, err
	}
	m, problems := buildModel(f, g.scheme, resources, merge)
	for _, p := range problems {
		slog.Warn("openapi: resource left out", "problem", p)
	}
	return m, nil
}

// v2JSON returns the Swagger 2.0 document.
func (g *generation) v2JSON() (*blob, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v2JSONLocked()
}

func (g *generation) v2JSONLocked() (*blob, error) {
	if g.v2 != nil {
		return g.v2, nil
	}
	m, err := g.build(flavor{})
	if err != nil {
		return nil, err
	}
	data, err := swagger(m).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode openapi v2: %w", err)
	}
	g.v2 = newBlob(data)
	return g.v2, nil
}

// v2Proto returns the Swagger 2.0 document as gnostic protobuf.
func (g *generation) v2Proto() (*blob, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.v2pb != nil {
		return g.v2pb, nil
	}
	j, err := g.v2JSONLocked()
	if err != nil {
		return nil, err
	}
	pb, err := v2Protobuf(j.data)
	if err != nil {
		return nil, err
	}
	g.v2pb = &blob{data: pb, etag: j.etag, modified: j.modified}
	return g.v2pb, nil
}

// v3DocsLocked builds every v3 document and the index that lists them:
// the index carries each document's hash, so they are built together.
func (g *generation) v3DocsLocked() error {
	if g.v3 != nil {
		return nil
	}
	m, err := g.build(flavor{v3: true})
	if err != nil {
		return err
	}
	docs := make(map[string]*blob, len(m.docs))
	keys := make([]string, 0, len(m.docs))
	for key := range m.docs {
		data, err := openAPIV3(m, key).MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode openapi v3 %s: %w", key, err)
		}
		docs[key] = newBlob(data)
		keys = append(keys, key)
	}
	sort.Strings(keys)
	type entry struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}
	index := struct {
		Paths map[string]entry `json:"paths"`
	}{Paths: map[string]entry{}}
	for _, key := range keys {
		index.Paths[key] = entry{ServerRelativeURL: v3URL(key, docs[key].etag)}
	}
	data, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode openapi v3 index: %w", err)
	}
	g.v3 = docs
	g.v3pb = map[string]*blob{}
	g.index = newBlob(data)
	return nil
}

func v3URL(key, etag string) string {
	u := url.URL{Path: "/openapi/v3/" + key, RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}

// v3Index returns the index of the v3 documents.
func (g *generation) v3Index() (*blob, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.v3DocsLocked(); err != nil {
		return nil, err
	}
	return g.index, nil
}

// v3Doc returns the v3 document of key, as JSON or gnostic protobuf; nil
// if there is no such document.
func (g *generation) v3Doc(key string, protobuf bool) (*blob, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.v3DocsLocked(); err != nil {
		return nil, err
	}
	j, ok := g.v3[key]
	if !ok || !protobuf {
		return j, nil
	}
	if pb, ok := g.v3pb[key]; ok {
		return pb, nil
	}
	data, err := v3Protobuf(j.data)
	if err != nil {
		return nil, err
	}
	pb := &blob{data: data, etag: j.etag, modified: j.modified}
	g.v3pb[key] = pb
	return pb, nil
}
