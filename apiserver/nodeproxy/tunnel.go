package nodeproxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// tunnelPrefix marks the WebSocket subprotocols of SPDY tunnelled over a
// WebSocket: kubectl 1.31+ asks for "SPDY/3.1+portforward.k8s.io".
const tunnelPrefix = "SPDY/3.1+"

// isTunnelRequest reports whether r asks for SPDY over a WebSocket.
func isTunnelRequest(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	return len(tunnelledProtocols(r)) > 0
}

// tunnelledProtocols are the SPDY protocols a tunnel request asks for.
func tunnelledProtocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, tunnelPrefix) {
				out = append(out, strings.TrimPrefix(p, tunnelPrefix))
			}
		}
	}
	return out
}

// tunnel serves a tunnel request: it asks the agent to switch to SPDY
// with the protocols the client wants and, once it has, accepts the
// client's WebSocket and carries the SPDY bytes in binary messages both
// ways. If the agent refuses, the refusal goes back as the answer to the
// WebSocket handshake, and kubectl falls back to plain SPDY.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request, target *url.URL) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, proto := range tunnelledProtocols(r) {
		req.Header.Add("X-Stream-Protocol-Version", proto)
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: p.cfg.DialTimeout}, Config: p.tlsConfig}
	backend, err := dialer.DialContext(r.Context(), "tcp", req.URL.Host)
	if err != nil {
		return internalError(fmt.Errorf("error dialing backend: %w", err))
	}
	if err := req.Write(backend); err != nil {
		backend.Close()
		return internalError(fmt.Errorf("error dialing backend: %w", err))
	}
	br := bufio.NewReader(backend)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		backend.Close()
		return internalError(fmt.Errorf("error dialing backend: %w", err))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer backend.Close()
		defer resp.Body.Close()
		for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
			if v := resp.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	up := websocket.Upgrader{
		Subprotocols:     []string{tunnelPrefix + resp.Header.Get("X-Stream-Protocol-Version")},
		ReadBufferSize:   32 << 10,
		WriteBufferSize:  32 << 10,
		HandshakeTimeout: 10 * time.Second,
		// Clients are authenticated by the API server, not by origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		backend.Close()
		return nil // the upgrader has answered
	}
	pipeTunnel(ws, backend, br, r.Context().Done())
	return nil
}

// pipeTunnel carries bytes between a WebSocket (binary messages) and the
// agent's connection until either side ends or done is closed.
func pipeTunnel(ws *websocket.Conn, backend net.Conn, fromBackend io.Reader, done <-chan struct{}) {
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			ws.Close()
			backend.Close()
		})
	}
	finished := make(chan struct{}, 2)
	go func() { // agent to client
		defer func() { finished <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := fromBackend.Read(buf)
			if n > 0 {
				if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { // client to agent
		defer func() { finished <- struct{}{} }()
		for {
			kind, msg, err := ws.NextReader()
			if err != nil {
				return
			}
			if kind != websocket.BinaryMessage {
				continue
			}
			if _, err := io.Copy(backend, msg); err != nil {
				return
			}
		}
	}()
	left := 2
	select {
	case <-finished:
		left--
	case <-done:
	}
	closeAll()
	for ; left > 0; left-- {
		<-finished
	}
}
