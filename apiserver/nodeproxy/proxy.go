package nodeproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultAgentPort is the agent's HTTPS port when a node publishes none
// (the kubelet's 10250).
const DefaultAgentPort = 10250

// NodeGetter reads Nodes.
type NodeGetter interface {
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// NodeGetterFunc adapts a function to NodeGetter.
type NodeGetterFunc func(ctx context.Context, name string) (*corev1.Node, error)

// GetNode calls f.
func (f NodeGetterFunc) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return f(ctx, name)
}

// Config configures a Proxy.
type Config struct {
	// ClientCert is the API server's client certificate for agents (common
	// name kube-apiserver-kubelet-client). Required.
	ClientCert tls.Certificate
	// RootCAs verifies the agents' serving certificates (the cluster CA).
	// Required.
	RootCAs *x509.CertPool
	// Nodes reads the Node a pod runs on. Required for the pod
	// subresources.
	Nodes NodeGetter
	// AddressTypes are the node address types to reach an agent at, in
	// order of preference. Default InternalIP, Hostname, InternalDNS,
	// ExternalIP, ExternalDNS.
	AddressTypes []corev1.NodeAddressType
	// DialTimeout bounds connecting to an agent. Default 10s.
	DialTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.ClientCert.Certificate) == 0 {
		return errors.New("node proxy: the API server's client certificate is required")
	}
	if c.RootCAs == nil {
		return errors.New("node proxy: the CA of the agents' certificates is required")
	}
	return nil
}

func (c *Config) defaults() {
	if len(c.AddressTypes) == 0 {
		c.AddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalIP, corev1.NodeExternalDNS}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Proxy forwards requests to node agents.
type Proxy struct {
	cfg       Config
	tlsConfig *tls.Config
	transport *http.Transport
}

// New returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{cfg.ClientCert},
		RootCAs:      cfg.RootCAs,
		MinVersion:   tls.VersionTLS12,
		// Upgraded connections need HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}
	return &Proxy{cfg: cfg, tlsConfig: tlsConfig, transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: cfg.DialTimeout,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 10,
	}}, nil
}

// Close drops idle connections to agents.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }

// agentURL returns the URL of path on the agent of the named node.
func (p *Proxy) agentURL(ctx context.Context, nodeName, path string, query url.Values) (*url.URL, error) {
	if p.cfg.Nodes == nil {
		return nil, errors.New("node proxy: no node getter configured")
	}
	node, err := p.cfg.Nodes.GetNode(ctx, nodeName)
	if err != nil {
		return nil, err
	}
	return p.nodeURL(node, path, query)
}

// nodeURL returns the URL of path on node's agent.
func (p *Proxy) nodeURL(node *corev1.Node, path string, query url.Values) (*url.URL, error) {
	host, err := p.address(node)
	if err != nil {
		return nil, err
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultAgentPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: query.Encode()}, nil
}

// address picks the node's address of the most preferred type.
func (p *Proxy) address(node *corev1.Node) (string, error) {
	for _, t := range p.cfg.AddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address, nil
			}
		}
	}
	return "", fmt.Errorf("no preferred addresses found; known addresses: %v", node.Status.Addresses)
}

// forward proxies r to target: a plain request streams its response back
// as it comes; an upgrade hands the connection through once the agent has
// switched protocols. It writes the response itself, errors included.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, target *url.URL) {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *target
			pr.Out.URL = &u
			pr.Out.Host = target.Host
			// The client's credentials are the API server's business,
			// not the agent's.
			for k := range pr.Out.Header {
				if k == "Authorization" || k == "Cookie" || strings.HasPrefix(k, "Impersonate-") {
					pr.Out.Header.Del(k)
				}
			}
			pr.SetXForwarded()
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.cfg.Logger.Debug("proxy to node agent failed", "url", target.Redacted(), "err", err)
			writeStatus(w, internalError(fmt.Errorf("error dialing backend: %w", err)))
		},
		ErrorLog: slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelDebug),
	}
	rp.ServeHTTP(w, r)
}

// internalError is a 500 Status with err's message as it is, which kubectl
// prints as "Error from server: MESSAGE".
func internalError(err error) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}}
}

// writeStatus answers with an error as a metav1.Status in JSON.
func writeStatus(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = internalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(&st)
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	w.Write(b)
}

// longRunning returns a context for a streaming request. Kubernetes does
// not time out logs, exec, attach, port-forward and proxy requests: a
// deadline the API server put on ctx is dropped, its cancellation (the
// client went away, the server stops) is kept.
func longRunning(ctx context.Context) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return out, func() {
		stop()
		cancel()
	}
}
