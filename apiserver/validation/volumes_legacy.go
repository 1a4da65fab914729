package validation

import (
	"net"
	"path"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file checks the in-tree volume plugins that berth does not mount but
// that Kubernetes still accepts in the API.

var (
	iscsiIQN = regexp.MustCompile(`iqn\.\d{4}-\d{2}\.([[:alnum:]-.]+)(:[^,;*&$|\s]+)$`)
	iscsiEUI = regexp.MustCompile(`^eui.[[:alnum:]]{16}$`)
	iscsiNAA = regexp.MustCompile(`^naa.[[:alnum:]]{32}$`)
)

func validateGitRepoVolumeSource(g *corev1.GitRepoVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(g.Repository, fldPath.Child("repository"))
	return append(allErrs, validateLocalDescendingPath(g.Directory, fldPath.Child("directory"))...)
}

func validateISCSIName(value string, fldPath *field.Path, prefixMsg string) field.ErrorList {
	switch {
	case !strings.HasPrefix(value, "iqn") && !strings.HasPrefix(value, "eui") && !strings.HasPrefix(value, "naa"):
		return field.ErrorList{field.Invalid(fldPath, value, prefixMsg)}
	case strings.HasPrefix(value, "iqn") && !iscsiIQN.MatchString(value),
		strings.HasPrefix(value, "eui") && !iscsiEUI.MatchString(value),
		strings.HasPrefix(value, "naa") && !iscsiNAA.MatchString(value):
		return field.ErrorList{field.Invalid(fldPath, value, "must be valid format")}
	}
	return nil
}

func validateISCSIVolumeSource(s *corev1.ISCSIVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(s.TargetPortal, fldPath.Child("targetPortal"))
	if s.IQN == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("iqn"), ""))
	} else {
		allErrs = append(allErrs, validateISCSIName(s.IQN, fldPath.Child("iqn"), "must be valid format starting with iqn, eui, or naa")...)
	}
	if s.Lun < 0 || s.Lun > 255 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("lun"), s.Lun, validation.InclusiveRangeError(0, 255)))
	}
	if (s.DiscoveryCHAPAuth || s.SessionCHAPAuth) && s.SecretRef == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("secretRef"), ""))
	}
	if s.InitiatorName != nil {
		allErrs = append(allErrs, validateISCSIName(*s.InitiatorName, fldPath.Child("initiatorname"), "must be valid format starting with iqn, eui, or naa")...)
	}
	return allErrs
}

func validateFCVolumeSource(fc *corev1.FCVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(fc.TargetWWNs) < 1 && len(fc.WWIDs) < 1 {
		allErrs = append(allErrs, field.Required(fldPath.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("lun"), "lun is required if targetWWNs is specified"))
		} else if *fc.Lun < 0 || *fc.Lun > 255 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("lun"), fc.Lun, validation.InclusiveRangeError(0, 255)))
		}
	}
	return allErrs
}

func validateGCEPersistentDisk(pd *corev1.GCEPersistentDiskVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(pd.PDName, fldPath.Child("pdName"))
	if pd.Partition < 0 || pd.Partition > 255 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("partition"), pd.Partition, validation.InclusiveRangeError(1, 255)))
	}
	return allErrs
}

func validateAWSElasticBlockStore(pd *corev1.AWSElasticBlockStoreVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(pd.VolumeID, fldPath.Child("volumeID"))
	if pd.Partition < 0 || pd.Partition > 255 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("partition"), pd.Partition, validation.InclusiveRangeError(1, 255)))
	}
	return allErrs
}

func validateNFSVolumeSource(nfs *corev1.NFSVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(nfs.Server, fldPath.Child("server"))
	allErrs = append(allErrs, requiredString(nfs.Path, fldPath.Child("path"))...)
	if !path.IsAbs(nfs.Path) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return allErrs
}

func validateQuobyteVolumeSource(q *corev1.QuobyteVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case q.Registry == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("registry"), "must be a host:port pair or multiple pairs separated by commas"))
	case len(q.Tenant) >= 65:
		allErrs = append(allErrs, field.Required(fldPath.Child("tenant"), "must be a UUID and may not exceed a length of 64 characters"))
	default:
		for _, pair := range strings.Split(q.Registry, ",") {
			if _, _, err := net.SplitHostPort(pair); err != nil {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("registry"), q.Registry, "must be a host:port pair or multiple pairs separated by commas"))
			}
		}
	}
	return append(allErrs, requiredString(q.Volume, fldPath.Child("volume"))...)
}

func validateGlusterfsVolumeSource(g *corev1.GlusterfsVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(g.EndpointsName, fldPath.Child("endpoints"))
	return append(allErrs, requiredString(g.Path, fldPath.Child("path"))...)
}

func validateFlockerVolumeSource(f *corev1.FlockerVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if f.DatasetName == "" && f.DatasetUUID == "" {
		allErrs = append(allErrs, field.Required(fldPath, "one of datasetName and datasetUUID is required"))
	}
	if f.DatasetName != "" && f.DatasetUUID != "" {
		allErrs = append(allErrs, field.Invalid(fldPath, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(f.DatasetName, "/") {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("datasetName"), f.DatasetName, "must not contain '/'"))
	}
	return allErrs
}

func validateRBDVolumeSource(r *corev1.RBDVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(r.CephMonitors) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("monitors"), ""))
	}
	return append(allErrs, requiredString(r.RBDImage, fldPath.Child("image"))...)
}

func validateCinderVolumeSource(c *corev1.CinderVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(c.VolumeID, fldPath.Child("volumeID"))
	if c.SecretRef != nil && c.SecretRef.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("secretRef", "name"), ""))
	}
	return allErrs
}

func validateCephFSVolumeSource(c *corev1.CephFSVolumeSource, fldPath *field.Path) field.ErrorList {
	if len(c.Monitors) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("monitors"), "")}
	}
	return nil
}

func validateFlexVolumeSource(fv *corev1.FlexVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(fv.Driver, fldPath.Child("driver"))
	for _, k := range sets.List(sets.KeySet(fv.Options)) {
		ns := k
		if parts := strings.SplitN(k, "/", 2); len(parts) == 2 {
			ns = parts[0]
		}
		normalized := "." + strings.ToLower(ns)
		if strings.HasSuffix(normalized, ".kubernetes.io") || strings.HasSuffix(normalized, ".k8s.io") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("options").Key(k), k, "kubernetes.io and k8s.io namespaces are reserved"))
		}
	}
	return allErrs
}

func validateAzureFile(a *corev1.AzureFileVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(a.SecretName, fldPath.Child("secretName"))
	return append(allErrs, requiredString(a.ShareName, fldPath.Child("shareName"))...)
}

func validateAzureDisk(a *corev1.AzureDiskVolumeSource, fldPath *field.Path) field.ErrorList {
	cachingModes := sets.New(corev1.AzureDataDiskCachingNone, corev1.AzureDataDiskCachingReadOnly, corev1.AzureDataDiskCachingReadWrite)
	kinds := sets.New(corev1.AzureSharedBlobDisk, corev1.AzureDedicatedBlobDisk, corev1.AzureManagedDisk)
	allErrs := requiredString(a.DiskName, fldPath.Child("diskName"))
	allErrs = append(allErrs, requiredString(a.DataDiskURI, fldPath.Child("diskURI"))...)
	if a.CachingMode != nil && !cachingModes.Has(*a.CachingMode) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("cachingMode"), *a.CachingMode, sets.List(cachingModes)))
	}
	if a.Kind != nil && !kinds.Has(*a.Kind) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("kind"), *a.Kind, sets.List(kinds)))
	}
	if a.Kind != nil && *a.Kind == corev1.AzureManagedDisk && !strings.HasPrefix(a.DataDiskURI, "/subscriptions/") {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("diskURI"), a.DataDiskURI,
			[]string{"/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}"}))
	}
	if a.Kind != nil && *a.Kind != corev1.AzureManagedDisk && !strings.HasPrefix(a.DataDiskURI, "https://") {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("diskURI"), a.DataDiskURI,
			[]string{"https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd"}))
	}
	return allErrs
}

func validateStorageOSVolumeSource(s *corev1.StorageOSVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.VolumeName == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("volumeName"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Label(s.VolumeName, fldPath.Child("volumeName"))...)
	}
	if s.VolumeNamespace != "" {
		allErrs = append(allErrs, validateDNS1123Label(s.VolumeNamespace, fldPath.Child("volumeNamespace"))...)
	}
	if s.SecretRef != nil && s.SecretRef.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("secretRef", "name"), ""))
	}
	return allErrs
}

func validateScaleIOVolumeSource(s *corev1.ScaleIOVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(s.Gateway, fldPath.Child("gateway"))
	allErrs = append(allErrs, requiredString(s.System, fldPath.Child("system"))...)
	return append(allErrs, requiredString(s.VolumeName, fldPath.Child("volumeName"))...)
}
