package statefulset

import (
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

var (
	setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	// podNameRE splits a pod name into its set's name and ordinal.
	podNameRE = regexp.MustCompile("(.*)-([0-9]+)$")
)

// parentAndOrdinal splits "<set>-<ordinal>"; a pod not named so has no
// parent and ordinal -1.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRE.FindStringSubmatch(pod.Name)
	if len(m) < 3 {
		return "", -1
	}
	i, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return m[1], -1
	}
	return m[1], int(i)
}

// ordinal is a pod's ordinal, -1 if its name has none.
func ordinal(pod *corev1.Pod) int {
	_, o := parentAndOrdinal(pod)
	return o
}

// startOrdinal is the first ordinal of set (spec.ordinals.start, else 0).
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// endOrdinal is the last ordinal of set (inclusive).
func endOrdinal(set *appsv1.StatefulSet) int {
	return startOrdinal(set) + int(replicas(set)) - 1
}

func replicas(set *appsv1.StatefulSet) int32 {
	if set.Spec.Replicas == nil {
		return 1
	}
	return *set.Spec.Replicas
}

// inOrdinalRange reports whether pod's ordinal is one set wants now.
func inOrdinalRange(pod *corev1.Pod, set *appsv1.StatefulSet) bool {
	o := ordinal(pod)
	return o >= startOrdinal(set) && o <= endOrdinal(set)
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// claimName names the claim of template for the pod with ordinal.
func claimName(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, ordinal int) string {
	return template.Name + "-" + set.Name + "-" + strconv.Itoa(ordinal)
}

// isMemberOf reports whether pod is named after set.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod)
	return parent == set.Name
}

// identityMatches reports whether pod carries the identity of a member of
// set: its name, namespace and pod-name label.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, o := parentAndOrdinal(pod)
	return o >= 0 && parent == set.Name && pod.Name == podName(set, o) &&
		pod.Namespace == set.Namespace && pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name
}

// storageMatches reports whether pod mounts the claims of set's templates.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	o := ordinal(pod)
	if o < 0 {
		return false
	}
	volumes := make(map[string]corev1.Volume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		v, ok := volumes[t.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, t, o) {
			return false
		}
	}
	return true
}

// claims returns the claims pod needs, by template name: the templates
// named for the pod, in set's namespace, labelled with set's selector labels.
func claims(set *appsv1.StatefulSet, pod *corev1.Pod) map[string]corev1.PersistentVolumeClaim {
	o := ordinal(pod)
	out := make(map[string]corev1.PersistentVolumeClaim, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		c := set.Spec.VolumeClaimTemplates[i].DeepCopy()
		c.Name = claimName(set, &set.Spec.VolumeClaimTemplates[i], o)
		c.Namespace = set.Namespace
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		out[set.Spec.VolumeClaimTemplates[i].Name] = *c
	}
	return out
}

// updateStorage makes pod mount its claims, replacing volumes of the same
// names and keeping the others.
func updateStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	cs := claims(set, pod)
	volumes := make([]corev1.Volume, 0, len(cs)+len(pod.Spec.Volumes))
	// In template order, so that pod specs are stable.
	for i := range set.Spec.VolumeClaimTemplates {
		name := set.Spec.VolumeClaimTemplates[i].Name
		volumes = append(volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: cs[name].Name,
			}},
		})
	}
	for _, v := range pod.Spec.Volumes {
		if _, ok := cs[v.Name]; !ok {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
}

// updateIdentity sets pod's name, namespace and identity labels.
func updateIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	o := ordinal(pod)
	pod.Name = podName(set, o)
	pod.Namespace = set.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(o)
}

// newPod returns the pod with ordinal of set (at set's template): the
// template's labels, annotations, finalizers and spec, set as controller,
// the identity, hostname and subdomain, and the claims' volumes.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	t := &set.Spec.Template
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			GenerateName:    generateNamePrefix(set.Name),
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, setKind)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	updateIdentity(set, pod)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	updateStorage(set, pod)
	return pod
}

// generateNamePrefix is the generateName Kubernetes puts on pods made from
// a controller's template: "<name>-", or the name if that is no valid prefix.
func generateNamePrefix(name string) string {
	prefix := name + "-"
	if len(validation.IsDNS1123Subdomain(prefix[:len(prefix)-1]+"a")) != 0 {
		return name
	}
	return prefix
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// newVersionedPod returns the pod with ordinal at the revision it should
// have: the current revision below the partition (or below the current
// replicas when there is no rolling update configuration), else the update
// revision.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	s := currentSet.Spec.UpdateStrategy
	start := startOrdinal(currentSet)
	if (s.Type == appsv1.RollingUpdateStatefulSetStrategyType && s.RollingUpdate == nil && ordinal < start+int(currentSet.Status.CurrentReplicas)) ||
		(s.RollingUpdate != nil && s.RollingUpdate.Partition != nil && ordinal < start+int(*s.RollingUpdate.Partition)) {
		pod := newPod(currentSet, ordinal)
		setRevision(pod, currentRevision)
		return pod
	}
	pod := newPod(updateSet, ordinal)
	setRevision(pod, updateRevision)
	return pod
}

func setRevision(pod *corev1.Pod, revision string) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetRevisionLabel] = revision
}

// revision is the revision a pod was made at ("" if unknown).
func revision(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}

// isCreated reports whether pod exists in the API (a stored pod has a phase).
func isCreated(pod *corev1.Pod) bool { return pod.Status.Phase != "" }

func isPending(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodPending }

// hasFinished reports whether pod has stopped for good (Failed or
// Succeeded); the controller replaces such pods.
func hasFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// readyCondition returns pod's Ready condition, nil if it has none.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isRunningAndReady reports whether pod is Running with Ready true.
func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && isReady(pod)
}

// isAvailable reports whether pod has been Ready for minReadySeconds at now.
func isAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// isUnavailable reports whether pod is not available or is terminating.
func isUnavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return !isAvailable(pod, minReadySeconds, now) || isTerminating(pod)
}
