package volume

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// downwardAPIPayload is the kubelet's downward API payload: one file per
// item, with its fieldRef (metadata.name, namespace, uid, labels,
// annotations, labels['k'], annotations['k']) or resourceFieldRef value.
// Any failing item fails the volume.
func (m *Manager) downwardAPIPayload(ctx context.Context, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode int32) (map[string]file, error) {
	out := make(map[string]file, len(items))
	var errs []error
	for _, it := range items {
		f := file{mode: itemMode(it.Mode, mode)}
		switch {
		case it.FieldRef != nil:
			v, err := podFieldValue(pod, it.FieldRef.FieldPath)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.data = []byte(v)
		case it.ResourceFieldRef != nil:
			v, err := m.resourceFieldValue(ctx, pod, it.ResourceFieldRef)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.data = []byte(v)
		}
		out[filepath.Clean(it.Path)] = f
	}
	return out, aggregate(errs)
}

// podFieldValue is a metadata field of pod as the downward API renders it;
// maps as sorted `key="value"` lines.
func podFieldValue(pod *corev1.Pod, path string) (string, error) {
	if base, key, ok := splitSubscript(path); ok {
		switch base {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		default:
			return "", fmt.Errorf("fieldPath %q does not support subscript", path)
		}
	}
	switch path {
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// splitSubscript splits "metadata.labels['k']" into its path and key.
func splitSubscript(path string) (string, string, bool) {
	if !strings.HasSuffix(path, "']") {
		return "", "", false
	}
	base, key, ok := strings.Cut(strings.TrimSuffix(path, "']"), "['")
	if !ok || base == "" {
		return "", "", false
	}
	return base, key, true
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldValue is a container's request or limit divided by the
// divisor (default 1), rounded up; a limit the container does not set is
// node allocatable, as the kubelet reports it.
func (m *Manager) resourceFieldValue(ctx context.Context, pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	c := findContainer(pod, ref.ContainerName)
	if c == nil {
		return "", fmt.Errorf("container %s not found", ref.ContainerName)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	switch rn {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		if !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
		}
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, set := list[rn]
	if kind == "limits" && (!set || q.IsZero()) && !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
		alloc := m.node.allocatable(ctx)
		if alloc == nil {
			return "", fmt.Errorf("container %s has no %s and node allocatable is unknown", c.Name, ref.Resource)
		}
		q = alloc[rn]
	}
	if rn == corev1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

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

// nodeAllocatableTTL is how long a fetched node allocatable is reused.
const nodeAllocatableTTL = time.Minute

// nodeCache fetches this node's allocatable resources, at most once a
// minute.
type nodeCache struct {
	client kubernetes.Interface
	name   string
	now    func() time.Time

	mu      sync.Mutex
	alloc   corev1.ResourceList
	fetched time.Time
}

// allocatable returns node allocatable, or nil when it is unknown (no
// node name, node not readable).
func (n *nodeCache) allocatable(ctx context.Context) corev1.ResourceList {
	if n.name == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.alloc != nil && n.now().Sub(n.fetched) < nodeAllocatableTTL {
		return n.alloc
	}
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return n.alloc // the last known value, if any
	}
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	if len(alloc) == 0 {
		return n.alloc
	}
	n.alloc, n.fetched = alloc.DeepCopy(), n.now()
	return n.alloc
}
