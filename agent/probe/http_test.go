package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// splitHostPort returns the host and port of a test server's URL.
func splitHostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(port)
	return host, n
}

func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	seen := make(chan http.Header, 100)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Host", r.Host)
		h.Set("X-Query", r.URL.RawQuery)
		seen <- h
		fmt.Fprint(w, "fine")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "secret details", http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 1<<20))
	})
	var srvURL string
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		// The same server under another host name: not followed.
		_, port := splitHostPort(t, srvURL)
		w.Header().Set("Location", fmt.Sprintf("http://localhost:%d/ok", port))
		w.WriteHeader(http.StatusMovedPermanently)
		fmt.Fprint(w, "moved")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)
	host, port := splitHostPort(t, srv.URL)
	_, tlsPort := splitHostPort(t, tlsSrv.URL)
	closed := closedPort(t)

	ctr := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	tests := []struct {
		name    string
		get     corev1.HTTPGetAction
		want    outcome
		output  string // prefix
		wantErr string
		headers map[string]string
	}{
		{name: "2xx", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, want: success, output: "fine",
			headers: map[string]string{"User-Agent": "kube-probe/1.33", "Accept": "*/*", "X-Host": net.JoinHostPort(host, strconv.Itoa(port))}},
		{name: "named port, query, headers", get: corev1.HTTPGetAction{Path: "/ok?a=1", Port: intstr.FromString("web"),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Custom", Value: "v"}, {Name: "Host", Value: "example.test"}, {Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: ""}}},
			want: success, headers: map[string]string{"X-Custom": "v", "X-Host": "example.test", "User-Agent": "mine", "Accept": "", "X-Query": "a=1"}},
		{name: "port number as a string", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString(strconv.Itoa(port))}, want: success},
		{name: "500", get: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, want: failure,
			output: "HTTP probe failed with statuscode: 500"},
		{name: "redirect on the same host followed", get: corev1.HTTPGetAction{Path: "/local-redirect", Port: intstr.FromInt32(int32(port))}, want: success, output: "fine"},
		{name: "redirect to another host not followed", get: corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(int32(port))}, want: warning,
			output: "Probe terminated redirects, Response body: moved"},
		{name: "redirect loop", get: corev1.HTTPGetAction{Path: "/loop", Port: intstr.FromInt32(int32(port))}, want: failure,
			output: `Get "/loop": stopped after 10 redirects`},
		{name: "https without verification", get: corev1.HTTPGetAction{Path: "/ok", Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(int32(tlsPort))}, want: success, output: "fine"},
		{name: "connection refused", get: corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(int32(closed))}, want: failure,
			output: fmt.Sprintf(`Get "http://%s:%d/readyz": dial tcp %s:%d: connect: connection refused`, host, closed, host, closed)},
		{name: "timeout", get: corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, want: failure,
			output: fmt.Sprintf(`Get "http://%s:%d/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, host, port)},
		{name: "body read up to 10 KiB", get: corev1.HTTPGetAction{Path: "/big", Port: intstr.FromInt32(int32(port))}, want: success, output: strings.Repeat("x", 10<<10)},
		{name: "unknown port name", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("nope")}, wantErr: `strconv.Atoi: parsing "nope": invalid syntax`},
		{name: "port out of range", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(70000)}, wantErr: "invalid port number: 70000"},
	}
	m := NewManager(Config{Logger: quiet})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &container{id: "cid", pod: &corev1.Pod{}, spec: ctr, podIP: host}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &tt.get}, TimeoutSeconds: 1}
			got, output, err := m.runProbe(context.Background(), p, c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got != tt.want {
				t.Errorf("outcome %v, want %v (output %q)", got, tt.want, output)
			}
			if tt.name == "body read up to 10 KiB" {
				if output != tt.output {
					t.Errorf("output of %d bytes, want %d", len(output), len(tt.output))
				}
			} else if !strings.HasPrefix(output, tt.output) {
				t.Errorf("output %q, want it to start with %q", output, tt.output)
			}
			if tt.headers != nil {
				h := <-seen
				for k, v := range tt.headers {
					if got := h.Get(k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
			}
			for len(seen) > 0 {
				<-seen
			}
		})
	}
}

// closedPort returns a local TCP port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestTCPProbe(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			conn.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	ctr := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "svc", ContainerPort: int32(open)}}}
	tests := []struct {
		name   string
		action corev1.TCPSocketAction
		want   outcome
		output string
	}{
		{"open port", corev1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}, success, ""},
		{"named port", corev1.TCPSocketAction{Port: intstr.FromString("svc")}, success, ""},
		{"explicit host", corev1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt32(int32(open))}, success, ""},
		{"closed port", corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closed))}, failure,
			fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)},
	}
	m := NewManager(Config{Logger: quiet})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &container{pod: &corev1.Pod{}, spec: ctr, podIP: "127.0.0.1"}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &tt.action}, TimeoutSeconds: 1}
			got, output, err := m.runProbe(context.Background(), p, c)
			if err != nil || got != tt.want || output != tt.output {
				t.Fatalf("got %v %q %v, want %v %q", got, output, err, tt.want, tt.output)
			}
			if got == success {
				select {
				case <-accepted:
				case <-time.After(5 * time.Second):
					t.Fatal("the listener saw no connection")
				}
			}
		})
	}
}
