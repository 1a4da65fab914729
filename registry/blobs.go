package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serveBlob answers GET and HEAD of a blob of the repository, with Range
// requests, and DELETE, which removes the blob from the repository (its
// content stays for the other repositories holding it).
func (r *Registry) serveBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	if err := only(req, http.MethodGet, http.MethodDelete); err != nil {
		return err
	}
	hex, known, aerr := parseDigest(rt.ref)
	if aerr != nil {
		return aerr
	}
	if !known {
		return blobUnknown(rt.ref)
	}
	if req.Method == http.MethodDelete {
		unlock := r.store.repoLocks.lock(rt.name)
		defer unlock()
		if err := os.Remove(r.store.blobLink(rt.name, hex)); errors.Is(err, fs.ErrNotExist) {
			return blobUnknown(rt.ref)
		} else if err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if _, ok := r.store.repoBlob(rt.name, hex); !ok {
		return blobUnknown(rt.ref)
	}
	f, err := os.Open(r.store.blobPath(hex))
	if errors.Is(err, fs.ErrNotExist) {
		return blobUnknown(rt.ref)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", rt.ref)
	h.Set("ETag", `"`+rt.ref+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	http.ServeContent(w, req, "", time.Time{}, f)
	return nil
}

// startUpload begins an upload (POST): a session for PATCH and PUT, a
// whole blob in one request when ?digest= is given, or a cross-repository
// mount (?mount=&from=) of a blob another repository holds (any
// repository, without from).
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, name string) error {
	q := req.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		hex, known, aerr := parseDigest(mount)
		if aerr != nil {
			return aerr
		}
		from := q.Get("from")
		if known && (from == "" || validName(from)) {
			_, ok := r.store.hasBlob(hex)
			if from != "" {
				_, ok = r.store.repoBlob(from, hex)
			}
			if ok {
				if err := r.store.linkBlob(name, hex); err != nil {
					return err
				}
				return blobCreated(w, name, mount)
			}
		}
		// Not mountable: an ordinary upload instead, as the spec says.
	}
	if d := q.Get("digest"); d != "" {
		hex, known, aerr := parseDigest(d)
		if aerr != nil {
			return aerr
		}
		if !known {
			return digestInvalid("only sha256 digests are supported")
		}
		if _, err := r.store.putBlob(name, req.Body, hex); err != nil {
			return err
		}
		return blobCreated(w, name, d)
	}
	id, err := newUploadID()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.store.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A body given with POST and no digest is the first chunk.
	if req.ContentLength > 0 {
		if _, err := r.appendUpload(id, req); err != nil {
			return err
		}
	}
	return r.uploadStatus(w, name, id, http.StatusAccepted)
}

// serveUpload handles an upload session: GET (status), PATCH (a chunk),
// PUT (the last chunk and the digest) and DELETE (cancel).
func (r *Registry) serveUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	id := rt.ref
	if !uploadIDRE.MatchString(id) {
		return uploadUnknown(id)
	}
	unlock := r.uploads.lock(id)
	defer unlock()
	path := r.store.uploadPath(id)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return uploadUnknown(id)
	} else if err != nil {
		return err
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return r.uploadStatus(w, rt.name, id, http.StatusNoContent)
	case http.MethodPatch:
		if _, err := r.appendUpload(id, req); err != nil {
			return err
		}
		return r.uploadStatus(w, rt.name, id, http.StatusAccepted)
	case http.MethodPut:
		return r.finishUpload(w, req, rt.name, id)
	case http.MethodDelete:
		if err := os.Remove(path); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return only(req)
}

// appendUpload adds the request body to the upload. A Content-Range must
// start where the upload ends (chunks come in order).
func (r *Registry) appendUpload(id string, req *http.Request) (int64, error) {
	f, err := os.OpenFile(r.store.uploadPath(id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != size || (req.ContentLength >= 0 && end-start+1 != req.ContentLength) {
			return 0, &apiError{Status: http.StatusRequestedRangeNotSatisfiable, Code: codeBlobUploadInvalid,
				Message: fmt.Sprintf("chunk %q does not continue the upload, which has %d bytes", cr, size)}
		}
	}
	n, err := io.Copy(f, req.Body)
	if err != nil {
		// Keep the upload as it was: a client resumes from its size.
		f.Truncate(size)
		return 0, &apiError{Status: http.StatusBadRequest, Code: codeBlobUploadInvalid, Message: "reading the chunk: " + err.Error()}
	}
	if req.ContentLength >= 0 && n != req.ContentLength {
		f.Truncate(size)
		return 0, newError(http.StatusBadRequest, codeSizeInvalid, "chunk shorter than its Content-Length")
	}
	return size + n, nil
}

// parseContentRange reads "start-end" (also accepting "bytes start-end").
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes ")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// finishUpload takes the last chunk, checks the digest and stores the blob.
func (r *Registry) finishUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	d := req.URL.Query().Get("digest")
	if d == "" {
		return digestInvalid("the digest query parameter is required to finish an upload")
	}
	want, known, aerr := parseDigest(d)
	if aerr != nil {
		return aerr
	}
	if !known {
		return digestInvalid("only sha256 digests are supported")
	}
	if req.ContentLength != 0 {
		if _, err := r.appendUpload(id, req); err != nil {
			return err
		}
	}
	path := r.store.uploadPath(id)
	got, err := hashFile(path)
	if err != nil {
		return err
	}
	if got != want {
		// The upload stays for the client to fix or cancel.
		return digestInvalid(fmt.Sprintf("uploaded content has digest sha256:%s, not %s", got, d))
	}
	if _, ok := r.store.hasBlob(got); ok {
		os.Remove(path)
	} else if err := moveSynced(path, r.store.blobPath(got)); err != nil {
		return err
	}
	if err := r.store.linkBlob(name, got); err != nil {
		return err
	}
	return blobCreated(w, name, d)
}

// moveSynced makes an upload a blob: synced data, then an atomic rename.
func moveSynced(from, to string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return renameSynced(from, to)
}

func blobCreated(w http.ResponseWriter, name, digest string) error {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+digest)
	h.Set("Docker-Content-Digest", digest)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// uploadStatus reports an upload's progress: its URL and the bytes held.
func (r *Registry) uploadStatus(w http.ResponseWriter, name, id string, status int) error {
	fi, err := os.Stat(r.store.uploadPath(id))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	h.Set("Docker-Upload-UUID", id)
	end := fi.Size() - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", fmt.Sprintf("0-%d", end))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

func newUploadID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
