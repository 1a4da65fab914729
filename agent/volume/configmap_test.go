package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cmVolume(name, cm string, mut func(*corev1.ConfigMapVolumeSource)) corev1.Volume {
	src := &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}
	if mut != nil {
		mut(src)
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: src}}
}

func secretVolume(name, secret string, mut func(*corev1.SecretVolumeSource)) corev1.Volume {
	src := &corev1.SecretVolumeSource{SecretName: secret}
	if mut != nil {
		mut(src)
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: src}}
}

var testConfigMap = &corev1.ConfigMap{
	ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
	Data:       map[string]string{"app.conf": "listen 8080", "level": "debug"},
	BinaryData: map[string][]byte{"blob": {0, 1, 2}},
}

var testSecret = &corev1.Secret{
	ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"},
	Data:       map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")},
}

// TestConfigMapAndSecretVolumes covers items, modes, defaultMode and
// optional for configMap and secret volumes.
func TestConfigMapAndSecretVolumes(t *testing.T) {
	requireRoot(t)
	type want struct {
		files map[string]string      // path → contents
		modes map[string]os.FileMode // path → perm
		err   string                 // the whole MountError message
	}
	for _, tc := range []struct {
		name string
		vol  corev1.Volume
		want want
	}{{
		name: "configmap all keys with default mode",
		vol:  cmVolume("v", "cfg", nil),
		want: want{
			files: map[string]string{"app.conf": "listen 8080", "level": "debug", "blob": "\x00\x01\x02"},
			modes: map[string]os.FileMode{"app.conf": 0o644, "blob": 0o644},
		},
	}, {
		name: "configmap defaultMode",
		vol:  cmVolume("v", "cfg", func(s *corev1.ConfigMapVolumeSource) { s.DefaultMode = ptr(int32(0o400)) }),
		want: want{
			files: map[string]string{"app.conf": "listen 8080", "level": "debug", "blob": "\x00\x01\x02"},
			modes: map[string]os.FileMode{"level": 0o400, "app.conf": 0o400},
		},
	}, {
		name: "configmap items with paths and modes",
		vol: cmVolume("v", "cfg", func(s *corev1.ConfigMapVolumeSource) {
			s.Items = []corev1.KeyToPath{
				{Key: "app.conf", Path: "etc/app/app.conf", Mode: ptr(int32(0o600))},
				{Key: "blob", Path: "data.bin"},
			}
		}),
		want: want{
			files: map[string]string{"etc/app/app.conf": "listen 8080", "data.bin": "\x00\x01\x02"},
			modes: map[string]os.FileMode{"etc/app/app.conf": 0o600, "data.bin": 0o644},
		},
	}, {
		name: "configmap missing key",
		vol: cmVolume("v", "cfg", func(s *corev1.ConfigMapVolumeSource) {
			s.Items = []corev1.KeyToPath{{Key: "nope", Path: "x"}}
		}),
		want: want{err: `MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: nope`},
	}, {
		name: "configmap missing key optional",
		vol: cmVolume("v", "cfg", func(s *corev1.ConfigMapVolumeSource) {
			s.Items = []corev1.KeyToPath{{Key: "nope", Path: "x"}, {Key: "level", Path: "lvl"}}
			s.Optional = ptr(true)
		}),
		want: want{files: map[string]string{"lvl": "debug"}},
	}, {
		name: "configmap not found",
		vol:  cmVolume("config-volume", "missing", nil),
		want: want{err: `MountVolume.SetUp failed for volume "config-volume" : configmap "missing" not found`},
	}, {
		name: "configmap not found optional",
		vol:  cmVolume("v", "missing", func(s *corev1.ConfigMapVolumeSource) { s.Optional = ptr(true) }),
		want: want{files: map[string]string{}},
	}, {
		name: "secret all keys",
		vol:  secretVolume("v", "creds", nil),
		want: want{files: map[string]string{"user": "admin", "pass": "s3cret"}, modes: map[string]os.FileMode{"pass": 0o644}},
	}, {
		name: "secret items and defaultMode",
		vol: secretVolume("v", "creds", func(s *corev1.SecretVolumeSource) {
			s.DefaultMode = ptr(int32(0o440))
			s.Items = []corev1.KeyToPath{{Key: "pass", Path: "db/password"}, {Key: "user", Path: "u", Mode: ptr(int32(0o600))}}
		}),
		want: want{
			files: map[string]string{"db/password": "s3cret", "u": "admin"},
			modes: map[string]os.FileMode{"db/password": 0o440, "u": 0o600},
		},
	}, {
		name: "secret missing key",
		vol: secretVolume("v", "creds", func(s *corev1.SecretVolumeSource) {
			s.Items = []corev1.KeyToPath{{Key: "token", Path: "t"}}
		}),
		want: want{err: `MountVolume.SetUp failed for volume "v" : references non-existent secret key: token`},
	}, {
		name: "secret not found",
		vol:  secretVolume("v", "nope", nil),
		want: want{err: `MountVolume.SetUp failed for volume "v" : secret "nope" not found`},
	}, {
		name: "secret not found optional",
		vol:  secretVolume("v", "nope", func(s *corev1.SecretVolumeSource) { s.Optional = ptr(true) }),
		want: want{files: map[string]string{}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, testConfigMap.DeepCopy(), testSecret.DeepCopy())
			pod := testPod("uid-"+strings.ReplaceAll(tc.name, " ", "-"), tc.vol)
			defer env.m.Teardown(context.Background(), pod.UID)
			paths, err := env.m.Setup(context.Background(), pod)
			if tc.want.err != "" {
				if err == nil || err.Error() != tc.want.err {
					t.Fatalf("Setup error %v, want %q", err, tc.want.err)
				}
				var me *MountError
				if !errors.As(err, &me) || me.Volume != tc.vol.Name {
					t.Errorf("error %v is not a MountError for %s", err, tc.vol.Name)
				}
				if _, ok := paths[tc.vol.Name]; ok {
					t.Errorf("failed volume has a path")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := paths["v"]
			plugin := pluginConfigMap
			if tc.vol.Secret != nil {
				plugin = pluginSecret
			}
			if want := filepath.Join(env.root, string(pod.UID), "volumes", plugin, "v"); dir != want {
				t.Fatalf("path %s, want %s", dir, want)
			}
			for p, want := range tc.want.files {
				if got := readFile(t, filepath.Join(dir, p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			for p, want := range tc.want.modes {
				if got := fileMode(t, filepath.Join(dir, p)).Perm(); got != want {
					t.Errorf("mode of %s = %v, want %v", p, got, want)
				}
			}
			var tops []string
			for p := range tc.want.files {
				top, _, _ := strings.Cut(p, "/")
				if !slices.Contains(tops, top) {
					tops = append(tops, top)
				}
			}
			slices.Sort(tops)
			if got := listVisible(t, dir); !slices.Equal(got, tops) {
				t.Errorf("visible entries %v, want %v", got, tops)
			}
			mounted, err := isTmpfsMount(dir)
			if err != nil {
				t.Fatal(err)
			}
			if mounted != (tc.vol.Secret != nil) {
				t.Errorf("tmpfs mounted = %v for %s", mounted, plugin)
			}
		})
	}
}

// TestConfigMapUpdateThroughSetup: Setup again with newer data updates
// the files through a new ..data; a deleted non-optional ConfigMap fails
// and leaves the last contents in place.
func TestConfigMapUpdateThroughSetup(t *testing.T) {
	env := newTestEnv(t, testConfigMap.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-update", cmVolume("v", "cfg", nil))
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["v"]
	before := dataDir(t, dir)

	// Unchanged: idempotent, nothing rewritten.
	if _, err := env.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := dataDir(t, dir); got != before {
		t.Errorf("data dir rewritten without changes: %s → %s", before, got)
	}

	cm := testConfigMap.DeepCopy()
	cm.Data = map[string]string{"level": "info", "extra": "yes"}
	cm.BinaryData = nil
	if _, err := env.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := dataDir(t, dir); got == before {
		t.Error("..data not swapped by the update")
	}
	if got := readFile(t, filepath.Join(dir, "level")); got != "info" {
		t.Errorf("level = %q after update", got)
	}
	if got := listVisible(t, dir); !slices.Equal(got, []string{"extra", "level"}) {
		t.Errorf("visible entries %v after update", got)
	}

	if err := env.client.CoreV1().ConfigMaps("default").Delete(ctx, "cfg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.m.Setup(ctx, pod); err == nil || !strings.Contains(err.Error(), `configmap "cfg" not found`) {
		t.Fatalf("Setup after delete: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "level")); got != "info" {
		t.Errorf("level = %q after a failed refresh, want the last contents", got)
	}
}

// TestFSGroup: group ownership and setgid as the kubelet applies them,
// read-only masks for API-backed volumes, read-write for emptyDir, and
// the token written 0600 → 0640.
func TestFSGroup(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t, testConfigMap.DeepCopy(), testSecret.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-fsgroup",
		cmVolume("cm", "cfg", func(s *corev1.ConfigMapVolumeSource) { s.DefaultMode = ptr(int32(0o600)) }),
		secretVolume("sec", "creds", nil),
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr(int32(0o644)),
			Sources:     []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3600))}}},
		}}},
	)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2345))}
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, wantMode os.FileMode) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Gid != 2345 {
			t.Errorf("%s: gid %d, want 2345", path, st.Gid)
		}
		if got := fileMode(t, path) &^ os.ModeDir; got != wantMode {
			t.Errorf("%s: mode %v, want %v", path, got, wantMode)
		}
	}
	check(paths["cm"], 0o777|os.ModeSetgid)                                         // 0777 emptyDir base
	check(filepath.Join(paths["cm"], "level"), 0o640)                               // 0600 | 0440
	check(filepath.Join(paths["cm"], dataDir(t, paths["cm"])), 0o755|os.ModeSetgid) // 0755 | 0550 | setgid
	check(filepath.Join(paths["sec"], "pass"), 0o644)                               // 0644 | 0440
	check(paths["sec"], 0o777|os.ModeSetgid|os.ModeSticky)                          // tmpfs root 1777
	check(paths["scratch"], 0o777|os.ModeSetgid)
	check(paths["mem"], 0o777|os.ModeSetgid|os.ModeSticky)
	check(filepath.Join(paths["token"], "token"), 0o640) // 0600 for fsGroup, then | 0440
	// Files created later in an emptyDir get the group through setgid.
	f := filepath.Join(paths["scratch"], "new")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(f, &st); err != nil || st.Gid != 2345 {
		t.Errorf("new file gid %d (%v), want 2345", st.Gid, err)
	}
}

// TestNestedMountpoints: a volume mounted inside a read-only volume gets
// its mount point created in that volume.
func TestNestedMountpoints(t *testing.T) {
	env := newTestEnv(t, testConfigMap.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-nested", cmVolume("outer", "cfg", nil),
		corev1.Volume{Name: "inner", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "outer", MountPath: "/etc/app"},
		{Name: "inner", MountPath: "/etc/app/cache/x"},
	}
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(paths["outer"], "cache", "x")); err != nil || !fi.IsDir() {
		t.Errorf("nested mount point not created: %v", err)
	}
	if got := readFile(t, filepath.Join(paths["outer"], "level")); got != "debug" {
		t.Errorf("level = %q", got)
	}
}
