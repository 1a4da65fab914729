package probe

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// outcome is what one probe found.
type outcome int

const (
	unknown outcome = iota // errored, or not probed yet
	success
	failure
	warning // success, with something worth an event (a redirect not followed)
)

// Event reasons, as the kubelet's.
const (
	reasonUnhealthy    = "Unhealthy"
	reasonProbeWarning = "ProbeWarning"
)

// userAgent is what HTTP and gRPC probes send, as the kubelet of the
// Kubernetes version berth serves.
const userAgent = "kube-probe/1.33"

// maxOutput is how much of an HTTP body or a command's output a probe
// reads.
const maxOutput = 10 << 10

// runProbe runs p once against container c. An error means the probe could
// not be run; a failure is reported as an outcome with its message.
func (m *Manager) runProbe(ctx context.Context, p *corev1.Probe, c *container) (outcome, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	switch {
	case p.Exec != nil:
		return m.probeExec(ctx, c.id, expand(p.Exec.Command, c.spec.Env), timeout)
	case p.HTTPGet != nil:
		req, err := newHTTPRequest(ctx, p.HTTPGet, c.spec, c.podIP)
		if err != nil {
			return unknown, "", err
		}
		return probeHTTP(m.http, req, timeout)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c.spec)
		if err != nil {
			return unknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = c.podIP
		}
		return probeTCP(ctx, net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return probeGRPC(ctx, net.JoinHostPort(c.podIP, strconv.Itoa(int(p.GRPC.Port))), service, timeout)
	}
	return unknown, "", fmt.Errorf("missing probe handler for %s_%s(%s):%s", c.pod.Name, c.pod.Namespace, c.pod.UID, c.spec.Name)
}

// event records an event on the container (the pod, with the container's
// field path), as the kubelet's prober does.
func (m *Manager) event(c *container, eventType, reason, format string, args ...any) {
	if m.cfg.Recorder == nil {
		return
	}
	field := "spec.containers{" + c.key.name + "}"
	if c.init {
		field = "spec.initContainers{" + c.key.name + "}"
	}
	ref := &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: c.pod.Namespace, Name: c.pod.Name,
		UID: c.pod.UID, ResourceVersion: c.pod.ResourceVersion, FieldPath: field,
	}
	m.cfg.Recorder.Eventf(ref, eventType, reason, format, args...)
}

// resolvePort turns a probe's port, a number or the name of one of the
// container's ports, into a number.
func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	n := -1
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			// A number written as a string, as the kubelet also accepts.
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				return n, err
			}
		}
	default:
		return n, fmt.Errorf("intOrString had no kind: %+v", port)
	}
	if n <= 0 || n >= 65536 {
		return n, fmt.Errorf("invalid port number: %v", n)
	}
	return n, nil
}

// expand replaces $(NAME) in an exec probe's command by the value of the
// container's env variable NAME, from its literal values only (a
// variable set from a source expands to ""), as the kubelet does; "$$"
// is a literal "$", and references to unknown names stay as written.
func expand(cmd []string, env []corev1.EnvVar) []string {
	if len(cmd) == 0 {
		return cmd
	}
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = expandOne(s, vars)
	}
	return out
}

func expandOne(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated: kept as written, and the rest expanded.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
