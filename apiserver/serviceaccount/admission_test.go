package serviceaccount_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"berth/apiserver/admission"
	"berth/apiserver/registry"
	"berth/apiserver/registry/generic"
)

// serviceAccounts is a fake admission.ServiceAccounts that counts lookups
// and may make "default" appear after some of them.
type serviceAccounts struct {
	mu      sync.Mutex
	sas     map[string]*corev1.ServiceAccount
	lookups int
	// appearAfter, if set, adds team/default after that many lookups.
	appearAfter int
	err         error
}

func (f *serviceAccounts) Get(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return nil, f.err
	}
	if f.appearAfter > 0 && f.lookups > f.appearAfter {
		f.sas[ns+"/default"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
	}
	if sa, ok := f.sas[ns+"/"+name]; ok {
		return sa, nil
	}
	return nil, nf("serviceaccounts", name)
}

var podsResource = &registry.Resource{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}

func podAttrs(pod *corev1.Pod) *generic.Attributes {
	return &generic.Attributes{Operation: generic.Create, Resource: podsResource, Namespace: "team", Name: pod.Name, Object: pod}
}

func container(name string, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", VolumeMounts: mounts}
}

func TestServiceAccountAdmission(t *testing.T) {
	const path = "/var/run/secrets/kubernetes.io/serviceaccount"
	noAutomount := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false)}
	withPullSecrets := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "puller"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	for _, tc := range []struct {
		name string
		pod  corev1.PodSpec
		// wantMounts is, per init container then container, whether it
		// mounts the token volume; wantVolume whether the volume is added.
		wantMounts  []bool
		wantVolume  bool
		wantSA      string
		wantPullSec []string
	}{
		{name: "default service account", pod: corev1.PodSpec{Containers: []corev1.Container{container("a")}},
			wantMounts: []bool{true}, wantVolume: true, wantSA: "default"},
		{name: "every container", pod: corev1.PodSpec{InitContainers: []corev1.Container{container("init")}, Containers: []corev1.Container{container("a"), container("b")}},
			wantMounts: []bool{true, true, true}, wantVolume: true, wantSA: "default"},
		{name: "container with its own mount there", pod: corev1.PodSpec{Containers: []corev1.Container{
			container("own", corev1.VolumeMount{Name: "mine", MountPath: path}), container("b")}},
			wantMounts: []bool{false, true}, wantVolume: true, wantSA: "default"},
		{name: "every container with its own mount: no volume", pod: corev1.PodSpec{Containers: []corev1.Container{
			container("own", corev1.VolumeMount{Name: "mine", MountPath: path})}},
			wantMounts: []bool{false}, wantVolume: false, wantSA: "default"},
		{name: "pod says no", pod: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{container("a")}},
			wantMounts: []bool{false}, wantSA: "default"},
		{name: "service account says no", pod: corev1.PodSpec{ServiceAccountName: "quiet", Containers: []corev1.Container{container("a")}},
			wantMounts: []bool{false}, wantSA: "quiet"},
		{name: "pod says yes over the service account", pod: corev1.PodSpec{ServiceAccountName: "quiet", AutomountServiceAccountToken: ptr.To(true),
			Containers: []corev1.Container{container("a")}}, wantMounts: []bool{true}, wantVolume: true, wantSA: "quiet"},
		{name: "image pull secrets of the service account", pod: corev1.PodSpec{ServiceAccountName: "puller", Containers: []corev1.Container{container("a")}},
			wantMounts: []bool{true}, wantVolume: true, wantSA: "puller", wantPullSec: []string{"regcred"}},
		{name: "pod's own image pull secrets kept", pod: corev1.PodSpec{ServiceAccountName: "puller", ImagePullSecrets: []corev1.LocalObjectReference{{Name: "mine"}},
			Containers: []corev1.Container{container("a")}}, wantMounts: []bool{true}, wantVolume: true, wantSA: "puller", wantPullSec: []string{"mine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sas := &serviceAccounts{sas: map[string]*corev1.ServiceAccount{
				"team/default": {ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "default"}},
				"team/quiet":   noAutomount, "team/puller": withPullSecrets,
			}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "p"}, Spec: tc.pod}
			if err := (admission.ServiceAccount{ServiceAccounts: sas}).Admit(context.Background(), podAttrs(pod)); err != nil {
				t.Fatal(err)
			}
			wantDeprecated := tc.pod.DeprecatedServiceAccount
			if tc.pod.ServiceAccountName == "" {
				wantDeprecated = "default"
			}
			if pod.Spec.ServiceAccountName != tc.wantSA || pod.Spec.DeprecatedServiceAccount != wantDeprecated {
				t.Errorf("service account %q/%q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
			}
			var pulls []string
			for _, s := range pod.Spec.ImagePullSecrets {
				pulls = append(pulls, s.Name)
			}
			if !reflect.DeepEqual(pulls, tc.wantPullSec) {
				t.Errorf("image pull secrets %v, want %v", pulls, tc.wantPullSec)
			}
			var tokenVolumes []corev1.Volume
			for _, v := range pod.Spec.Volumes {
				if strings.HasPrefix(v.Name, "kube-api-access-") {
					tokenVolumes = append(tokenVolumes, v)
				}
			}
			if tc.wantVolume != (len(tokenVolumes) == 1) || len(tokenVolumes) > 1 {
				t.Fatalf("token volumes %+v", tokenVolumes)
			}
			name := ""
			if tc.wantVolume {
				v := tokenVolumes[0]
				name = v.Name
				if len(name) != len("kube-api-access-")+5 {
					t.Errorf("volume name %q", name)
				}
				if !reflect.DeepEqual(v.VolumeSource, corev1.VolumeSource{Projected: upstreamTokenVolume()}) {
					t.Errorf("volume source %+v", v.VolumeSource)
				}
			}
			all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
			for i, c := range all {
				mounted := false
				for _, m := range c.VolumeMounts {
					if m.Name == name && name != "" {
						mounted = true
						if m != (corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: path}) {
							t.Errorf("container %s mount %+v", c.Name, m)
						}
					}
				}
				if mounted != tc.wantMounts[i] {
					t.Errorf("container %s mounts the token: %v, want %v", c.Name, mounted, tc.wantMounts[i])
				}
			}
		})
	}
}

// upstreamTokenVolume is the projected volume Kubernetes 1.33 adds,
// written out field by field.
func upstreamTokenVolume() *corev1.ProjectedVolumeSource {
	mode := int32(0o644)
	seconds := int64(3607)
	return &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &seconds}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// A pod that already has a kube-api-access volume keeps it, and
// containers mount that one.
func TestServiceAccountAdmissionReusesVolume(t *testing.T) {
	sas := &serviceAccounts{sas: map[string]*corev1.ServiceAccount{"team/default": {ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "default"}}}}
	existing := corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{existing}, Containers: []corev1.Container{container("a")}}}
	if err := (admission.ServiceAccount{ServiceAccounts: sas}).Admit(context.Background(), podAttrs(pod)); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 1 || !reflect.DeepEqual(pod.Spec.Volumes[0], existing) {
		t.Errorf("volumes %+v", pod.Spec.Volumes)
	}
	if m := pod.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "kube-api-access-abcde" {
		t.Errorf("mounts %+v", m)
	}
}

func TestServiceAccountAdmissionRefuses(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sa          string
		appearAfter int
		err         error
		wantCode    int32 // 0: admitted
		wantMsg     string
		wantLookups int
	}{
		{name: "named service account missing", sa: "ghost", wantCode: 403, wantLookups: 1,
			wantMsg: `pods "p" is forbidden: error looking up service account team/ghost: serviceaccounts "ghost" not found`},
		{name: "default never appears", wantCode: 403, wantLookups: 10,
			wantMsg: `pods "p" is forbidden: error looking up service account team/default: serviceaccounts "default" not found`},
		{name: "default appears while waiting", appearAfter: 3, wantLookups: 4},
		{name: "lookup fails", err: errors.New("etcd is down"), wantCode: 403, wantLookups: 1, wantMsg: "etcd is down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sas := &serviceAccounts{sas: map[string]*corev1.ServiceAccount{}, appearAfter: tc.appearAfter, err: tc.err}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{ServiceAccountName: tc.sa, Containers: []corev1.Container{container("a")}}}
			err := admission.ServiceAccount{ServiceAccounts: sas, RetryInterval: time.Millisecond}.Admit(context.Background(), podAttrs(pod))
			if tc.wantCode == 0 && err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != 0 {
				var status apierrors.APIStatus
				if !errors.As(err, &status) || status.Status().Code != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %v, want %d %q", err, tc.wantCode, tc.wantMsg)
				}
			}
			if sas.lookups != tc.wantLookups {
				t.Errorf("%d lookups, want %d", sas.lookups, tc.wantLookups)
			}
		})
	}
}

// The wait for "default" ends with the request.
func TestServiceAccountAdmissionCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sas := &serviceAccounts{sas: map[string]*corev1.ServiceAccount{}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	err := admission.ServiceAccount{ServiceAccounts: sas, RetryInterval: time.Hour}.Admit(ctx, podAttrs(pod))
	if err == nil || sas.lookups != 1 {
		t.Fatalf("error %v after %d lookups", err, sas.lookups)
	}
}

func TestServiceAccountAdmissionLeavesAlone(t *testing.T) {
	mirror := map[string]string{corev1.MirrorPodAnnotationKey: "x"}
	sas := &serviceAccounts{sas: map[string]*corev1.ServiceAccount{}}
	withSA := admission.ServiceAccount{ServiceAccounts: sas}
	for _, tc := range []struct {
		name    string
		plugin  admission.ServiceAccount
		attrs   func(*corev1.Pod) *generic.Attributes
		pod     corev1.Pod
		wantSA  string
		wantErr string
	}{
		{name: "no lookups configured: name only", plugin: admission.ServiceAccount{}, attrs: podAttrs, wantSA: "default"},
		{name: "update", plugin: withSA, attrs: func(p *corev1.Pod) *generic.Attributes {
			a := podAttrs(p)
			a.Operation = generic.Update
			return a
		}},
		{name: "other resource", plugin: withSA, attrs: func(p *corev1.Pod) *generic.Attributes {
			a := podAttrs(p)
			a.Resource = &registry.Resource{Group: "apps", Version: "v1", Resource: "pods"}
			return a
		}},
		{name: "mirror pod", plugin: withSA, attrs: podAttrs, pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: mirror}}},
		{name: "mirror pod with a service account", plugin: withSA, attrs: podAttrs, wantSA: "x", wantErr: "a mirror pod may not reference service accounts",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: mirror}, Spec: corev1.PodSpec{ServiceAccountName: "x"}}},
		{name: "mirror pod with a secret", plugin: withSA, attrs: podAttrs, wantErr: "a mirror pod may not reference secrets",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: mirror}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a",
				Env: []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod.DeepCopy()
			pod.Spec.Containers = append(pod.Spec.Containers, container("main"))
			before := pod.DeepCopy()
			err := tc.plugin.Admit(context.Background(), tc.attrs(pod))
			if tc.wantErr != "" {
				if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			before.Spec.ServiceAccountName = tc.wantSA
			if tc.wantSA == "default" {
				before.Spec.DeprecatedServiceAccount = "default"
			}
			if !reflect.DeepEqual(pod, before) {
				t.Errorf("pod changed:\n got %+v\nwant %+v", pod.Spec, before.Spec)
			}
		})
	}
	if sas.lookups != 0 {
		t.Errorf("%d service account lookups", sas.lookups)
	}
}
