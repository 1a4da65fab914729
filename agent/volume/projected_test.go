package volume

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPodFieldValue(t *testing.T) {
	pod := testPod("uid-1")
	for _, tc := range []struct {
		path, want, err string
	}{
		{path: "metadata.name", want: "web"},
		{path: "metadata.namespace", want: "default"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: `note="hello \"there\""`},
		{path: "metadata.labels['tier']", want: "front"},
		{path: "metadata.labels['absent']", want: ""},
		{path: "metadata.annotations['note']", want: `hello "there"`},
		{path: "metadata.labels['bad key!']", err: "invalid key subscript"},
		{path: "metadata.name['x']", err: "does not support subscript"},
		{path: "spec.nodeName", err: "unsupported fieldPath"},
	} {
		got, err := podFieldValue(pod, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestResourceFieldValue(t *testing.T) {
	env := newTestEnv(t)
	pod := testPod("uid-1")
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
	}}}
	for _, tc := range []struct {
		container, res, divisor, want, err string
	}{
		{container: "main", res: "requests.cpu", want: "1"}, // 250m rounded up
		{container: "main", res: "requests.cpu", divisor: "1m", want: "250"},
		{container: "main", res: "requests.memory", want: "67108864"},
		{container: "main", res: "requests.memory", divisor: "1Mi", want: "64"},
		{container: "main", res: "limits.memory", divisor: "1Mi", want: "128"},
		{container: "main", res: "limits.cpu", want: "4"}, // unset: node allocatable
		{container: "main", res: "limits.ephemeral-storage", divisor: "1Gi", want: "100"},
		{container: "main", res: "requests.ephemeral-storage", want: "0"},
		{container: "init", res: "limits.cpu", divisor: "1m", want: "1500"},
		{container: "main", res: "limits.hugepages-2Mi", want: "0"},
		{container: "main", res: "limits.nvidia.com/gpu", err: "unsupported container resource"},
		{container: "nope", res: "limits.cpu", err: "container nope not found"},
	} {
		ref := &corev1.ResourceFieldSelector{ContainerName: tc.container, Resource: tc.res}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := env.m.resourceFieldValue(context.Background(), pod, ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: error %v, want %q", tc.container, tc.res, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %s /%s = %q, %v; want %q", tc.container, tc.res, tc.divisor, got, err, tc.want)
		}
	}

	// Without a known node, an unset limit is an error, not a made-up value.
	m, err := New(Config{Root: t.TempDir(), Client: env.client, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.resourceFieldValue(context.Background(), pod, &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu"}); err == nil {
		t.Error("limits.cpu without node allocatable gave a value")
	}
}

// TestDownwardAPIVolume: files, modes, and a newer pod object (labels
// changed) passed to Setup updates the files.
func TestDownwardAPIVolume(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	pod := testPod("uid-downward", corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		DefaultMode: ptr(int32(0o444)),
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "meta/labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: ptr(int32(0o400))},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		},
	}}})
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["info"]
	if !strings.HasSuffix(dir, filepath.Join("volumes", pluginDownwardAPI, "info")) {
		t.Errorf("path %s", dir)
	}
	for p, want := range map[string]string{"name": "web", "meta/labels": "app=\"web\"\ntier=\"front\"", "mem": "128"} {
		if got := readFile(t, filepath.Join(dir, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "name")).Perm(); got != 0o444 {
		t.Errorf("name mode %v", got)
	}
	if got := fileMode(t, filepath.Join(dir, "meta/labels")).Perm(); got != 0o400 {
		t.Errorf("labels mode %v", got)
	}
	pod.Labels["tier"] = "back"
	if _, err := env.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "meta/labels")); got != "app=\"web\"\ntier=\"back\"" {
		t.Errorf("labels after update = %q", got)
	}

	bad := testPod("uid-downward-bad", corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "a", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
			{Path: "b", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "x", Resource: "limits.cpu"}},
		},
	}}})
	defer env.m.Teardown(ctx, bad.UID)
	_, err = env.m.Setup(ctx, bad)
	want := `MountVolume.SetUp failed for volume "info" : [unsupported fieldPath: spec.nodeName, container x not found]`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// kubeAPIAccess is the projected volume the ServiceAccount admission adds.
func kubeAPIAccess() corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o644)),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "app.conf", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
				Items: []corev1.KeyToPath{{Key: "user", Path: "auth/user", Mode: ptr(int32(0o400))}}}},
		},
	}}}
}

func TestProjectedVolume(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t, testConfigMap.DeepCopy(), testSecret.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-projected", kubeAPIAccess())
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["kube-api-access-abcde"]
	for p, want := range map[string]string{"token": "token-1", "ca.crt": "listen 8080", "namespace": "default", "auth/user": "admin"} {
		if got := readFile(t, filepath.Join(dir, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if got := fileMode(t, filepath.Join(dir, "token")).Perm(); got != 0o644 {
		t.Errorf("token mode %v, want the volume's defaultMode", got)
	}
	if got := fileMode(t, filepath.Join(dir, "auth/user")).Perm(); got != 0o400 {
		t.Errorf("auth/user mode %v", got)
	}
	if got := listVisible(t, dir); !slices.Equal(got, []string{"auth", "ca.crt", "namespace", "token"}) {
		t.Errorf("visible %v", got)
	}
	if mounted, _ := isTmpfsMount(dir); !mounted {
		t.Error("projected volume is not a tmpfs")
	}
	// The TokenRequest the kubelet sends.
	if env.tokens.count() != 1 {
		t.Fatalf("%d token requests", env.tokens.count())
	}
	tr := env.tokens.reqs[0]
	if env.tokens.sa[0] != "builder" || tr.Spec.Audiences != nil || *tr.Spec.ExpirationSeconds != 3607 ||
		tr.Spec.BoundObjectRef == nil || *tr.Spec.BoundObjectRef != (authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: pod.UID}) {
		t.Errorf("token request for %s: %+v bound %+v", env.tokens.sa[0], tr.Spec, tr.Spec.BoundObjectRef)
	}

	// A missing source fails the volume with the kubelet's message.
	bad := testPod("uid-projected-bad", corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone2"}, Optional: ptr(true)}},
		},
	}}})
	defer env.m.Teardown(ctx, bad.UID)
	if _, err := env.m.Setup(ctx, bad); err == nil || err.Error() != `MountVolume.SetUp failed for volume "p" : configmap "gone" not found` {
		t.Errorf("error %v", err)
	}
}

// TestTokenRefresh: with a fake clock, the token is renewed once 80% of
// its lifetime passed (not before), after 24 hours for long-lived tokens,
// and a failed renewal keeps a still valid token but fails an expired one.
func TestTokenRefresh(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	ctx := context.Background()
	tokenVol := func(name string, exp int64, aud string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr(int32(0o600)),
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path: "token", ExpirationSeconds: ptr(exp), Audience: aud}}},
		}}}
	}
	pod := testPod("uid-token", tokenVol("short", 3600, "vault"))
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(paths["short"], "token")
	if got := readFile(t, tokenFile); got != "token-1" {
		t.Fatalf("token %q", got)
	}
	if got := env.tokens.reqs[0].Spec.Audiences; !slices.Equal(got, []string{"vault"}) {
		t.Errorf("audiences %v", got)
	}
	if got := fileMode(t, tokenFile).Perm(); got != 0o600 {
		t.Errorf("token mode %v", got)
	}

	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{advance: 0, want: "token-1"},
		{advance: 47 * time.Minute, want: "token-1"}, // 78%: jitter (≤10s) cannot reach 80%
		{advance: 2 * time.Minute, want: "token-2"},  // 81.7%
		{advance: 30 * time.Minute, want: "token-2"}, // 50% of the new one
		{advance: 19 * time.Minute, want: "token-3"}, // 81.7% again
	} {
		env.clock.Step(step.advance)
		if _, err := env.m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, tokenFile); got != step.want {
			t.Fatalf("after %v: token %q, want %q", step.advance, got, step.want)
		}
	}

	// Renewal fails: the valid token stays; once expired, Setup fails.
	env.tokens.setFail(errors.New("apiserver down"))
	env.clock.Step(50 * time.Minute) // 83% of token-3
	if _, err := env.m.Setup(ctx, pod); err != nil {
		t.Fatalf("failed renewal of a valid token: %v", err)
	}
	if got := readFile(t, tokenFile); got != "token-3" {
		t.Errorf("token %q after failed renewal", got)
	}
	env.clock.Step(11 * time.Minute) // past expiry
	if _, err := env.m.Setup(ctx, pod); err == nil || !strings.Contains(err.Error(), "expired and refresh failed") {
		t.Errorf("expired token: %v", err)
	}
	env.tokens.setFail(nil)

	// A 48h token is renewed after 24h, long before 80% of its lifetime.
	long := testPod("uid-token-long", tokenVol("long", 48*3600, ""))
	defer env.m.Teardown(ctx, long.UID)
	lp, err := env.m.Setup(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	first := readFile(t, filepath.Join(lp["long"], "token"))
	env.clock.Step(23*time.Hour + 59*time.Minute)
	if _, err := env.m.Setup(ctx, long); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(lp["long"], "token")); got != first {
		t.Errorf("48h token renewed before 24h")
	}
	env.clock.Step(2 * time.Minute)
	if _, err := env.m.Setup(ctx, long); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(lp["long"], "token")); got == first {
		t.Errorf("48h token not renewed after 24h")
	}

	// Teardown forgets the pod's tokens.
	if err := env.m.Teardown(ctx, long.UID); err != nil {
		t.Fatal(err)
	}
	env.m.tokens.mu.Lock()
	for _, tok := range env.m.tokens.tokens {
		if tok.pod == long.UID {
			t.Error("token of a torn down pod kept")
		}
	}
	env.m.tokens.mu.Unlock()
}
