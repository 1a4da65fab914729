package pod

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestVerifyRunAsNonRoot(t *testing.T) {
	zero, thousand := int64(0), int64(1000)
	tests := []struct {
		name     string
		pod, ctr *bool
		user     *int64
		imgUID   *int64
		imgName  string
		want     string
	}{
		{"not asked", nil, nil, nil, &zero, "", ""},
		{"root image", ptr.To(true), nil, nil, &zero, "", `container has runAsNonRoot and image will run as root (pod: "p_ns(u)", container: c)`},
		{"image without user", ptr.To(true), nil, nil, nil, "", `container has runAsNonRoot and image will run as root (pod: "p_ns(u)", container: c)`},
		{"named user", ptr.To(true), nil, nil, nil, "app", `container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "p_ns(u)", container: c)`},
		{"runAsUser 0", ptr.To(true), nil, &zero, &thousand, "", `container's runAsUser breaks non-root policy (pod: "p_ns(u)", container: c)`},
		{"runAsUser set", ptr.To(true), nil, &thousand, &zero, "", ""},
		{"container overrides", ptr.To(true), ptr.To(false), nil, &zero, "", ""},
		{"non-root image", nil, ptr.To(true), nil, &thousand, "", ""},
	}
	for _, tt := range tests {
		pod := specPod(corev1.RestartPolicyAlways, "c")
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: tt.pod, RunAsUser: tt.user}
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: tt.ctr}
		err := verifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tt.imgUID, tt.imgName)
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.want {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s: no error, want %q", tt.name, tt.want)
		}
	}
}

func TestSecurityContext(t *testing.T) {
	pod := specPod(corev1.RestartPolicyAlways, "c")
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000), FSGroup: ptr.To[int64](3000), SupplementalGroups: []int64{4000},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	c := &pod.Spec.Containers[0]
	c.SecurityContext = &corev1.SecurityContext{
		RunAsUser: ptr.To[int64](1001), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}
	sc := securityContext(pod, c, image{}, "/var/lib/berth")
	if sc.RunAsUser.GetValue() != 1001 || sc.RunAsGroup.GetValue() != 2000 || !sc.ReadonlyRootfs || !sc.NoNewPrivs || sc.Privileged ||
		strings.Join(sc.Capabilities.AddCapabilities, ",") != "NET_ADMIN" || strings.Join(sc.Capabilities.DropCapabilities, ",") != "ALL" ||
		len(sc.SupplementalGroups) != 2 || sc.SupplementalGroups[0] != 3000 || sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_RuntimeDefault ||
		sc.NamespaceOptions.Pid != runtimeapi.NamespaceMode_POD {
		t.Errorf("%+v", sc)
	}
	plain := specPod(corev1.RestartPolicyAlways, "c")
	uid := int64(99)
	sc = securityContext(plain, &plain.Spec.Containers[0], image{uid: &uid}, "/x")
	if sc.RunAsUser.GetValue() != 99 || sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_Unconfined || sc.NoNewPrivs {
		t.Errorf("defaults %+v", sc)
	}
	plain.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("p.json")}}
	sc = securityContext(plain, &plain.Spec.Containers[0], image{username: "app"}, "/x")
	if sc.RunAsUsername != "app" || sc.Seccomp.LocalhostRef != "/x/seccomp/p.json" {
		t.Errorf("localhost profile %+v", sc)
	}
}

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "msg")
	logFile := filepath.Join(dir, "0.log")
	if err := os.WriteFile(logFile, []byte(
		"2025-01-01T00:00:00.000000000Z stdout F first\n"+
			"2025-01-01T00:00:00.000000001Z stderr P part\n"+
			"2025-01-01T00:00:00.000000002Z stderr F ial\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status := func(policy corev1.TerminationMessagePolicy, code int32) *runtimeapi.ContainerStatus {
		return &runtimeapi.ContainerStatus{
			ExitCode: code, LogPath: logFile,
			Annotations: map[string]string{annotationTermMessagePath: "/dev/termination-log", annotationTermMessagePolicy: string(policy)},
			Mounts:      []*runtimeapi.Mount{{ContainerPath: "/dev/termination-log", HostPath: msgFile}},
		}
	}
	ctx := context.Background()
	if got := terminationMessage(ctx, status(corev1.TerminationMessageFallbackToLogsOnError, 1)); got != "first\npartial\n" {
		t.Errorf("fallback to logs: %q", got)
	}
	if got := terminationMessage(ctx, status(corev1.TerminationMessageFallbackToLogsOnError, 0)); got != "" {
		t.Errorf("fallback on success: %q", got)
	}
	if err := os.WriteFile(msgFile, []byte(strings.Repeat("x", 5000)+"end"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := terminationMessage(ctx, status(corev1.TerminationMessageReadFile, 1)); len(got) != 4096 || !strings.HasSuffix(got, "end") {
		t.Errorf("file message of %d bytes", len(got))
	}
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("2025-01-01T00:00:00Z stdout F line\n")
	}
	if got := lastLogLines([]byte(b.String()), 80); strings.Count(string(got), "\n") != 80 {
		t.Errorf("%d lines", strings.Count(string(got), "\n"))
	}
}
