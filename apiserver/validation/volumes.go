package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateVolumes checks a pod's volumes and returns the valid ones by name,
// for the volume mounts to be checked against. podMeta, when it names a real
// pod, is used to check the names of the claims of ephemeral volumes.
func ValidateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path, opts PodValidationOptions) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	allNames := sets.Set[string]{}
	createdPVCs := sets.Set[string]{}
	if podMeta != nil && podMeta.Name != "" {
		for _, vol := range volumes {
			if vol.Ephemeral != nil {
				createdPVCs.Insert(podMeta.Name + "-" + vol.Name)
			}
		}
	}
	vols := make(map[string]corev1.VolumeSource)
	for i, vol := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, idxPath, vol.Name, podMeta, opts)
		if vol.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if allNames.Has(vol.Name) {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			allNames.Insert(vol.Name)
			vols[vol.Name] = vol.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
		if vol.PersistentVolumeClaim != nil && createdPVCs.Has(vol.PersistentVolumeClaim.ClaimName) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("persistentVolumeClaim").Child("claimName"), vol.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return vols, allErrs
}

// volumeSourceCheck is one kind of volume source: its field name, whether it
// is set, and how to check it.
type volumeSourceCheck struct {
	name  string
	set   bool
	check func(*field.Path) field.ErrorList
}

func validateVolumeSource(src *corev1.VolumeSource, fldPath *field.Path, volName string, podMeta *metav1.ObjectMeta, opts PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList
	checks := []volumeSourceCheck{
		{"emptyDir", src.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPathVolumeSource(src.HostPath, p) }},
		{"gitRepo", src.GitRepo != nil, func(p *field.Path) field.ErrorList { return validateGitRepoVolumeSource(src.GitRepo, p) }},
		// Kubernetes reports errors of this source below "persistentDisk".
		{"gcePersistentDisk", src.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return validateGCEPersistentDisk(src.GCEPersistentDisk, fldPath.Child("persistentDisk"))
		}},
		{"awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList { return validateAWSElasticBlockStore(src.AWSElasticBlockStore, p) }},
		{"secret", src.Secret != nil, func(p *field.Path) field.ErrorList { return validateSecretVolumeSource(src.Secret, p) }},
		{"nfs", src.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFSVolumeSource(src.NFS, p) }},
		{"iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
			errs := validateISCSIVolumeSource(src.ISCSI, p)
			if src.ISCSI.InitiatorName != nil && len(volName+":"+src.ISCSI.TargetPortal) > 64 {
				errs = append(errs, field.Invalid(fldPath.Child("name"), volName,
					"Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
			}
			return errs
		}},
		{"glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList { return validateGlusterfsVolumeSource(src.Glusterfs, p) }},
		{"flocker", src.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlockerVolumeSource(src.Flocker, p) }},
		{"persistentVolumeClaim", src.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			if src.PersistentVolumeClaim.ClaimName == "" {
				return field.ErrorList{field.Required(p.Child("claimName"), "")}
			}
			return nil
		}},
		{"rbd", src.RBD != nil, func(p *field.Path) field.ErrorList { return validateRBDVolumeSource(src.RBD, p) }},
		{"cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList { return validateCinderVolumeSource(src.Cinder, p) }},
		// Kubernetes checks "cephFS" for duplicates but reports errors below "cephfs".
		{"cephFS", src.CephFS != nil, func(p *field.Path) field.ErrorList {
			return validateCephFSVolumeSource(src.CephFS, fldPath.Child("cephfs"))
		}},
		{"quobyte", src.Quobyte != nil, func(p *field.Path) field.ErrorList { return validateQuobyteVolumeSource(src.Quobyte, p) }},
		// Kubernetes misspells this source in its "more than 1 volume type" error.
		{"downwarAPI", src.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			return validateDownwardAPIVolumeSource(src.DownwardAPI, fldPath.Child("downwardAPI"))
		}},
		{"fc", src.FC != nil, func(p *field.Path) field.ErrorList { return validateFCVolumeSource(src.FC, p) }},
		{"flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList { return validateFlexVolumeSource(src.FlexVolume, p) }},
		{"configMap", src.ConfigMap != nil, func(p *field.Path) field.ErrorList { return validateConfigMapVolumeSource(src.ConfigMap, p) }},
		{"azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList { return validateAzureFile(src.AzureFile, p) }},
		{"vsphereVolume", src.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requiredString(src.VsphereVolume.VolumePath, p.Child("volumePath"))
		}},
		{"photonPersistentDisk", src.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requiredString(src.PhotonPersistentDisk.PdID, p.Child("pdID"))
		}},
		{"portworxVolume", src.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requiredString(src.PortworxVolume.VolumeID, p.Child("volumeID"))
		}},
		{"azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList { return validateAzureDisk(src.AzureDisk, p) }},
		{"storageos", src.StorageOS != nil, func(p *field.Path) field.ErrorList { return validateStorageOSVolumeSource(src.StorageOS, p) }},
		{"projected", src.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjectedVolumeSource(src.Projected, p, opts) }},
		{"scaleIO", src.ScaleIO != nil, func(p *field.Path) field.ErrorList { return validateScaleIOVolumeSource(src.ScaleIO, p) }},
		{"csi", src.CSI != nil, func(p *field.Path) field.ErrorList { return validateCSIVolumeSource(src.CSI, p) }},
		{"ephemeral", src.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			return validateEphemeralVolumeSource(src.Ephemeral, p, fldPath, volName, podMeta)
		}},
		{"image", src.Image != nil, func(p *field.Path) field.ErrorList { return validateImageVolumeSource(src.Image, p, opts) }},
	}
	count := 0
	for _, c := range checks {
		if !c.set {
			continue
		}
		if count > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(c.name), "may not specify more than 1 volume type"))
			continue
		}
		count++
		allErrs = append(allErrs, c.check(fldPath.Child(c.name))...)
	}
	if count == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

func requiredString(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev,
)

func validateHostPathVolumeSource(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), *hp.Type, sets.List(supportedHostPathTypes)))
	}
	return allErrs
}

func validateSecretVolumeSource(s *corev1.SecretVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(s.SecretName, fldPath.Child("secretName"))
	allErrs = append(allErrs, validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range s.Items {
		allErrs = append(allErrs, validateKeyToPath(&s.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateConfigMapVolumeSource(s *corev1.ConfigMapVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(s.Name, fldPath.Child("name"))
	allErrs = append(allErrs, validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range s.Items {
		allErrs = append(allErrs, validateKeyToPath(&s.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(kp.Key, fldPath.Child("key"))
	allErrs = append(allErrs, requiredString(kp.Path, fldPath.Child("path"))...)
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	return append(allErrs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
}

func validateDownwardAPIVolumeFile(file *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	allErrs := requiredString(file.Path, fldPath.Child("path"))
	allErrs = append(allErrs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(file.FieldRef, validVolumeFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateResourceFieldSelector(file.ResourceFieldRef, fldPath.Child("resourceFieldRef"), true)...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
}

func validateDownwardAPIVolumeSource(s *corev1.DownwardAPIVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))
	for i := range s.Items {
		allErrs = append(allErrs, validateDownwardAPIVolumeFile(&s.Items[i], fldPath)...)
	}
	return allErrs
}

func validateProjectedVolumeSource(projection *corev1.ProjectedVolumeSource, fldPath *field.Path, opts PodValidationOptions) field.ErrorList {
	allErrs := validateFileMode(projection.DefaultMode, fldPath.Child("defaultMode"))
	allPaths := sets.Set[string]{}
	addPath := func(p, value string) {
		if allPaths.Has(p) {
			allErrs = append(allErrs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		allPaths.Insert(p)
	}
	for i, source := range projection.Sources {
		sources := 0
		srcPath := fldPath.Child("sources").Index(i)
		if s := source.Secret; s != nil {
			sources++
			p := srcPath.Child("secret")
			allErrs = append(allErrs, requiredString(s.Name, p.Child("name"))...)
			for j := range s.Items {
				allErrs = append(allErrs, validateKeyToPath(&s.Items[j], p.Child("items").Index(j))...)
				if s.Items[j].Path != "" {
					addPath(s.Items[j].Path, s.Name)
				}
			}
		}
		if s := source.ConfigMap; s != nil {
			sources++
			p := srcPath.Child("configMap")
			allErrs = append(allErrs, requiredString(s.Name, p.Child("name"))...)
			for j := range s.Items {
				allErrs = append(allErrs, validateKeyToPath(&s.Items[j], p.Child("items").Index(j))...)
				if s.Items[j].Path != "" {
					addPath(s.Items[j].Path, s.Name)
				}
			}
		}
		if s := source.DownwardAPI; s != nil {
			sources++
			p := srcPath.Child("downwardAPI")
			for j := range s.Items {
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(&s.Items[j], p)...)
				if s.Items[j].Path != "" {
					addPath(s.Items[j].Path, s.Items[j].Path)
				}
			}
		}
		if s := source.ServiceAccountToken; s != nil {
			sources++
			p := srcPath.Child("serviceAccountToken")
			if s.ExpirationSeconds != nil {
				if *s.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *s.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *s.ExpirationSeconds > 1<<32 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *s.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if s.Path == "" {
				allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
			} else if !opts.AllowNonLocalProjectedTokenPath {
				allErrs = append(allErrs, validateLocalNonReservedPath(s.Path, fldPath.Child("path"))...)
			}
		}
		if s := source.ClusterTrustBundle; s != nil {
			sources++
			allErrs = append(allErrs, validateClusterTrustBundleProjection(s, srcPath.Child("clusterTrustBundle"))...)
			addPath(s.Path, s.Path)
		}
		if sources > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

func validateClusterTrustBundleProjection(s *corev1.ClusterTrustBundleProjection, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case s.Name != nil && s.SignerName != nil:
		allErrs = append(allErrs, field.Invalid(p, s, "only one of name and signerName may be used"))
	case s.Name != nil:
		if *s.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), "must be a valid object name"))
		}
		if s.LabelSelector != nil {
			allErrs = append(allErrs, field.Invalid(p.Child("labelSelector"), s.LabelSelector, "labelSelector must be unset if name is specified"))
		}
	case s.SignerName != nil:
		if *s.SignerName == "" {
			allErrs = append(allErrs, field.Required(p.Child("signerName"), "must be a valid signer name"))
		}
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(s.LabelSelector,
			metav1validation.LabelSelectorValidationOptions{}, p.Child("labelSelector"))...)
	default:
		allErrs = append(allErrs, field.Required(p, "either name or signerName must be specified"))
	}
	allErrs = append(allErrs, requiredString(s.Path, p.Child("path"))...)
	return append(allErrs, validateLocalNonReservedPath(s.Path, p.Child("path"))...)
}

func validateCSIVolumeSource(csi *corev1.CSIVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateCSIDriverName(csi.Driver, fldPath.Child("driver"))
	if ref := csi.NodePublishSecretRef; ref != nil {
		if ref.Name == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("nodePublishSecretRef", "name"), ""))
		} else {
			allErrs = append(allErrs, validateObjectName(ref.Name, apimachineryvalidation.NameIsDNSSubdomain, fldPath.Child("name"))...)
		}
	}
	return allErrs
}

func validateCSIDriverName(driver string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if driver == "" {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	}
	if len(driver) > 63 {
		allErrs = append(allErrs, field.TooLong(fldPath, "", 63))
	}
	return append(allErrs, validateDNS1123Subdomain(toLower(driver), fldPath)...)
}

var supportedAccessModes = sets.New(
	corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod,
)

// validateEphemeralVolumeSource checks a generic ephemeral volume: its claim
// template (labels and annotations only in metadata, and a claim spec with
// access modes and a storage request), and the name of the claim it makes.
func validateEphemeralVolumeSource(e *corev1.EphemeralVolumeSource, fldPath, volPath *field.Path, volName string, podMeta *metav1.ObjectMeta) field.ErrorList {
	var allErrs field.ErrorList
	tmpl := e.VolumeClaimTemplate
	if tmpl == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("volumeClaimTemplate"), ""))
	} else {
		tp := fldPath.Child("volumeClaimTemplate")
		allErrs = append(allErrs, validateTemplateObjectMeta(&tmpl.ObjectMeta, tp.Child("metadata"))...)
		allErrs = append(allErrs, validateClaimSpec(&tmpl.Spec, tp.Child("spec"))...)
	}
	if podMeta != nil && podMeta.Name != "" && volName != "" {
		pvcName := podMeta.Name + "-" + volName
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(pvcName, false) {
			allErrs = append(allErrs, field.Invalid(volPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
		}
	}
	return allErrs
}

// validateTemplateObjectMeta checks the metadata of an embedded template
// that may only carry labels and annotations.
func validateTemplateObjectMeta(m *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateAnnotations(m.Annotations, fldPath.Child("annotations"))
	allErrs = append(allErrs, metav1validation.ValidateLabels(m.Labels, fldPath.Child("labels"))...)
	rest := m.DeepCopy()
	rest.Labels, rest.Annotations = nil, nil
	allErrs = append(allErrs, forbidSetFields(*rest, "cannot be set", fldPath)...)
	return allErrs
}

// validateClaimSpec checks the essentials of a PersistentVolumeClaimSpec.
func validateClaimSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	if spec.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	rwop, other := false, false
	for _, m := range spec.AccessModes {
		if !supportedAccessModes.Has(m) {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("accessModes"), m, sets.List(supportedAccessModes)))
		} else if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
	}
	storage, ok := spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		allErrs = append(allErrs, field.Required(fldPath.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	} else if storage.Cmp(resource.Quantity{}) <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("resources").Key(string(corev1.ResourceStorage)), storage.String(), isNotPositiveErrorMsg))
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		allErrs = append(allErrs, validateObjectName(*spec.StorageClassName, apimachineryvalidation.NameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && *spec.VolumeMode != corev1.PersistentVolumeBlock && *spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode,
			[]corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}))
	}
	return allErrs
}

func validateImageVolumeSource(s *corev1.ImageVolumeSource, fldPath *field.Path, opts PodValidationOptions) field.ErrorList {
	var allErrs field.ErrorList
	if opts.ResourceIsPod && s.Reference == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("reference"), ""))
	}
	return append(allErrs, validatePullPolicy(s.PullPolicy, fldPath.Child("pullPolicy"))...)
}
