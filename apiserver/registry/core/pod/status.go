package pod

import (
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/validation"
)

var statusPath = field.NewPath("status")

// validateStatusUpdate checks an update through pods/status: pod-specific
// annotations, condition types, the nominated node, an unchanged QoS class,
// no terminated container coming back to life unless the restart policy
// allows it, resource claim statuses, and pod and host IPs.
func validateStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	opts := validation.OptionsForUpdate(&old.Spec, &old.ObjectMeta)
	opts.ResourceIsPod = true
	allErrs := validation.ValidatePodSpecificAnnotationUpdates(pod, old, annotationsPath, opts)
	// Kubernetes reports condition types below metadata, not status.
	allErrs = append(allErrs, validatePodConditions(pod.Status.Conditions, metaPath.Child("conditions"))...)
	if pod.Spec.NodeName != old.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		for _, msg := range nameIsDNSSubdomain(n, false) {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("nominatedNodeName"), n, msg))
		}
	}
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(pod.Status.QOSClass, old.Status.QOSClass, statusPath.Child("qosClass"))...)
	allErrs = append(allErrs, validateContainerStateTransition(pod.Status.ContainerStatuses, old.Status.ContainerStatuses,
		statusPath.Child("containerStatuses"), old.Spec.RestartPolicy, nil)...)
	allErrs = append(allErrs, validateContainerStateTransition(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses,
		statusPath.Child("initContainerStatuses"), old.Spec.RestartPolicy, old.Spec.InitContainers)...)
	allErrs = append(allErrs, validateContainerStateTransition(pod.Status.EphemeralContainerStatuses, old.Status.EphemeralContainerStatuses,
		statusPath.Child("ephemeralContainerStatuses"), corev1.RestartPolicyNever, nil)...)
	allErrs = append(allErrs, validateResourceClaimStatuses(pod.Status.ResourceClaimStatuses, pod.Spec.ResourceClaims, statusPath.Child("resourceClaimStatuses"))...)
	allErrs = append(allErrs, validatePodIPs(pod)...)
	allErrs = append(allErrs, validateHostIPs(pod)...)
	allErrs = append(allErrs, validateContainerUsers(pod.Status.ContainerStatuses, statusPath.Child("containerStatuses"), pod.Spec.OS)...)
	allErrs = append(allErrs, validateContainerUsers(pod.Status.InitContainerStatuses, statusPath.Child("initContainerStatuses"), pod.Spec.OS)...)
	allErrs = append(allErrs, validateContainerUsers(pod.Status.EphemeralContainerStatuses, statusPath.Child("ephemeralContainerStatuses"), pod.Spec.OS)...)
	for i, s := range pod.Status.EphemeralContainerStatuses {
		if len(s.AllocatedResourcesStatus) != 0 {
			allErrs = append(allErrs, field.Forbidden(statusPath.Child("ephemeralContainerStatuses").Index(i).Child("allocatedResourcesStatus"), "must not be specified in container status"))
		}
	}
	return allErrs
}

// validatePodConditions checks that custom condition types are qualified
// names.
func validatePodConditions(conditions []corev1.PodCondition, fldPath *field.Path) field.ErrorList {
	system := sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)
	var allErrs field.ErrorList
	for i, c := range conditions {
		if system.Has(c.Type) {
			continue
		}
		for _, msg := range utilvalidation.IsQualifiedName(string(c.Type)) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("Type"), string(c.Type), msg))
		}
	}
	return allErrs
}

// validateContainerStateTransition forbids a terminated container to become
// non-terminated unless the restart policy (or, for init containers, being a
// sidecar) allows restarts.
func validateContainerStateTransition(statuses, old []corev1.ContainerStatus, fldPath *field.Path, policy corev1.RestartPolicy, initContainers []corev1.Container) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var allErrs field.ErrorList
	for i, o := range old {
		if o.State.Terminated == nil {
			continue
		}
		if o.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure {
			continue
		}
		if isSidecar(initContainers, o.Name) {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

func isSidecar(initContainers []corev1.Container, name string) bool {
	for _, c := range initContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func validateResourceClaimStatuses(statuses []corev1.PodResourceClaimStatus, claims []corev1.PodResourceClaim, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, s := range statuses {
		p := fldPath.Index(i)
		found := false
		for _, c := range claims {
			found = found || c.Name == s.Name
		}
		if !found {
			allErrs = append(allErrs, field.Invalid(p.Child("name"), s.Name, "must match the name of an entry in `spec.resourceClaims`"))
		}
		if names.Has(s.Name) {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), s.Name))
		} else {
			names.Insert(s.Name)
		}
		if s.ResourceClaimName != nil {
			for _, msg := range nameIsDNSSubdomain(*s.ResourceClaimName, false) {
				allErrs = append(allErrs, field.Invalid(p.Child("name"), s.ResourceClaimName, msg))
			}
		}
	}
	return allErrs
}

// validateIPList checks a list of IPs of a pod: each valid, at most one per
// family, no duplicates.
func validateIPList(ips []string, fldPath *field.Path, value interface{}, dup func(i int) interface{}) field.ErrorList {
	var allErrs field.ErrorList
	for i, ip := range ips {
		allErrs = append(allErrs, utilvalidation.IsValidIP(fldPath.Index(i), ip)...)
	}
	if len(ips) <= 1 {
		return allErrs
	}
	v4, v6 := false, false
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			allErrs = append(allErrs, field.InternalError(fldPath, fmt.Errorf("failed to check for dual stack with error:ip %v is invalid", s)))
			break
		}
		if ip.To4() == nil {
			v6 = true
		} else {
			v4 = true
		}
	}
	if !(v4 && v6) || len(ips) > 2 {
		allErrs = append(allErrs, field.Invalid(fldPath, value, "may specify no more than one IP for each IP family"))
	}
	seen := sets.New[string]()
	for i, ip := range ips {
		if seen.Has(ip) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), dup(i)))
		}
		seen.Insert(ip)
	}
	return allErrs
}

func validatePodIPs(pod *corev1.Pod) field.ErrorList {
	ips := make([]string, len(pod.Status.PodIPs))
	for i, ip := range pod.Status.PodIPs {
		ips[i] = ip.IP
	}
	return validateIPList(ips, statusPath.Child("podIPs"), pod.Status.PodIPs, func(i int) interface{} { return pod.Status.PodIPs[i] })
}

func validateHostIPs(pod *corev1.Pod) field.ErrorList {
	if len(pod.Status.HostIPs) == 0 {
		return nil
	}
	p := statusPath.Child("hostIPs")
	var allErrs field.ErrorList
	if pod.Status.HostIP != pod.Status.HostIPs[0].IP {
		allErrs = append(allErrs, field.Invalid(p.Index(0).Child("ip"), pod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	ips := make([]string, len(pod.Status.HostIPs))
	for i, ip := range pod.Status.HostIPs {
		ips[i] = ip.IP
	}
	return append(allErrs, validateIPList(ips, p, pod.Status.HostIPs, func(i int) interface{} { return pod.Status.HostIPs[i] })...)
}

// validateContainerUsers checks the user identities a kubelet reports.
func validateContainerUsers(statuses []corev1.ContainerStatus, fldPath *field.Path, os *corev1.PodOS) field.ErrorList {
	var allErrs field.ErrorList
	windows := os != nil && os.Name == corev1.Windows
	for i, s := range statuses {
		if s.User == nil || s.User.Linux == nil {
			continue
		}
		p := fldPath.Index(i).Child("linux")
		if windows {
			allErrs = append(allErrs, field.Forbidden(p, "cannot be set for a windows pod"))
			continue
		}
		u := s.User.Linux
		for _, msg := range utilvalidation.IsValidUserID(u.UID) {
			allErrs = append(allErrs, field.Invalid(p.Child("uid"), u.UID, msg))
		}
		for _, msg := range utilvalidation.IsValidGroupID(u.GID) {
			allErrs = append(allErrs, field.Invalid(p.Child("gid"), u.GID, msg))
		}
		for g, gid := range u.SupplementalGroups {
			for _, msg := range utilvalidation.IsValidGroupID(gid) {
				allErrs = append(allErrs, field.Invalid(p.Child("supplementalGroups").Index(g), gid, msg))
			}
		}
	}
	return allErrs
}
