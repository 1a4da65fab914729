package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// WebSocket subprotocols of the CRI streaming servers (the kubelet's
// streaming library, which containerd 1.6 embeds): the channel protocols
// up to version 4, and none at all (""). Version 5 (v5.channel.k8s.io,
// which adds closing stdin) and SPDY tunnelled over WebSocket are not
// among them: such requests are refused here, before the runtime is asked
// anything, so that kubectl falls back to SPDY at once (containerd 1.6
// would refuse them too, but only after leaving a session behind).
var (
	execWebSocketProtocols        = []string{"", "channel.k8s.io", "base64.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"}
	portForwardWebSocketProtocols = []string{"", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"}
)

// streamOptions are the streams of an exec or attach.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(q url.Values) (streamOptions, error) {
	o := streamOptions{stdin: queryBool(q, "stdin"), stdout: queryBool(q, "stdout"), stderr: queryBool(q, "stderr"), tty: queryBool(q, "tty")}
	if o.tty && o.stderr {
		o.stderr = false // a terminal merges stderr into stdout
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errorf(http.StatusBadRequest, "you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// checkUpgrade refuses requests that are not upgrades, and WebSocket
// upgrades whose subprotocols the runtime does not speak.
func checkUpgrade(r *http.Request, wsProtocols []string) error {
	if !isUpgrade(r) {
		return errorf(http.StatusBadRequest, "Upgrade request required")
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return nil
	}
	asked := webSocketProtocols(r)
	if len(asked) == 0 {
		return nil
	}
	for _, p := range asked {
		if slices.Contains(wsProtocols, p) {
			return nil
		}
	}
	return errorf(http.StatusBadRequest, "the container runtime does not support the WebSocket protocols %v (it supports %s); use SPDY",
		asked, strings.Join(wsProtocols[1:], ", "))
}

func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return r.Header.Get("Upgrade") != ""
			}
		}
	}
	return false
}

func webSocketProtocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// serveExec serves /exec/NAMESPACE/POD[/UID]/CONTAINER?command=...
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, execWebSocketProtocols, func(ctx context.Context, ref podRef, o streamOptions) (string, error) {
		id, err := s.runningContainer(ctx, ref)
		if err != nil {
			return "", err
		}
		cmd := r.URL.Query()["command"]
		if len(cmd) == 0 {
			return "", errorf(http.StatusBadRequest, "you must specify at least one command for the container")
		}
		resp, err := s.cfg.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: cmd, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		if err != nil {
			return "", err
		}
		return resp.Url, nil
	})
}

// serveAttach serves /attach/NAMESPACE/POD[/UID]/CONTAINER.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, execWebSocketProtocols, func(ctx context.Context, ref podRef, o streamOptions) (string, error) {
		id, err := s.runningContainer(ctx, ref)
		if err != nil {
			return "", err
		}
		resp, err := s.cfg.Runtime.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		if err != nil {
			return "", err
		}
		return resp.Url, nil
	})
}

// servePortForward serves /portForward/NAMESPACE/POD[/UID]. The ports are
// named in the streams (SPDY) or in the port query parameter (WebSocket).
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ref := refOf(r)
	if err := checkUpgrade(r, portForwardWebSocketProtocols); err != nil {
		s.writeError(w, r, err)
		return
	}
	var ports []int32
	q := r.URL.Query()
	for _, v := range append(q["port"], q["ports"]...) {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				s.writeError(w, r, errorf(http.StatusBadRequest, "invalid port %q", p))
				return
			}
			ports = append(ports, int32(n))
		}
	}
	id, err := s.sandbox(r.Context(), ref)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: id, Port: ports})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.proxyStream(w, r, resp.Url)
}

// stream serves exec and attach: check the request, get a streaming URL
// from the runtime, proxy the connection to it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, wsProtocols []string, open func(context.Context, podRef, streamOptions) (string, error)) {
	if err := checkUpgrade(r, wsProtocols); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := open(r.Context(), refOf(r), o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.proxyStream(w, r, u)
}

// proxyStream hands the connection to the runtime's streaming server at
// rawURL (a one-time URL from Exec, Attach or PortForward): the upgrade
// request goes there and, once switched, bytes flow both ways unchanged.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, rawURL string) {
	target, err := url.Parse(rawURL)
	if err != nil || !target.IsAbs() {
		s.writeError(w, r, errorf(http.StatusInternalServerError, "the container runtime gave a bad streaming URL %q", rawURL))
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *target
			pr.Out.URL = &u
			pr.Out.Host = target.Host
		},
		Transport:     s.streams,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.cfg.Logger.Warn("stream to the container runtime failed", "path", r.URL.Path, "err", err)
			writeText(w, http.StatusBadGateway, "error streaming to the container runtime: "+err.Error())
		},
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	rp.ServeHTTP(w, r)
}
