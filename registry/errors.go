package registry

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Error codes of the distribution spec.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnsupported         = "UNSUPPORTED"
	codePaginationInvalid   = "PAGINATION_NUMBER_INVALID"
	codeUnknown             = "UNKNOWN"
)

// apiError is an error as the distribution spec reports it: an HTTP
// status and a code with a message.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

// Errors a handler returns most often.
func blobUnknown(d string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeBlobUnknown, Message: "blob unknown to registry", Detail: d}
}

func manifestUnknown(ref string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeManifestUnknown, Message: "manifest unknown", Detail: ref}
}

func nameUnknown(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeNameUnknown, Message: "repository name not known to registry", Detail: name}
}

func digestInvalid(msg string) *apiError {
	return newError(http.StatusBadRequest, codeDigestInvalid, msg)
}

func uploadUnknown(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: codeBlobUploadUnknown, Message: "blob upload unknown to registry", Detail: id}
}

// writeError answers with err in the spec's JSON form ({"errors": [...]});
// errors that are not an *apiError are internal (500, UNKNOWN) and logged.
func (r *Registry) writeError(w http.ResponseWriter, req *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		r.log.Error("registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		e = newError(http.StatusInternalServerError, codeUnknown, "internal error")
	}
	body, _ := json.Marshal(struct {
		Errors []*apiError `json:"errors"`
	}{[]*apiError{e}})
	w.Header().Set("Content-Type", "application/json")
	if req.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	w.WriteHeader(e.Status)
	w.Write(body)
}
