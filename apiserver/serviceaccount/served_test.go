package serviceaccount_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"berth/internal/testserver"
)

// kubectlDir is where the machine keeps one kubectl per minor version.
const kubectlDir = "/usr/lib/google-cloud-sdk/bin"

// servesTokens reports whether the server serves serviceaccounts/token,
// which needs the wiring in server/ (the subresource, the authenticator
// and the admission plugin).
func servesTokens(t *testing.T, s *testserver.Server) bool {
	t.Helper()
	list, err := s.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.APIResources {
		if r.Name == "serviceaccounts/token" {
			if r.Group != "authentication.k8s.io" || r.Version != "v1" || r.Kind != "TokenRequest" || strings.Join(r.Verbs, ",") != "create" {
				t.Errorf("discovery of serviceaccounts/token: %+v", r)
			}
			return true
		}
	}
	return false
}

// bearerClient is a client that authenticates with token only.
func bearerClient(t *testing.T, s *testserver.Server, token string) kubernetes.Interface {
	t.Helper()
	cfg := &rest.Config{
		Host:            s.Rest.Host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.Rest.CAData, CAFile: s.Rest.CAFile},
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kubectl(t *testing.T, s *testserver.Server, version string, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(kubectlDir, "kubectl."+version)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("kubectl %s is not installed: %v", version, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", s.Kubeconfig, "--cache-dir", t.TempDir()}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// End to end through the server, as a user sees it: `kubectl create
// token` gives tokens that authenticate (a tampered one is refused with
// 401), tokens bound to a pod end with the pod, new pods get the token
// volume, pods of missing service accounts are refused.
func TestServedByServer(t *testing.T) {
	s := testserver.Start(t) // with controllers: "default" service accounts, kube-root-ca.crt
	if !servesTokens(t, s) {
		t.Skip("the server does not serve serviceaccounts/token yet: server/ must wire Token, NewAuthenticator and the admission plugin")
	}
	ctx := ctxFor(t)
	c := s.Client
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("no default service account")
	}

	for _, version := range []string{"1.27", "1.33"} {
		t.Run("kubectl "+version, func(t *testing.T) {
			token, err := kubectl(t, s, version, "create", "token", "default", "-n", "default")
			if err != nil || strings.Count(token, ".") != 2 {
				t.Fatalf("kubectl create token: %v\n%s", err, token)
			}
			if _, err := bearerClient(t, s, token).CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
				t.Fatalf("request with the token: %v", err)
			}
			parts := strings.Split(token, ".")
			tampered := parts[0] + "." + parts[1] + "." + flipFirst(parts[2])
			_, err = bearerClient(t, s, tampered).CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if !apierrors.IsUnauthorized(err) {
				t.Fatalf("request with a tampered token: %v, want 401", err)
			}
			out, err := kubectl(t, s, version, "create", "token", "default", "-n", "default", "--duration", "5m")
			if err == nil || !strings.Contains(out, "may not specify a duration less than 10 minutes") {
				t.Errorf("token for 5m: %v\n%s", err, out)
			}
			out, err = kubectl(t, s, version, "create", "token", "ghost", "-n", "default")
			if err == nil || !strings.Contains(out, `serviceaccounts "ghost" not found`) {
				t.Errorf("token of a missing service account: %v\n%s", err, out)
			}
		})
	}

	// A new pod gets the token volume in every container.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "main", Image: "busybox"}},
		},
	}
	pod, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" {
		t.Errorf("service account %q", pod.Spec.ServiceAccountName)
	}
	checkTokenVolume(t, pod)

	// The kubelet asks for the projected token in protobuf: 3607 s, bound
	// to the pod, for the API server.
	proto, err := kubernetes.NewForConfig(s.ProtobufConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := proto.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		Audiences:         []string{"https://kubernetes.default.svc.cluster.local"},
		ExpirationSeconds: ptr.To[int64](3607),
		BoundObjectRef:    &authnv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web", UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request in protobuf: %v", err)
	}
	if *tr.Spec.ExpirationSeconds != 3607 || tr.Status.ExpirationTimestamp.Sub(tr.CreationTimestamp.Time) != 3607*time.Second {
		t.Errorf("projected token request answered %+v", tr)
	}
	if _, err := bearerClient(t, s, tr.Status.Token).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("request with the projected token: %v", err)
	}

	// A token bound to the pod works while the pod exists.
	token, err := kubectl(t, s, "1.33", "create", "token", "default", "-n", "default", "--bound-object-kind", "Pod", "--bound-object-name", "web")
	if err != nil {
		t.Fatalf("kubectl create token --bound-object-kind Pod: %v\n%s", err, token)
	}
	bound := bearerClient(t, s, token)
	if _, err := bound.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("request with the pod's token: %v", err)
	}
	if err := c.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	var last error
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = bound.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return apierrors.IsUnauthorized(last), nil
	}); err != nil {
		t.Fatalf("token of a deleted pod: %v, want 401", last)
	}

	// Pods of a service account that does not exist are refused.
	_, err = c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lost"},
		Spec:       corev1.PodSpec{ServiceAccountName: "ghost", Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	want := `pods "lost" is forbidden: error looking up service account default/ghost: serviceaccounts "ghost" not found`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("pod of a missing service account: %v\nwant %s", err, want)
	}
}

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
