package pod

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// envSource is where the environment of a container comes from besides
// its spec: the API objects it references and what the node knows.
type envSource struct {
	configMap func(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	secret    func(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	services  map[string]string // service environment variables
	podIPs    []string
	hostIPs   []string
	// allocatable is the node's, the default of unset limits in
	// resourceFieldRef.
	allocatable corev1.ResourceList
}

// envList is an ordered set of variables: setting a name again replaces
// its value in place.
type envList struct {
	names  []string
	values map[string]string
}

func (l *envList) set(name, value string) {
	if l.values == nil {
		l.values = map[string]string{}
	}
	if _, ok := l.values[name]; !ok {
		l.names = append(l.names, name)
	}
	l.values[name] = value
}

// makeEnv returns the environment of container c, as the kubelet makes
// it: envFrom first, then env (whose values expand references to
// variables declared before and to the service variables), then the
// service variables not otherwise set. Its errors are the container's
// CreateContainerConfigError messages.
func makeEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src *envSource) (*envList, error) {
	env := &envList{}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	getConfigMap := func(name string, optional bool) (*corev1.ConfigMap, bool, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, true, nil
		}
		cm, err := src.configMap(ctx, pod.Namespace, name)
		if apierrors.IsNotFound(err) {
			if optional {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("configmap %q not found", name)
		}
		if err != nil {
			return nil, false, err
		}
		configMaps[name] = cm
		return cm, true, nil
	}
	getSecret := func(name string, optional bool) (*corev1.Secret, bool, error) {
		if s, ok := secrets[name]; ok {
			return s, true, nil
		}
		s, err := src.secret(ctx, pod.Namespace, name)
		if apierrors.IsNotFound(err) {
			if optional {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("secret %q not found", name)
		}
		if err != nil {
			return nil, false, err
		}
		secrets[name] = s
		return s, true, nil
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok, err := getConfigMap(from.ConfigMapRef.Name, isTrue(from.ConfigMapRef.Optional))
			if err != nil {
				return nil, err
			}
			if ok {
				for _, k := range sortedKeys(cm.Data) {
					env.set(from.Prefix+k, cm.Data[k])
				}
			}
		case from.SecretRef != nil:
			s, ok, err := getSecret(from.SecretRef.Name, isTrue(from.SecretRef.Optional))
			if err != nil {
				return nil, err
			}
			if ok {
				for _, k := range sortedKeys(s.Data) {
					env.set(from.Prefix+k, string(s.Data[k]))
				}
			}
		}
	}
	for _, e := range c.Env {
		value := e.Value
		switch {
		case value != "":
			value = expand(value, lookupIn(env.values, src.services))
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v, err := fieldValue(pod, e.ValueFrom.FieldRef.FieldPath, src)
			if err != nil {
				return nil, err
			}
			value = v
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceValue(pod, c, e.ValueFrom.ResourceFieldRef, src.allocatable)
			if err != nil {
				return nil, err
			}
			value = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok, err := getConfigMap(ref.Name, isTrue(ref.Optional))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			v, found := cm.Data[ref.Key]
			if !found {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok, err := getSecret(ref.Name, isTrue(ref.Optional))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			v, found := s.Data[ref.Key]
			if !found {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			value = string(v)
		}
		env.set(e.Name, value)
	}
	for _, k := range sortedKeys(src.services) {
		if _, ok := env.values[k]; !ok {
			env.set(k, src.services[k])
		}
	}
	return env, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// fieldValue is the value of a downward API field of the pod.
func fieldValue(pod *corev1.Pod, path string, src *envSource) (string, error) {
	first := func(ips []string) string {
		if len(ips) == 0 {
			return ""
		}
		return ips[0]
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(src.hostIPs), nil
	case "status.hostIPs":
		return strings.Join(src.hostIPs, ","), nil
	case "status.podIP":
		return first(src.podIPs), nil
	case "status.podIPs":
		return strings.Join(src.podIPs, ","), nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// formatMap formats labels or annotations as the downward API does:
// key="value" lines, sorted.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// resourceValue is the value of a resourceFieldRef: the container's
// request or limit divided by the divisor and rounded up; an unset limit
// is the node's allocatable, as the kubelet defaults it.
func resourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" {
		c = findContainer(pod, ref.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %s not found", ref.ContainerName)
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %v", ref.Resource)
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, found := list[corev1.ResourceName(name)]
	if !found && kind == "limits" {
		q, found = allocatable[corev1.ResourceName(name)]
	}
	if !found {
		q = resource.Quantity{}
	}
	if name == string(corev1.ResourceCPU) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// findContainer returns the init or regular container of the pod with the
// name, or nil.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// serviceEnv returns the service environment variables of a pod in
// namespace: those of the services of the namespace when enableLinks, and
// always those of the "kubernetes" service of the default namespace.
func serviceEnv(services []*corev1.Service, namespace string, enableLinks bool) map[string]string {
	usable := func(s *corev1.Service) bool {
		return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone && len(s.Spec.Ports) > 0
	}
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if usable(s) && s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes" {
			chosen[s.Name] = s
		}
	}
	if enableLinks { // the namespace's services win over the master service
		for _, s := range services {
			if usable(s) && s.Namespace == namespace {
				chosen[s.Name] = s
			}
		}
	}
	out := map[string]string{}
	for _, s := range chosen {
		prefix := envName(s.Name)
		ip := s.Spec.ClusterIP
		out[prefix+"_SERVICE_HOST"] = ip
		out[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
		for i, p := range s.Spec.Ports {
			if p.Name != "" {
				out[prefix+"_SERVICE_PORT_"+envName(p.Name)] = strconv.Itoa(int(p.Port))
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			url := fmt.Sprintf("%s://%s", proto, joinHostPort(ip, p.Port))
			if i == 0 {
				out[prefix+"_PORT"] = url
			}
			pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
			out[pp] = url
			out[pp+"_PROTO"] = proto
			out[pp+"_PORT"] = strconv.Itoa(int(p.Port))
			out[pp+"_ADDR"] = ip
		}
	}
	return out
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

func joinHostPort(ip string, port int32) string {
	if strings.Contains(ip, ":") {
		return fmt.Sprintf("[%s]:%d", ip, port)
	}
	return fmt.Sprintf("%s:%d", ip, port)
}
