package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth/internal/testserver"
	"berth/server"
)

// testTimeout bounds every API call and wait of a test.
const testTimeout = 30 * time.Second

// start runs the API server for the test, without controllers or scheduler
// (these tests are about the API; objects the controllers would add, such
// as kube-root-ca.crt ConfigMaps, would get in their way). Its Client speaks
// JSON, as kubectl does; TestProtobufClient covers protobuf.
func start(t *testing.T, opts ...func(*server.Config)) *testserver.Server {
	t.Helper()
	s := testserver.Start(t, append([]func(*server.Config){testserver.Bare}, opts...)...)
	cfg := rest.CopyConfig(s.Rest)
	cfg.ContentType = "application/json"
	cfg.AcceptContentTypes = "application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Client = c
	return s
}

// ctxFor returns a context that ends with the test or after testTimeout.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var nsCounter atomic.Int64

// newNamespace creates a fresh namespace for a test.
func newNamespace(t testing.TB, s *testserver.Server) string {
	t.Helper()
	name := fmt.Sprintf("test-%d", nsCounter.Add(1))
	_, err := s.Client.CoreV1().Namespaces().Create(ctxFor(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// statusOf returns the metav1.Status of an API error, failing the test when
// err is not one.
func statusOf(t testing.TB, err error) metav1.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an API error, got success")
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		t.Fatalf("expected an API status error, got %T: %v", err, err)
	}
	return st.Status()
}

// expectError checks an API error's code, reason and (if msg is not empty)
// exact message.
func expectError(t testing.TB, err error, code int32, reason metav1.StatusReason, msg string) metav1.Status {
	t.Helper()
	st := statusOf(t, err)
	if st.Code != code || st.Reason != reason {
		t.Errorf("error: got code %d reason %q (%q), want code %d reason %q", st.Code, st.Reason, st.Message, code, reason)
	}
	if msg != "" && st.Message != msg {
		t.Errorf("error message:\n got  %q\n want %q", st.Message, msg)
	}
	if st.Status != metav1.StatusFailure {
		t.Errorf("error status: got %q, want %q", st.Status, metav1.StatusFailure)
	}
	return st
}

// expectCause checks that a status lists a cause of the given type and field
// whose message contains msg.
func expectCause(t testing.TB, st metav1.Status, typ metav1.CauseType, fieldPath, msg string) {
	t.Helper()
	if st.Details == nil {
		t.Errorf("status has no details; want cause %s %s", typ, fieldPath)
		return
	}
	for _, c := range st.Details.Causes {
		if c.Type == typ && c.Field == fieldPath && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Errorf("status causes %+v: want one of type %q field %q with message containing %q", st.Details.Causes, typ, fieldPath, msg)
}

// httpClient returns an HTTP client authenticated as the admin.
func httpClient(t testing.TB, s *testserver.Server) *http.Client {
	t.Helper()
	tr, err := rest.TransportFor(s.Rest)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// anonymousClient returns an HTTP client that trusts the server but presents
// no credentials.
func anonymousClient(t testing.TB, s *testserver.Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	ca := s.Rest.TLSClientConfig.CAData
	if len(ca) == 0 && s.Rest.TLSClientConfig.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(s.Rest.TLSClientConfig.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in the rest config")
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		Timeout:   testTimeout,
	}
}

// rawResponse is an HTTP answer with its decoded Status, if it is one.
type rawResponse struct {
	code   int
	header http.Header
	body   []byte
	status *metav1.Status
}

// do sends a request to the server and reads the answer.
func do(t testing.TB, c *http.Client, s *testserver.Server, method, path, contentType string, body []byte) rawResponse {
	t.Helper()
	return doHeaders(t, c, s, method, path, contentType, body, nil)
}

// doHeaders is do with extra request headers.
func doHeaders(t testing.TB, c *http.Client, s *testserver.Server, method, path, contentType string, body []byte, headers map[string]string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t), method, s.Rest.Host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{code: resp.StatusCode, header: resp.Header, body: data}
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		out.status = &st
	}
	return out
}

// expectRaw checks a raw answer's code and, for errors, that it is a
// Status with the given reason and a message containing msg.
func expectRaw(t testing.TB, r rawResponse, code int, reason metav1.StatusReason, msg string) {
	t.Helper()
	if r.code != code {
		t.Errorf("got HTTP %d (%s), want %d", r.code, truncate(r.body), code)
		return
	}
	if code < 400 {
		return
	}
	if r.status == nil {
		t.Errorf("HTTP %d body is not a Status: %s", r.code, truncate(r.body))
		return
	}
	if r.status.Code != int32(code) || r.status.Reason != reason || r.status.Status != metav1.StatusFailure {
		t.Errorf("status: got code %d reason %q status %q, want code %d reason %q (%s)", r.status.Code, r.status.Reason, r.status.Status, code, reason, r.status.Message)
	}
	if !strings.Contains(r.status.Message, msg) {
		t.Errorf("status message %q does not contain %q", r.status.Message, msg)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

func truncate(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}

// poll waits until cond is true.
func poll(t testing.TB, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctxFor(t), 20*time.Millisecond, testTimeout, true, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// nextEvent returns the next event of a watch, failing after 10s.
func nextEvent(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	return nextEventWithin(t, w, 10*time.Second)
}

// nextEventWithin returns the next event of a watch, failing after d.
func nextEventWithin(t testing.TB, w watch.Interface, d time.Duration) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed while waiting for an event")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no watch event within %v", d)
	}
	return watch.Event{}
}

func mustDecode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", truncate(data), err)
	}
	return m
}

func rvInt(t testing.TB, rv string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(rv, &n); err != nil || n <= 0 {
		t.Fatalf("resourceVersion %q is not a positive integer", rv)
	}
	return n
}
