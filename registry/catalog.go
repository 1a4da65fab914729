package registry

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// serveTags lists a repository's tags (GET /v2/<name>/tags/list), sorted,
// paginated with n and last as the spec says.
func (r *Registry) serveTags(w http.ResponseWriter, req *http.Request, name string) error {
	if !r.store.repoExists(name) {
		return nameUnknown(name)
	}
	tags, err := r.store.tags(name)
	if err != nil {
		return err
	}
	page, next, err := paginate(req, tags)
	if err != nil {
		return err
	}
	if next != "" {
		setNextLink(w, "/v2/"+name+"/tags/list", len(page), next)
	}
	return writeJSON(w, req, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, page})
}

// serveCatalog lists the repositories (GET /v2/_catalog), paginated.
func (r *Registry) serveCatalog(w http.ResponseWriter, req *http.Request) error {
	repos, err := r.store.repositories()
	if err != nil {
		return err
	}
	page, next, err := paginate(req, repos)
	if err != nil {
		return err
	}
	if next != "" {
		setNextLink(w, "/v2/_catalog", len(page), next)
	}
	return writeJSON(w, req, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{page})
}

// paginate returns the sorted names after ?last=, at most ?n= of them, and
// the last one returned when more follow.
func paginate(req *http.Request, sorted []string) (page []string, next string, err error) {
	q := req.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(sorted, last)
		if i < len(sorted) && sorted[i] == last {
			i++
		}
		sorted = sorted[i:]
	}
	page = sorted
	if ns := q.Get("n"); ns != "" {
		n, err := strconv.Atoi(ns)
		if err != nil || n < 0 {
			return nil, "", newError(http.StatusBadRequest, codePaginationInvalid, fmt.Sprintf("invalid number of results %q", ns))
		}
		if n < len(sorted) {
			page = sorted[:n]
			if n > 0 {
				next = page[n-1]
			}
		}
	}
	if page == nil {
		page = []string{}
	}
	return page, next, nil
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}
