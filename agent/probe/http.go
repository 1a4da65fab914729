package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// newHTTPTransport is the transport of every HTTP probe: no keep-alive (a
// probe is one request), no proxy, no certificate verification (pods
// serve self-signed certificates), no compression.
func newHTTPTransport() *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet: probes do not verify
		DisableKeepAlives:   true,
		DisableCompression:  true,
		Proxy:               nil,
		DialContext:         probeDialer().DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// newHTTPRequest makes the request of an httpGet probe: scheme (default
// http), host (default the pod's IP), port (number or port name), path
// (with its query), headers (a Host header sets the request's host), and
// the kubelet's User-Agent and Accept unless the probe sets them (an
// empty Accept removes it).
func newHTTPRequest(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		// A path that does not parse is sent as it is.
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, kv := range g.HTTPHeaders {
		h.Add(kv.Name, kv.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", userAgent)
	}
	if _, ok := h["Accept"]; !ok {
		h.Set("Accept", "*/*")
	} else if h.Get("Accept") == "" {
		h.Del("Accept")
	}
	req.Header = h
	req.Host = h.Get("Host")
	return req, nil
}

// probeHTTP sends req: a 2xx answer is a success, 3xx a warning (a
// redirect to another host, not followed), anything else or no answer a
// failure.
func probeHTTP(t http.RoundTripper, req *http.Request, timeout time.Duration) (outcome, string, error) {
	client := &http.Client{Timeout: timeout, Transport: t, CheckRedirect: sameHostRedirects}
	res, err := client.Do(req)
	if err != nil {
		return failure, err.Error(), nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return failure, "", fmt.Errorf("read the response of %s: %w", req.URL, err)
	}
	body := string(b)
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return success, body, nil
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return warning, "Probe terminated redirects, Response body: " + body, nil
	}
	// As the kubelet, the message leaves out the body: it may hold secrets.
	return failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// sameHostRedirects follows redirects to the same host (at most 10), and
// stops at one to another host, whose 3xx answer the probe then returns.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
