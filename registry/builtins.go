package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"berth/images"
)

// EnsureBuiltins stores berth's built-in images: berth/pause:3.10,
// berth/demo:v1 and :v2 from the pause and demo programs, and
// busybox:latest from the static busybox at busyboxPath (skipped when
// busyboxPath is empty). An image whose tag already points at the same
// digest is left alone. Building the images compresses their layers (a
// few hundred milliseconds), so the digests are remembered with the
// inputs they came from (the programs, busybox and this berth binary):
// with the same inputs and the tags still in place, nothing is built.
func EnsureBuiltins(r *Registry, pause, demo []byte, busyboxPath string) error {
	builds := map[string]func() (v1.Image, error){
		images.Pause:  func() (v1.Image, error) { return images.PauseImage(pause) },
		images.DemoV1: func() (v1.Image, error) { return images.DemoImage(demo, "v1") },
		images.DemoV2: func() (v1.Image, error) { return images.DemoImage(demo, "v2") },
	}
	if busyboxPath != "" {
		builds[images.Busybox] = func() (v1.Image, error) { return images.BusyboxImage(busyboxPath, pause) }
	}
	key, err := builtinsKey(pause, demo, busyboxPath)
	if err != nil {
		return err
	}
	memo := filepath.Join(r.store.dir, "builtins.json")
	if r.builtinsPresent(memo, key, len(builds)) {
		return nil
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		digests = map[string]string{}
	)
	for ref, build := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := r.ensure(ref, build)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			digests[ref] = d
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	data, _ := json.Marshal(builtinsMemo{Key: key, Digests: digests})
	return r.store.writeSmall(memo, data)
}

// builtinsMemo records the digests of the built-in images built from
// inputs of one key.
type builtinsMemo struct {
	Key     string
	Digests map[string]string
}

// builtinsPresent reports whether the memo was written for these inputs
// and every tag still points at its digest.
func (r *Registry) builtinsPresent(memo, key string, n int) bool {
	data, err := os.ReadFile(memo)
	if err != nil {
		return false
	}
	var m builtinsMemo
	if json.Unmarshal(data, &m) != nil || m.Key != key || len(m.Digests) != n {
		return false
	}
	for ref, d := range m.Digests {
		repo, tag, err := Split(ref)
		if err != nil {
			return false
		}
		if hex, _, err := r.resolve(repo, tag); err != nil || "sha256:"+hex != d {
			return false
		}
	}
	return true
}

// builtinsKey identifies the inputs of the built-in images: the programs,
// busybox, and the running binary (whose code builds them).
func builtinsKey(pause, demo []byte, busyboxPath string) (string, error) {
	h := sha256.New()
	for _, b := range [][]byte{pause, demo} {
		s := sha256.Sum256(b)
		h.Write(s[:])
	}
	if busyboxPath != "" {
		bb, err := os.ReadFile(busyboxPath)
		if err != nil {
			return "", fmt.Errorf("busybox: %w", err)
		}
		s := sha256.Sum256(bb)
		h.Write(s[:])
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%s %d %d", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ensure builds an image and stores it unless its tag already points at
// the same digest; it returns the digest.
func (r *Registry) ensure(ref string, build func() (v1.Image, error)) (string, error) {
	img, err := build()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", ref, err)
	}
	repo, tag, err := Split(ref)
	if err != nil {
		return "", err
	}
	if hex, _, err := r.resolve(repo, tag); err == nil && hex == d.Hex {
		return d.String(), nil
	}
	if err := r.Put(ref, img); err != nil {
		return "", err
	}
	r.log.Info("built-in image stored", "image", ref, "digest", d.String())
	return d.String(), nil
}
