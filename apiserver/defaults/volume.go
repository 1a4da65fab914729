package defaults

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// volume sets the defaults of one pod volume. A volume without a source is
// an emptyDir; an image volume pulls as a container image would (the
// ImageVolume feature, beta in 1.33, on here).
func volume(v *corev1.Volume) {
	if noVolumeSource(&v.VolumeSource) {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		unset := corev1.HostPathUnset
		src.HostPath.Type = &unset
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = mode(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = mode(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = mode(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		downwardAPIFiles(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		projected(src.Projected)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		PersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = PullPolicy(src.Image.Reference)
	}
	legacyVolume(src)
}

// noVolumeSource reports whether no volume source field is set.
func noVolumeSource(src *corev1.VolumeSource) bool {
	v := reflect.ValueOf(src).Elem()
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			return false
		}
	}
	return true
}

func projected(p *corev1.ProjectedVolumeSource) {
	if p.DefaultMode == nil {
		p.DefaultMode = mode(corev1.ProjectedVolumeSourceDefaultMode)
	}
	for i := range p.Sources {
		s := &p.Sources[i]
		if s.DownwardAPI != nil {
			downwardAPIFiles(s.DownwardAPI.Items)
		}
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
			hour := int64(3600)
			s.ServiceAccountToken.ExpirationSeconds = &hour
		}
	}
}

func downwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			objectFieldSelector(items[i].FieldRef)
		}
	}
}

// legacyVolume sets the declarative defaults of the in-tree volume plugins.
func legacyVolume(src *corev1.VolumeSource) {
	if s := src.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := src.RBD; s != nil {
		if s.RBDPool == "" {
			s.RBDPool = "rbd"
		}
		if s.RadosUser == "" {
			s.RadosUser = "admin"
		}
		if s.Keyring == "" {
			s.Keyring = "/etc/ceph/keyring"
		}
	}
	if s := src.AzureDisk; s != nil {
		if s.CachingMode == nil {
			m := corev1.AzureDataDiskCachingReadWrite
			s.CachingMode = &m
		}
		if s.FSType == nil {
			fs := "ext4"
			s.FSType = &fs
		}
		if s.ReadOnly == nil {
			ro := false
			s.ReadOnly = &ro
		}
		if s.Kind == nil {
			k := corev1.AzureSharedBlobDisk
			s.Kind = &k
		}
	}
	if s := src.ScaleIO; s != nil {
		if s.StorageMode == "" {
			s.StorageMode = "ThinProvisioned"
		}
		if s.FSType == "" {
			s.FSType = "xfs"
		}
	}
}

// PersistentVolumeClaimSpec sets Kubernetes' defaults on a claim spec (used
// by PVCs, ephemeral volumes and StatefulSet volumeClaimTemplates): volumeMode
// Filesystem and milli-rounded resource quantities.
func PersistentVolumeClaimSpec(s *corev1.PersistentVolumeClaimSpec) {
	if s == nil {
		return
	}
	if s.VolumeMode == nil {
		fs := corev1.PersistentVolumeFilesystem
		s.VolumeMode = &fs
	}
	ResourceList(s.Resources.Limits)
	ResourceList(s.Resources.Requests)
}

func mode(m int32) *int32 { return &m }
