package nodeproxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Node serves nodes/proxy: /api/v1/nodes/NAME/proxy/PATH (or
// .../proxy?path=PATH) goes to PATH on the node's agent, e.g.
// /stats/summary, with the rest of the query.
func (p *Proxy) Node(ctx context.Context, node *corev1.Node, w http.ResponseWriter, r *http.Request) error {
	path, query := proxyPath(r.URL, node.Name)
	target, err := p.nodeURL(node, path, query)
	if err != nil {
		return err
	}
	ctx, cancel := longRunning(ctx)
	defer cancel()
	if isTunnelRequest(r) {
		return p.tunnel(w, r.WithContext(ctx), target)
	}
	p.forward(w, r.WithContext(ctx), target)
	return nil
}

// proxyPath splits a nodes/proxy request URL into the path on the agent
// and the query to pass on: the path after ".../proxy", or else the path
// parameter (NodeProxyOptions.path).
func proxyPath(u *url.URL, node string) (string, url.Values) {
	query := u.Query()
	path := ""
	p := u.EscapedPath()
	marker := "/nodes/" + node + "/proxy/"
	if i := strings.Index(p, marker); i >= 0 {
		path = p[i+len(marker)-1:]
		if unescaped, err := url.PathUnescape(path); err == nil {
			path = unescaped
		}
	} else if query.Has("path") {
		path = query.Get("path")
		query.Del("path")
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return path, query
}
