package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultMode is the API's default for defaultMode of configMap, secret,
// downwardAPI and projected volumes.
const defaultMode int32 = 0o644

func modeOrDefault(m *int32) int32 {
	if m == nil {
		return defaultMode
	}
	return *m
}

func isOptional(b *bool) bool { return b != nil && *b }

func (m *Manager) configMapVolumePayload(ctx context.Context, ns string, src *corev1.ConfigMapVolumeSource) (map[string]file, error) {
	optional := isOptional(src.Optional)
	cm, err := m.configMap(ctx, ns, src.Name)
	if err != nil {
		if !apierrors.IsNotFound(err) || !optional {
			return nil, err
		}
		cm = &corev1.ConfigMap{}
	}
	return configMapPayload(src.Items, cm, modeOrDefault(src.DefaultMode), optional)
}

func (m *Manager) secretVolumePayload(ctx context.Context, ns string, src *corev1.SecretVolumeSource) (map[string]file, error) {
	optional := isOptional(src.Optional)
	s, err := m.secret(ctx, ns, src.SecretName)
	if err != nil {
		if !apierrors.IsNotFound(err) || !optional {
			return nil, err
		}
		s = &corev1.Secret{}
	}
	return secretPayload(src.Items, s, modeOrDefault(src.DefaultMode), optional)
}

// configMapPayload is the kubelet's configMap payload: every key (data and
// binaryData) with defaultMode, or only the listed items at their paths
// with their own mode; a listed key that is missing is an error unless the
// volume is optional.
func configMapPayload(items []corev1.KeyToPath, cm *corev1.ConfigMap, mode int32, optional bool) (map[string]file, error) {
	out := make(map[string]file, len(cm.Data)+len(cm.BinaryData))
	if len(items) == 0 {
		for k, v := range cm.Data {
			out[k] = file{data: []byte(v), mode: os.FileMode(mode)}
		}
		for k, v := range cm.BinaryData {
			out[k] = file{data: v, mode: os.FileMode(mode)}
		}
		return out, nil
	}
	for _, it := range items {
		var data []byte
		if v, ok := cm.Data[it.Key]; ok {
			data = []byte(v)
		} else if v, ok := cm.BinaryData[it.Key]; ok {
			data = v
		} else {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		out[it.Path] = file{data: data, mode: itemMode(it.Mode, mode)}
	}
	return out, nil
}

// secretPayload is configMapPayload for a Secret's data.
func secretPayload(items []corev1.KeyToPath, s *corev1.Secret, mode int32, optional bool) (map[string]file, error) {
	out := make(map[string]file, len(s.Data))
	if len(items) == 0 {
		for k, v := range s.Data {
			out[k] = file{data: v, mode: os.FileMode(mode)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		out[it.Path] = file{data: v, mode: itemMode(it.Mode, mode)}
	}
	return out, nil
}

// itemMode is an item's own mode, else the volume's.
func itemMode(item *int32, def int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item)
	}
	return os.FileMode(def)
}

// projectedPayload merges the payloads of a projected volume's sources;
// every failing source is reported, as the kubelet aggregates them.
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource) (map[string]file, error) {
	mode := modeOrDefault(src.DefaultMode)
	out := map[string]file{}
	var errs []error
	add := func(p map[string]file, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for k, v := range p {
			out[k] = v
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			optional := isOptional(s.ConfigMap.Optional)
			cm, err := m.configMap(ctx, pod.Namespace, s.ConfigMap.Name)
			if err != nil {
				if !apierrors.IsNotFound(err) || !optional {
					errs = append(errs, err)
					continue
				}
				cm = &corev1.ConfigMap{}
			}
			add(configMapPayload(s.ConfigMap.Items, cm, mode, optional))
		case s.Secret != nil:
			optional := isOptional(s.Secret.Optional)
			sec, err := m.secret(ctx, pod.Namespace, s.Secret.Name)
			if err != nil {
				if !apierrors.IsNotFound(err) || !optional {
					errs = append(errs, err)
					continue
				}
				sec = &corev1.Secret{}
			}
			add(secretPayload(s.Secret.Items, sec, mode, optional))
		case s.DownwardAPI != nil:
			add(m.downwardAPIPayload(ctx, pod, s.DownwardAPI.Items, mode))
		case s.ServiceAccountToken != nil:
			add(m.tokenPayload(ctx, pod, s.ServiceAccountToken, mode))
		case s.ClusterTrustBundle != nil:
			errs = append(errs, errors.New("clusterTrustBundle projection is not supported by berth"))
		}
	}
	return out, aggregate(errs)
}

// tokenPayload is the file of a serviceAccountToken projection: the
// volume's defaultMode, or 0600 when the pod has an fsGroup (which then
// makes it 0640), as the kubelet writes it.
func (m *Manager) tokenPayload(ctx context.Context, pod *corev1.Pod, tp *corev1.ServiceAccountTokenProjection, mode int32) (map[string]file, error) {
	if podFSGroup(pod) != nil {
		mode = 0o600
	}
	var auds []string
	if tp.Audience != "" {
		auds = []string{tp.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         auds,
		ExpirationSeconds: tp.ExpirationSeconds,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		},
	}}
	token, err := m.tokens.get(ctx, pod.Namespace, sa, tr)
	if err != nil {
		return nil, err
	}
	return map[string]file{tp.Path: {data: []byte(token), mode: os.FileMode(mode)}}, nil
}

// aggregate formats errors as the kubelet's utilerrors aggregate does:
// one error as itself, several as "[a, b]".
func aggregate(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("[%s]", strings.Join(msgs, ", "))
}

// makeNestedMountpoints creates, inside a read-only volume, the
// directories on which other volumes are mounted (a container mounting
// this volume at /a and another at /a/b needs "b" here: the runtime
// cannot create it in a read-only mount), as the kubelet does.
func makeNestedMountpoints(name, dir string, pod *corev1.Pod) error {
	var all []corev1.Container
	all = append(all, pod.Spec.InitContainers...)
	all = append(all, pod.Spec.Containers...)
	for _, c := range all {
		for _, own := range c.VolumeMounts {
			if own.Name != name {
				continue
			}
			base := filepath.Clean(own.MountPath)
			for _, other := range c.VolumeMounts {
				rel, err := filepath.Rel(base, filepath.Clean(other.MountPath))
				if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
					continue
				}
				if strings.HasPrefix(rel, "..") {
					return fmt.Errorf("invalid nested volume mountpoint %s: must not start with '..'", other.MountPath)
				}
				if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
					return fmt.Errorf("unable to create nested volume mountpoints: %w", err)
				}
			}
		}
	}
	return nil
}

// volumeKind names the type of a volume source by its JSON field.
func volumeKind(src *corev1.VolumeSource) string {
	v := reflect.ValueOf(src).Elem()
	t := v.Type()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "(none)"
}

// notFound is the kubelet's error for a missing object: `configmap "y"
// not found` (the API server's own says "configmaps").
func notFound(resource, name string) error {
	return apierrors.NewNotFound(corev1.Resource(resource), name)
}

// configMap returns the ConfigMap from its watch when that has synced,
// else from the API.
func (m *Manager) configMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	key := objectKey{kind: kindConfigMap, namespace: ns, name: name}
	if obj, ok, found := m.cached(key); ok {
		if !found {
			return nil, notFound("configmap", name)
		}
		return obj.(*corev1.ConfigMap), nil
	}
	cm, err := m.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, notFound("configmap", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

// secret is configMap for Secrets.
func (m *Manager) secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	key := objectKey{kind: kindSecret, namespace: ns, name: name}
	if obj, ok, found := m.cached(key); ok {
		if !found {
			return nil, notFound("secret", name)
		}
		return obj.(*corev1.Secret), nil
	}
	s, err := m.cfg.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, notFound("secret", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	return s, nil
}
