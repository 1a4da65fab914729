package admission

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	satoken "berth/apiserver/serviceaccount"
)

// The projected volume that gives pods an API token, as Kubernetes names
// and mounts it.
const (
	// TokenVolumePrefix starts the name of the volume, which ends in five
	// random characters: kube-api-access-x7k2p.
	TokenVolumePrefix = "kube-api-access-"
	// TokenMountPath is where containers find token, ca.crt and namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the configMap with the cluster's CA in every
	// namespace (key ca.crt).
	RootCAConfigMap = "kube-root-ca.crt"
)

// mountServiceAccountToken adds the token volume to pod (unless a volume
// of that name prefix is there already) and mounts it read-only in every
// init container and container that does not mount something at
// TokenMountPath already. No container needing it, no volume is added.
func mountServiceAccountToken(pod *corev1.Pod) {
	name, hasVolume := "", false
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, TokenVolumePrefix) {
			name, hasVolume = v.Name, true
			break
		}
	}
	if name == "" {
		name = TokenVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsAt(&cs[i], TokenMountPath) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         name,
			VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()},
		})
	}
}

func mountsAt(c *corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// TokenVolumeSource returns the projected volume of a pod's API
// credentials, exactly as Kubernetes builds it: a token for the API
// server (3607 s, which the server extends; the kubelet refreshes it), the
// cluster CA from the kube-root-ca.crt configMap, and the namespace.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To(corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path:              "token",
				ExpirationSeconds: ptr.To[int64](satoken.WarnOnlyBoundTokenExpirationSeconds),
			}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{
				Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}},
			}},
		},
	}
}

// referencesSecrets reports whether a pod uses any secret: image pull
// secrets, secret volumes and projections, and secrets in the environment
// of any container.
func referencesSecrets(pod *corev1.Pod) bool {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return true
				}
			}
		case v.CSI != nil && v.CSI.NodePublishSecretRef != nil,
			v.ISCSI != nil && v.ISCSI.SecretRef != nil,
			v.RBD != nil && v.RBD.SecretRef != nil,
			v.CephFS != nil && v.CephFS.SecretRef != nil,
			v.FlexVolume != nil && v.FlexVolume.SecretRef != nil,
			v.AzureFile != nil, v.ScaleIO != nil, v.StorageOS != nil && v.StorageOS.SecretRef != nil:
			return true
		}
	}
	envSecrets := func(env []corev1.EnvVar, from []corev1.EnvFromSource) bool {
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return true
			}
		}
		for _, f := range from {
			if f.SecretRef != nil {
				return true
			}
		}
		return false
	}
	for _, c := range pod.Spec.InitContainers {
		if envSecrets(c.Env, c.EnvFrom) {
			return true
		}
	}
	for _, c := range pod.Spec.Containers {
		if envSecrets(c.Env, c.EnvFrom) {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if envSecrets(c.Env, c.EnvFrom) {
			return true
		}
	}
	return false
}
