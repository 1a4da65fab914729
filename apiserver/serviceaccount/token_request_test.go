package serviceaccount_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry"
	saregistry "berth/apiserver/registry/core/serviceaccount"
	"berth/apiserver/request"
	satoken "berth/apiserver/serviceaccount"
)

// objects is an in-memory store of the objects tokens concern, serving
// both registry.Objects (service accounts) and the bound-object getters.
type objects struct {
	sas   map[string]*corev1.ServiceAccount
	pods  map[string]*corev1.Pod
	secs  map[string]*corev1.Secret
	nodes map[string]*corev1.Node
}

func nf(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

func (o *objects) Get(_ context.Context, ns, name string) (runtime.Object, error) {
	if sa, ok := o.sas[ns+"/"+name]; ok {
		return sa.DeepCopy(), nil
	}
	return nil, nf("serviceaccounts", name)
}

func (o *objects) Modify(context.Context, string, string, func(runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	return nil, errors.New("the token subresource must not modify service accounts")
}

func (o *objects) Delete(context.Context, string, string, *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return nil, false, errors.New("the token subresource must not delete service accounts")
}

func (o *objects) ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	obj, err := o.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ServiceAccount), nil
}

func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if p, ok := o.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, nf("pods", name)
}

func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secs[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, nf("secrets", name)
}

func (o *objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if n, ok := o.nodes[name]; ok {
		return n, nil
	}
	return nil, nf("nodes", name)
}

var (
	_ registry.Objects        = (*objects)(nil)
	_ saregistry.BoundObjects = (*objects)(nil)
	_ satoken.Objects         = (*objects)(nil)
	_ saregistry.TokenIssuer  = (*satoken.Signer)(nil)
	_ saregistry.BoundObjects = (satoken.Objects)(nil)
)

func testObjects() *objects {
	om := func(ns, name, uid string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
	}
	return &objects{
		sas: map[string]*corev1.ServiceAccount{"team/robot": {ObjectMeta: om("team", "robot", "sa-uid")}},
		pods: map[string]*corev1.Pod{
			"team/app":     {ObjectMeta: om("team", "app", "pod-uid"), Spec: corev1.PodSpec{ServiceAccountName: "robot", NodeName: "n1"}},
			"team/orphan":  {ObjectMeta: om("team", "orphan", "orphan-uid"), Spec: corev1.PodSpec{ServiceAccountName: "robot", NodeName: "gone"}},
			"team/pending": {ObjectMeta: om("team", "pending", "pending-uid"), Spec: corev1.PodSpec{ServiceAccountName: "robot"}},
			"team/other":   {ObjectMeta: om("team", "other", "other-uid"), Spec: corev1.PodSpec{ServiceAccountName: "default"}},
		},
		secs:  map[string]*corev1.Secret{"team/s": {ObjectMeta: om("team", "s", "secret-uid")}},
		nodes: map[string]*corev1.Node{"n1": {ObjectMeta: om("", "n1", "node-uid")}},
	}
}

func newSigner(t *testing.T, cfg satoken.Config) *satoken.Signer {
	t.Helper()
	cfg.KeyFile = filepath.Join(t.TempDir(), "sa.key")
	s, err := satoken.NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRequest(t *testing.T) {
	signer := newSigner(t, satoken.Config{MaxExpiration: 48 * time.Hour})
	objs := testObjects()
	sub := saregistry.Token(signer, objs)
	if sub.Name != "token" || sub.Kind != authnv1.SchemeGroupVersion.WithKind("TokenRequest") || !reflect.DeepEqual(sub.Verbs, []string{"create"}) {
		t.Fatalf("subresource %+v", sub)
	}
	if _, ok := sub.New().(*authnv1.TokenRequest); !ok {
		t.Fatal("New does not make a TokenRequest")
	}
	ref := func(apiVersion, kind, name, uid string) *authnv1.BoundObjectReference {
		return &authnv1.BoundObjectReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid)}
	}
	for _, tc := range []struct {
		name     string
		sa       string
		req      authnv1.TokenRequest
		wantCode int    // 0: success
		wantMsg  string // part of the error message
		// on success: lifetime reported, and the bound claims
		wantSeconds int64
		wantPod     string
		wantNode    string
		wantSecret  string
		wantWarning string
	}{
		{name: "defaults", sa: "robot", wantSeconds: 3600},
		{name: "lifetime asked", sa: "robot", req: spec(ptr.To[int64](7200), nil), wantSeconds: 7200},
		{name: "lifetime shortened to the maximum", sa: "robot", req: spec(ptr.To[int64](7*86400), nil), wantSeconds: 48 * 3600,
			wantWarning: "requested expiration of 604800 seconds shortened to 172800 seconds"},
		{name: "lifetime too short", sa: "robot", req: spec(ptr.To[int64](599), nil), wantCode: 422,
			wantMsg: `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes`},
		{name: "lifetime too long", sa: "robot", req: spec(ptr.To[int64](1<<32+1), nil), wantCode: 422, wantMsg: "larger than 2^32 seconds"},
		{name: "no such service account", sa: "ghost", wantCode: 404, wantMsg: `serviceaccounts "ghost" not found`},
		{name: "name differs from the URL", sa: "robot", req: authnv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, wantCode: 422,
			wantMsg: "metadata.name: Invalid value: \"other\": must match the service account name if specified"},
		{name: "namespace differs from the URL", sa: "robot", req: authnv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "other"}}, wantCode: 422,
			wantMsg: "must match the service account namespace if specified"},
		{name: "bound to a pod", sa: "robot", req: spec(nil, ref("v1", "Pod", "app", "pod-uid")), wantSeconds: 3600, wantPod: "app", wantNode: "n1"},
		{name: "bound to a pod, no UID given", sa: "robot", req: spec(nil, ref("v1", "Pod", "app", "")), wantSeconds: 3600, wantPod: "app", wantNode: "n1"},
		{name: "bound to a pod whose node is gone", sa: "robot", req: spec(nil, ref("v1", "Pod", "orphan", "")), wantSeconds: 3600, wantPod: "orphan", wantNode: "gone"},
		{name: "bound to an unscheduled pod", sa: "robot", req: spec(nil, ref("v1", "Pod", "pending", "")), wantSeconds: 3600, wantPod: "pending"},
		{name: "bound to a missing pod", sa: "robot", req: spec(nil, ref("v1", "Pod", "nope", "")), wantCode: 404, wantMsg: `pods "nope" not found`},
		{name: "bound to a pod of another UID", sa: "robot", req: spec(nil, ref("v1", "Pod", "app", "old-uid")), wantCode: 409,
			wantMsg: `Operation cannot be fulfilled on Pod "app": the UID in the bound object reference (old-uid) does not match the UID in record. The object might have been deleted and then recreated`},
		{name: "bound to another service account's pod", sa: "robot", req: spec(nil, ref("v1", "Pod", "other", "")), wantCode: 400,
			wantMsg: `cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name.`},
		{name: "bound to a node", sa: "robot", req: spec(nil, ref("v1", "Node", "n1", "node-uid")), wantSeconds: 3600, wantNode: "n1"},
		{name: "bound to a missing node", sa: "robot", req: spec(nil, ref("v1", "Node", "n9", "")), wantCode: 404},
		{name: "bound to a secret", sa: "robot", req: spec(nil, ref("v1", "Secret", "s", "secret-uid")), wantSeconds: 3600, wantSecret: "s"},
		{name: "bound to a secret of another UID", sa: "robot", req: spec(nil, ref("v1", "Secret", "s", "x")), wantCode: 409},
		{name: "bound to a deployment", sa: "robot", req: spec(nil, ref("apps/v1", "Deployment", "web", "")), wantCode: 400,
			wantMsg: "cannot bind token to object of type apps/v1, Kind=Deployment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, warnings := request.WithWarnings(context.Background())
			before := time.Now().Truncate(time.Second)
			obj, err := sub.Create(ctx, objs, "team", tc.sa, tc.req.DeepCopy(), &metav1.CreateOptions{})
			if tc.wantCode != 0 {
				var status apierrors.APIStatus
				if !errors.As(err, &status) || int(status.Status().Code) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %v, want %d with %q", err, tc.wantCode, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := obj.(*authnv1.TokenRequest)
			if tr.Name != tc.sa || tr.Namespace != "team" || tr.Status.Token == "" ||
				!reflect.DeepEqual(tr.Spec.Audiences, []string{satoken.DefaultIssuer}) || *tr.Spec.ExpirationSeconds != tc.wantSeconds {
				t.Errorf("token request %+v", tr)
			}
			if created := tr.CreationTimestamp.Time; created.Before(before) || created.After(time.Now()) ||
				!tr.Status.ExpirationTimestamp.Time.Equal(created.Add(time.Duration(tc.wantSeconds)*time.Second)) {
				t.Errorf("created %v, expires %v", created, tr.Status.ExpirationTimestamp)
			}
			if got := warnings.List(); (tc.wantWarning == "") != (len(got) == 0) || (len(got) > 0 && got[0] != tc.wantWarning) {
				t.Errorf("warnings %q, want %q", got, tc.wantWarning)
			}
			c, err := signer.Verify(tr.Status.Token)
			if err != nil {
				t.Fatal(err)
			}
			k := c.Kubernetes
			if k.Namespace != "team" || k.ServiceAccount != (satoken.Ref{Name: "robot", UID: "sa-uid"}) ||
				refName(k.Pod) != tc.wantPod || refName(k.Node) != tc.wantNode || refName(k.Secret) != tc.wantSecret {
				t.Errorf("claims %+v", k)
			}
		})
	}
}

func refName(r *satoken.Ref) string {
	if r == nil {
		return ""
	}
	return r.Name
}

func spec(seconds *int64, ref *authnv1.BoundObjectReference) authnv1.TokenRequest {
	return authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: seconds, BoundObjectRef: ref}}
}

// The kubelet's projected token: 3607 s asked, a year granted (the
// response still says 3607 s), bound to the pod and its node.
func TestTokenRequestForProjectedVolume(t *testing.T) {
	signer := newSigner(t, satoken.Config{})
	objs := testObjects()
	req := spec(ptr.To[int64](3607), &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "app", UID: "pod-uid"})
	req.Spec.Audiences = []string{satoken.DefaultIssuer}
	obj, err := saregistry.Token(signer, objs).Create(context.Background(), objs, "team", "robot", &req, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr := obj.(*authnv1.TokenRequest)
	c, err := signer.Verify(tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	if *tr.Spec.ExpirationSeconds != 3607 || tr.Status.ExpirationTimestamp.Unix() != c.IssuedAt+3607 {
		t.Errorf("reported lifetime %d, expiry %v", *tr.Spec.ExpirationSeconds, tr.Status.ExpirationTimestamp)
	}
	if c.Expiry-c.IssuedAt != satoken.ExpirationExtensionSeconds || c.Kubernetes.WarnAfter != c.IssuedAt+3607 {
		t.Errorf("token exp %d warnafter %d after issue", c.Expiry-c.IssuedAt, c.Kubernetes.WarnAfter-c.IssuedAt)
	}
	u, ok, err := satoken.NewAuthenticator(signer, objs).AuthenticateToken(context.Background(), tr.Status.Token)
	if err != nil || !ok || u.Extra[satoken.PodNameKey][0] != "app" || u.Extra[satoken.NodeNameKey][0] != "n1" {
		t.Fatalf("user %+v, %v, %v", u, ok, err)
	}
}
