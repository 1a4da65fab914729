package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveHealth answers /livez, /readyz and /healthz (and /readyz/NAME for
// one check). ?verbose lists each check, as Kubernetes does.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	live := parts[0] == "livez"
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var b strings.Builder
	failed := false
	for _, c := range s.cfg.Checks {
		if len(parts) > 1 && parts[1] != c.Name {
			continue
		}
		var err error
		if !live {
			err = c.Check(ctx)
		}
		if err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), parts[0])
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", b.String(), parts[0])
		return
	}
	fmt.Fprint(w, "ok")
}
