package serviceaccount_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth/apiserver/admission"
	"berth/apiserver/registry"
	saregistry "berth/apiserver/registry/core/serviceaccount"
	satoken "berth/apiserver/serviceaccount"
	"berth/internal/testserver"
)

// clientObjects reads the objects tokens concern from a real API server,
// standing in for the server's own stores: it serves the token
// subresource (registry.Objects of service accounts, BoundObjects), the
// authenticator (Objects) and the admission plugin (ServiceAccounts).
type clientObjects struct{ c kubernetes.Interface }

func (o clientObjects) ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return o.c.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o clientObjects) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return o.c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o clientObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return o.c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o clientObjects) Node(ctx context.Context, name string) (*corev1.Node, error) {
	return o.c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

func (o clientObjects) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	return o.ServiceAccount(ctx, ns, name)
}

func (o clientObjects) Modify(context.Context, string, string, func(runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	return nil, errors.New("not supported")
}

func (o clientObjects) Delete(context.Context, string, string, *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return nil, false, errors.New("not supported")
}

// saLookups adapts clientObjects to admission.ServiceAccounts.
type saLookups struct{ clientObjects }

func (s saLookups) Get(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return s.ServiceAccount(ctx, ns, name)
}

var (
	_ registry.Objects          = clientObjects{}
	_ satoken.Objects           = clientObjects{}
	_ admission.ServiceAccounts = saLookups{}
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The pieces against real objects: a TokenRequest bound to a pod gives a
// token that authenticates as the service account with the pod's
// identity; a pod admitted by the plugin is accepted by the server with
// its token volume; deleting the pod, then the service account, ends the
// tokens.
func TestTokensAgainstServer(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx := ctxFor(t)
	c := s.Client
	objs := clientObjects{c}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, err := c.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Admission gives the pod its token volume; the server validates and
	// stores it.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "robot",
			InitContainers:     []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:         []corev1.Container{{Name: "main", Image: "busybox"}},
		},
	}
	plugin := admission.ServiceAccount{ServiceAccounts: saLookups{objs}}
	if err := plugin.Admit(ctx, podAttrs(pod)); err != nil {
		t.Fatal(err)
	}
	pod, err = c.CoreV1().Pods("team").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the server refuses the admitted pod: %v", err)
	}
	checkTokenVolume(t, pod)

	// The plugin refuses pods of missing service accounts.
	ghost := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}, Spec: corev1.PodSpec{ServiceAccountName: "ghost"}}
	if err := plugin.Admit(ctx, podAttrs(ghost)); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `error looking up service account team/ghost: serviceaccounts "ghost" not found`) {
		t.Errorf("pod of a missing service account: %v", err)
	}

	signer := newSigner(t, satoken.Config{})
	authn := satoken.NewAuthenticator(signer, objs)
	sub := saregistry.Token(signer, objs)
	request := func(ref *authnv1.BoundObjectReference) string {
		t.Helper()
		obj, err := sub.Create(ctx, objs, "team", "robot", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{BoundObjectRef: ref}}, &metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*authnv1.TokenRequest).Status.Token
	}
	podToken := request(&authnv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "app", UID: pod.UID})
	plainToken := request(nil)

	u, ok, err := authn.AuthenticateToken(ctx, podToken)
	if err != nil || !ok {
		t.Fatalf("pod token: %v %v", ok, err)
	}
	if u.Username != "system:serviceaccount:team:robot" || u.UID != string(sa.UID) ||
		strings.Join(u.Groups, ",") != "system:serviceaccounts,system:serviceaccounts:team" ||
		u.Extra[satoken.PodNameKey][0] != "app" || u.Extra[satoken.PodUIDKey][0] != string(pod.UID) ||
		!strings.HasPrefix(u.Extra[satoken.CredentialIDKey][0], "JTI=") {
		t.Errorf("user %+v", u)
	}

	// The pod goes: its token stops working, the plain one does not.
	if err := c.CoreV1().Pods("team").Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, authn, podToken, "invalidated")
	if _, ok, err := authn.AuthenticateToken(ctx, plainToken); !ok || err != nil {
		t.Fatalf("plain token after the pod went: %v %v", ok, err)
	}
	// A pod of the same name is another pod.
	again := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: corev1.PodSpec{ServiceAccountName: "robot", AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods("team").Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, authn, podToken, "does not match")

	// The service account goes (or is recreated): every token ends.
	if err := c.CoreV1().ServiceAccounts("team").Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, authn, plainToken, "not found")
	if _, err := c.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRejected(t, authn, plainToken, "does not match")
}

// waitRejected waits until the authenticator refuses token with an error
// mentioning want.
func waitRejected(t *testing.T, a *satoken.Authenticator, token, want string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, ok, err := a.AuthenticateToken(ctx, token)
		last = err
		return !ok && err != nil && strings.Contains(err.Error(), want), nil
	})
	if err != nil {
		t.Fatalf("token still accepted or refused otherwise (last error %v), want %q", last, want)
	}
}

// checkTokenVolume checks that every container mounts the pod's
// kube-api-access volume read-only at the service account path.
func checkTokenVolume(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	var name string
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil && len(v.Projected.Sources) == 3 &&
			v.Projected.Sources[0].ServiceAccountToken != nil && *v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds == 3607 {
			name = v.Name
		}
	}
	if name == "" {
		t.Fatalf("pod %s has no token volume: %+v", pod.Name, pod.Spec.Volumes)
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		found := false
		for _, m := range c.VolumeMounts {
			found = found || (m.Name == name && m.ReadOnly && m.MountPath == admission.TokenMountPath)
		}
		if !found {
			t.Errorf("container %s does not mount %s: %+v", c.Name, name, c.VolumeMounts)
		}
	}
}
