package registry

import (
	"net/http"
	"regexp"
	"strings"
)

// Grammar of the distribution spec.
var (
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	tagRE       = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	sha256RE    = regexp.MustCompile(`^[a-f0-9]{64}$`)
	digestRE    = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	uploadIDRE  = regexp.MustCompile(`^[a-f0-9]{32}$`)
)

// maxNameLength bounds a repository name, as distribution does.
const maxNameLength = 255

// validName reports whether name is a repository name: path components
// of lowercase letters and digits joined by separators.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLength {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if !componentRE.MatchString(c) {
			return false
		}
	}
	return true
}

func validTag(tag string) bool { return tagRE.MatchString(tag) }

// parseDigest checks a digest. Only sha256 is stored: a well-formed digest
// of another algorithm is valid but names nothing here (known false).
func parseDigest(d string) (hex string, known bool, err *apiError) {
	if !digestRE.MatchString(d) {
		return "", false, digestInvalid("invalid digest " + quote(d))
	}
	alg, enc, _ := strings.Cut(d, ":")
	if alg != "sha256" {
		return "", false, nil
	}
	if !sha256RE.MatchString(enc) {
		return "", false, digestInvalid("invalid sha256 digest " + quote(d))
	}
	return enc, true, nil
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + s + `"`
}

// Kinds of request below /v2/.
const (
	routeBase      = iota // /v2/
	routeCatalog          // /v2/_catalog
	routeTags             // /v2/<name>/tags/list
	routeManifest         // /v2/<name>/manifests/<reference>
	routeBlob             // /v2/<name>/blobs/<digest>
	routeUploads          // /v2/<name>/blobs/uploads/
	routeUpload           // /v2/<name>/blobs/uploads/<id>
	routeReferrers        // /v2/<name>/referrers/<digest>
)

// route is a parsed request path.
type route struct {
	kind int
	name string // repository
	ref  string // tag or digest, blob digest, or upload id
}

// parseRoute splits a path below /v2/. The repository name may contain
// slashes, so the path is read from its end.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: routeBase}, true
		}
		return route{}, false
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return route{kind: routeBase}, true
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}, true
	}
	parts := strings.Split(rest, "/")
	n := len(parts)
	switch {
	case n >= 3 && parts[n-2] == "tags" && parts[n-1] == "list":
		return route{kind: routeTags, name: join(parts[:n-2])}, true
	case n >= 3 && parts[n-2] == "manifests":
		return route{kind: routeManifest, name: join(parts[:n-2]), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "blobs" && parts[n-1] == "uploads":
		return route{kind: routeUploads, name: join(parts[:n-2])}, true
	case n >= 4 && parts[n-3] == "blobs" && parts[n-2] == "uploads":
		return route{kind: routeUpload, name: join(parts[:n-3]), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "blobs":
		return route{kind: routeBlob, name: join(parts[:n-2]), ref: parts[n-1]}, true
	case n >= 3 && parts[n-2] == "referrers":
		return route{kind: routeReferrers, name: join(parts[:n-2]), ref: parts[n-1]}, true
	}
	return route{}, false
}

func join(parts []string) string { return strings.Join(parts, "/") }

// IsRead reports whether req only reads the registry: a GET or HEAD below
// /v2/. The API server lets such requests through without credentials
// (containerd pulls anonymously); every other registry request needs an
// authenticated user. It fits apiserver.Config.Public as it is.
func IsRead(req *http.Request) bool {
	if req.URL.Path != "/v2" && !strings.HasPrefix(req.URL.Path, "/v2/") {
		return false
	}
	return req.Method == http.MethodGet || req.Method == http.MethodHead
}
