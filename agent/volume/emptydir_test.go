package volume

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func mountSize(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			for _, opt := range strings.Split(f[len(f)-1], ",") {
				if v, ok := strings.CutPrefix(opt, "size="); ok {
					return v
				}
			}
			return "(none)"
		}
	}
	return "(not mounted)"
}

// TestEmptyDir: disk emptyDirs are 0777 directories; Memory ones are
// tmpfs mounts sized as the kubelet sizes them; Setup is idempotent
// (one mount, contents kept); Teardown unmounts and removes everything.
func TestEmptyDir(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	ctx := context.Background()
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	pod := testPod("uid-emptydir",
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "small", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: q("16Mi")}}},
		corev1.Volume{Name: "podlimit", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: q("1Gi")}}},
	)
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileMode(t, paths["disk"]); got != os.ModeDir|0o777 {
		t.Errorf("disk emptyDir mode %v", got)
	}
	if mounted, _ := isTmpfsMount(paths["disk"]); mounted {
		t.Error("disk emptyDir is a tmpfs")
	}
	for name, want := range map[string]string{
		"small":    "16384k",  // sizeLimit
		"podlimit": "131072k", // the pod's 128Mi memory limit
		"huge":     "131072k", // sizeLimit above the pod limit: the pod limit
	} {
		if got := mountSize(t, paths[name]); got != want {
			t.Errorf("%s: tmpfs size %s, want %s", name, got, want)
		}
	}
	if err := os.WriteFile(filepath.Join(paths["small"], "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := env.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(paths["small"]); len(mps) != 1 {
		t.Errorf("mounts on %s after a second Setup: %v", paths["small"], mps)
	}
	if got := readFile(t, filepath.Join(paths["small"], "keep")); got != "x" {
		t.Errorf("contents lost on second Setup: %q", got)
	}

	// Something else of the pod's (as the pod manager's files) stays.
	other := filepath.Join(env.root, string(pod.UID), "etc-hosts")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := env.m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(filepath.Join(env.root, string(pod.UID))); len(mps) != 0 {
		t.Errorf("still mounted after Teardown: %v", mps)
	}
	if _, err := os.Stat(filepath.Join(env.root, string(pod.UID), "volumes")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volumes dir left: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Teardown removed a file it does not own: %v", err)
	}
	os.Remove(other)
	if err := env.m.Teardown(ctx, pod.UID); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env.root, string(pod.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty pod dir left: %v", err)
	}
}

// TestTeardownAfterRestart: a new Manager (an agent restart) finds the
// pod dirs on disk and tears down mounts it did not make itself.
func TestTeardownAfterRestart(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t, testSecret.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-restart", secretVolume("s", "creds", nil),
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
	paths, err := env.m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := New(Config{Root: env.root, Client: env.client, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Setup on the new manager adopts the existing mounts.
	if _, err := m2.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(paths["s"]); len(mps) != 1 {
		t.Errorf("mounts on the secret volume after a restart: %v", mps)
	}
	uids, err := m2.OnDisk()
	if err != nil || len(uids) != 1 || uids[0] != pod.UID {
		t.Fatalf("OnDisk = %v, %v", uids, err)
	}
	if err := m2.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(env.root); len(mps) != 0 {
		t.Errorf("still mounted: %v", mps)
	}
}

func TestHostPath(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, dir bool) string {
		p := filepath.Join(base, name)
		var err error
		if dir {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, nil, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir, regular := mk("dir", true), mk("file", false)
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(s corev1.HostPathType) *corev1.HostPathType { return &s }

	for _, tc := range []struct {
		name    string
		path    string
		typ     *corev1.HostPathType
		err     string // substring; "" for success
		created os.FileMode
	}{
		{name: "unset type, missing path", path: filepath.Join(base, "absent"), typ: nil},
		{name: "empty type", path: filepath.Join(base, "absent"), typ: typ(corev1.HostPathUnset)},
		{name: "directory", path: dir, typ: typ(corev1.HostPathDirectory)},
		{name: "directory through symlink", path: link, typ: typ(corev1.HostPathDirectory)},
		{name: "directory missing", path: filepath.Join(base, "nodir"), typ: typ(corev1.HostPathDirectory),
			err: "hostPath " + filepath.Join(base, "nodir") + " doesn't exist"},
		{name: "directory is a file", path: regular, typ: typ(corev1.HostPathDirectory),
			err: "hostPath type check failed: " + regular + " is not a directory, it's a File"},
		{name: "directory or create", path: filepath.Join(base, "made/deep"), typ: typ(corev1.HostPathDirectoryOrCreate), created: os.ModeDir | 0o755},
		{name: "directory or create on file", path: regular, typ: typ(corev1.HostPathDirectoryOrCreate), err: "is not a directory"},
		{name: "file", path: regular, typ: typ(corev1.HostPathFile)},
		{name: "file is a directory", path: dir, typ: typ(corev1.HostPathFile), err: "is not a file, it's a Directory"},
		{name: "file or create", path: filepath.Join(base, "newfile"), typ: typ(corev1.HostPathFileOrCreate), created: 0o644},
		{name: "file or create without parent", path: filepath.Join(base, "nope/newfile"), typ: typ(corev1.HostPathFileOrCreate), err: "no such file"},
		{name: "socket", path: sock, typ: typ(corev1.HostPathSocket)},
		{name: "socket is a file", path: regular, typ: typ(corev1.HostPathSocket), err: "is not a socket file, it's a File"},
		{name: "char device", path: "/dev/null", typ: typ(corev1.HostPathCharDev)},
		{name: "block device is a char device", path: "/dev/null", typ: typ(corev1.HostPathBlockDev), err: "is not a block device, it's a CharDevice"},
		{name: "char device is a dir", path: dir, typ: typ(corev1.HostPathCharDev), err: "is not a character device"},
		{name: "invalid type", path: dir, typ: typ("Weird"), err: "Weird is an invalid volume type"},
		{name: "backsteps", path: base + "/../etc", typ: nil, err: "must not contain '..'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, _ := os.Stat(tc.path)
			err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.created != 0 {
				if old != nil {
					t.Fatal("test path existed before")
				}
				if got := fileMode(t, tc.path); got != tc.created {
					t.Errorf("created mode %v, want %v", got, tc.created)
				}
			}
		})
	}

	// Through Setup, the path is returned as is.
	env := newTestEnv(t)
	pod := testPod("uid-hostpath", corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}})
	paths, err := env.m.Setup(context.Background(), pod)
	if err != nil || paths["h"] != dir {
		t.Fatalf("Setup = %v, %v", paths, err)
	}
	if err := env.m.Teardown(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Teardown touched the host path: %v", err)
	}
}

// TestSetupErrors: unsupported types and failures of one volume do not
// stop the others; each failure is one MountError.
func TestSetupErrors(t *testing.T) {
	env := newTestEnv(t, testConfigMap.DeepCopy())
	ctx := context.Background()
	pod := testPod("uid-errors",
		corev1.Volume{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
		cmVolume("good", "cfg", nil),
		cmVolume("bad", "absent", nil),
	)
	defer env.m.Teardown(ctx, pod.UID)
	paths, err := env.m.Setup(ctx, pod)
	if err == nil {
		t.Fatal("no error")
	}
	want := `MountVolume.SetUp failed for volume "claim" : volume type persistentVolumeClaim is not supported by berth: no volume plugin matched` + "\n" +
		`MountVolume.SetUp failed for volume "bad" : configmap "absent" not found`
	if err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	var me *MountError
	if !errors.As(err, &me) || me.Volume != "claim" {
		t.Errorf("first MountError %+v", me)
	}
	if mes := MountErrors(err); len(mes) != 2 || mes[0].Volume != "claim" || mes[1].Volume != "bad" {
		t.Errorf("MountErrors = %v", mes)
	}
	if MountErrors(errors.New("other")) != nil {
		t.Error("MountErrors of a plain error")
	}
	if _, ok := paths["good"]; !ok || len(paths) != 1 {
		t.Errorf("paths %v, want only good", paths)
	}
	if _, err := env.m.Setup(ctx, &corev1.Pod{}); err == nil {
		t.Error("pod without UID accepted")
	}
}

func TestReadOnly(t *testing.T) {
	for _, tc := range []struct {
		src  corev1.VolumeSource
		want bool
	}{
		{corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}, true},
		{corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}, true},
		{corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}, true},
		{corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}, true},
		{corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, false},
		{corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}, false},
	} {
		if got := ReadOnly(&tc.src); got != tc.want {
			t.Errorf("ReadOnly(%s) = %v", volumeKind(&tc.src), got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	env := newTestEnv(t)
	for _, cfg := range []Config{
		{Client: env.client},
		{Root: "/x"},
		{Root: "/x", Client: env.client, ResyncPeriod: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:           "/a/b",
		`/with\040space`: "/with space",
		`/tab\011x`:      "/tab\tx",
		`/back\134slash`: `/back\slash`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
