package nodeproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxErrorBody bounds how much of an agent's error answer is read.
const maxErrorBody = 50000

// Log serves pods/log: the log of one of the pod's containers, from its
// node's agent.
func (p *Proxy) Log(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error {
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, pod.Name, errs)
	}
	container, err := validateContainer(opts.Container, pod)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		// Not scheduled: no logs yet, as Kubernetes answers.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	target, err := p.agentURL(ctx, pod.Spec.NodeName, fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container), logQuery(opts))
	if err != nil {
		return err
	}
	ctx, cancel := longRunning(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return err
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return internalError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return logError(resp.StatusCode, strings.TrimSpace(string(body)), pod, container, opts.Previous)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			rc.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// logError turns an agent's error answer into the API's. A container the
// agent cannot find is explained from the pod's status, as the kubelet
// explains it.
func logError(code int, body string, pod *corev1.Pod, container string, previous bool) error {
	switch code {
	case http.StatusNotFound:
		if msg := waitingMessage(pod, container, previous); msg != "" {
			return apierrors.NewBadRequest(msg)
		}
		return apierrors.NewBadRequest(body)
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(body)
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(fmt.Errorf("%s", body))
	}
	return apierrors.NewGenericServerResponse(code, "", schema.GroupResource{Resource: "pods/log"}, pod.Name, body, 0, false)
}

// waitingMessage says why a container has no log yet, from the pod's
// status, with the kubelet's words; "" when the status does not tell.
func waitingMessage(pod *corev1.Pod, container string, previous bool) string {
	if previous {
		return fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name)
	}
	st, ok := containerStatus(pod, container)
	if !ok {
		// Scheduled but not reported on yet: the agent is setting it up.
		return fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod.Name)
	}
	if st.State.Waiting == nil {
		return ""
	}
	switch reason := st.State.Waiting.Reason; reason {
	case "ErrImagePull":
		return fmt.Sprintf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name)
	case "ImagePullBackOff":
		return fmt.Sprintf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name)
	case "":
		return fmt.Sprintf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name)
	default:
		return fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, pod.Name, reason)
	}
}

func containerStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if s.Name == name {
				return s, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// parseLogOptions reads PodLogOptions from a query as the API's parameter
// codec does.
func parseLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{
		Container:                    q.Get("container"),
		Follow:                       queryBool(q, "follow"),
		Previous:                     queryBool(q, "previous"),
		Timestamps:                   queryBool(q, "timestamps"),
		InsecureSkipTLSVerifyBackend: queryBool(q, "insecureSkipTLSVerifyBackend"),
	}
	var err error
	if opts.SinceSeconds, err = queryInt(q, "sinceSeconds"); err != nil {
		return nil, err
	}
	if opts.TailLines, err = queryInt(q, "tailLines"); err != nil {
		return nil, err
	}
	if opts.LimitBytes, err = queryInt(q, "limitBytes"); err != nil {
		return nil, err
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: %v", err))
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	return opts, nil
}

// validateLogOptions checks PodLogOptions as Kubernetes does.
func validateLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// logQuery is the agent's query for a log request.
func logQuery(o *corev1.PodLogOptions) url.Values {
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if o.SinceTime != nil {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339))
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return q
}

// validateContainer resolves the container a request is for: the named
// one, which must be in the pod, or the only one.
func validateContainer(name string, pod *corev1.Pod) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, containerNames(pod)))
		}
	}
	for _, n := range containerNames(pod) {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// containerNames lists init, regular and ephemeral containers, in the
// order Kubernetes visits them.
func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// Exec serves pods/exec: a command in a container, over the upgraded
// connection.
func (p *Proxy) Exec(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	container, err := validateContainer(q.Get("container"), pod)
	if err != nil {
		return err
	}
	params := streamParams(q)
	for _, c := range q["command"] {
		params.Add("command", c)
	}
	return p.stream(ctx, pod, fmt.Sprintf("/exec/%s/%s/%s", pod.Namespace, pod.Name, container), params, w, r)
}

// Attach serves pods/attach: the streams of a container's main process.
func (p *Proxy) Attach(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	container, err := validateContainer(q.Get("container"), pod)
	if err != nil {
		return err
	}
	return p.stream(ctx, pod, fmt.Sprintf("/attach/%s/%s/%s", pod.Namespace, pod.Name, container), streamParams(q), w, r)
}

// PortForward serves pods/portforward: connections to the pod's ports.
func (p *Proxy) PortForward(ctx context.Context, pod *corev1.Pod, w http.ResponseWriter, r *http.Request) error {
	params := url.Values{}
	var ports []string
	for _, v := range r.URL.Query()["ports"] {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
			if err != nil || n == 0 {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid port %q: must be between 1 and 65535", s))
			}
			ports = append(ports, strconv.FormatUint(n, 10))
		}
	}
	if len(ports) > 0 {
		params.Set("port", strings.Join(ports, ","))
	}
	return p.stream(ctx, pod, fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name), params, w, r)
}

// streamParams are the agent's parameters for the streams of an exec or
// attach ("1" for each stream asked for).
func streamParams(q url.Values) url.Values {
	out := url.Values{}
	for _, s := range []string{"stdin", "stdout", "stderr", "tty"} {
		if queryBool(q, s) {
			out.Set(s, "1")
		}
	}
	return out
}

// stream forwards an upgrade request for a pod to its node's agent.
func (p *Proxy) stream(ctx context.Context, pod *corev1.Pod, path string, params url.Values, w http.ResponseWriter, r *http.Request) error {
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if !isUpgrade(r) {
		return apierrors.NewBadRequest("Upgrade request required")
	}
	target, err := p.agentURL(ctx, pod.Spec.NodeName, path, params)
	if err != nil {
		return err
	}
	ctx, cancel := longRunning(ctx)
	defer cancel()
	r = r.WithContext(ctx)
	if isTunnelRequest(r) {
		return p.tunnel(w, r, target)
	}
	p.forward(w, r, target)
	return nil
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

// queryBool reads a boolean parameter as the API's parameter codec does:
// present and not "0" or "false" is true.
func queryBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

func queryInt(q url.Values, name string) (*int64, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", name, err))
	}
	return &n, nil
}
