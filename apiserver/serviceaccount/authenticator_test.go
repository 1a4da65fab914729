package serviceaccount

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakeObjects is an in-memory Objects.
type fakeObjects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
	nodes   map[string]*corev1.Node
}

func notFound(resource, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
}

func (f *fakeObjects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if o, ok := f.sas[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("serviceaccounts", name)
}

func (f *fakeObjects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if o, ok := f.pods[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("pods", name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}

func (f *fakeObjects) Node(_ context.Context, name string) (*corev1.Node, error) {
	if o, ok := f.nodes[name]; ok {
		return o, nil
	}
	return nil, notFound("nodes", name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + uid)}
}

func TestAuthenticateToken(t *testing.T) {
	s, clk := newTestSigner(t, Config{})
	sa := &corev1.ServiceAccount{ObjectMeta: meta("team", "robot", "sa")}
	pod := &corev1.Pod{ObjectMeta: meta("team", "app", "pod"), Spec: corev1.PodSpec{ServiceAccountName: "robot", NodeName: "n1"}}
	node := &corev1.Node{ObjectMeta: meta("", "n1", "node")}
	secret := &corev1.Secret{ObjectMeta: meta("team", "s", "secret")}
	fresh := func() *fakeObjects {
		return &fakeObjects{
			sas:     map[string]*corev1.ServiceAccount{"team/robot": sa.DeepCopy()},
			pods:    map[string]*corev1.Pod{"team/app": pod.DeepCopy()},
			secrets: map[string]*corev1.Secret{"team/s": secret.DeepCopy()},
			nodes:   map[string]*corev1.Node{"n1": node.DeepCopy()},
		}
	}
	issue := func(b Bound) (string, string) {
		got, err := s.Issue(Request{ServiceAccount: sa, Bound: b})
		if err != nil {
			t.Fatal(err)
		}
		return got.Token, "JTI=" + got.Claims.ID
	}
	deleting := func(ago time.Duration) *metav1.Time { ts := metav1.NewTime(clk.t.Add(-ago)); return &ts }
	unbound, unboundID := issue(Bound{})
	podBound, podID := issue(Bound{Pod: pod, Node: node})
	nodeBound, nodeID := issue(Bound{Node: node})
	secretBound, secretID := issue(Bound{Secret: secret})
	base := authnv1.UserInfo{
		Username: "system:serviceaccount:team:robot", UID: string(sa.UID),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team"},
	}
	user := func(extra map[string]authnv1.ExtraValue) *authnv1.UserInfo {
		u := base
		u.Extra = extra
		return &u
	}
	for _, tc := range []struct {
		name    string
		token   string
		change  func(*fakeObjects)
		want    *authnv1.UserInfo
		wantErr string // empty and want nil: not a token of ours
	}{
		{name: "unbound", token: unbound, want: user(map[string]authnv1.ExtraValue{CredentialIDKey: {unboundID}})},
		{name: "bound to a pod", token: podBound, want: user(map[string]authnv1.ExtraValue{
			PodNameKey: {"app"}, PodUIDKey: {string(pod.UID)}, NodeNameKey: {"n1"}, NodeUIDKey: {string(node.UID)}, CredentialIDKey: {podID}})},
		{name: "bound to a pod whose node is gone", token: podBound, change: func(f *fakeObjects) { delete(f.nodes, "n1") },
			want: user(map[string]authnv1.ExtraValue{
				PodNameKey: {"app"}, PodUIDKey: {string(pod.UID)}, NodeNameKey: {"n1"}, NodeUIDKey: {string(node.UID)}, CredentialIDKey: {podID}})},
		{name: "bound to a node", token: nodeBound, want: user(map[string]authnv1.ExtraValue{
			NodeNameKey: {"n1"}, NodeUIDKey: {string(node.UID)}, CredentialIDKey: {nodeID}})},
		{name: "bound to a secret", token: secretBound, want: user(map[string]authnv1.ExtraValue{CredentialIDKey: {secretID}})},

		{name: "not a JWT", token: "abcdef.0123456789abcdef"},
		{name: "another issuer's JWT", token: b64([]byte(`{"alg":"ES256"}`)) + "." + b64([]byte(`{"iss":"https://accounts.example"}`)) + ".c2ln"},
		{name: "tampered", token: tamper(unbound), wantErr: "signature"},

		{name: "service account deleted", token: unbound, change: func(f *fakeObjects) { delete(f.sas, "team/robot") }, wantErr: "not found"},
		{name: "service account recreated", token: unbound, change: func(f *fakeObjects) { f.sas["team/robot"].UID = "new" }, wantErr: "UID"},
		{name: "service account being deleted", token: unbound,
			change: func(f *fakeObjects) { f.sas["team/robot"].DeletionTimestamp = deleting(2 * time.Minute) }, wantErr: "deleted"},
		{name: "service account being deleted within leeway", token: unbound,
			change: func(f *fakeObjects) { f.sas["team/robot"].DeletionTimestamp = deleting(30 * time.Second) },
			want:   user(map[string]authnv1.ExtraValue{CredentialIDKey: {unboundID}})},
		{name: "pod deleted", token: podBound, change: func(f *fakeObjects) { delete(f.pods, "team/app") }, wantErr: "invalidated"},
		{name: "pod recreated", token: podBound, change: func(f *fakeObjects) { f.pods["team/app"].UID = "new" }, wantErr: "UID"},
		{name: "pod being deleted", token: podBound,
			change: func(f *fakeObjects) { f.pods["team/app"].DeletionTimestamp = deleting(2 * time.Minute) }, wantErr: "invalidated"},
		{name: "node deleted", token: nodeBound, change: func(f *fakeObjects) { delete(f.nodes, "n1") }, wantErr: "invalidated"},
		{name: "node recreated", token: nodeBound, change: func(f *fakeObjects) { f.nodes["n1"].UID = "new" }, wantErr: "UID"},
		{name: "secret deleted", token: secretBound, change: func(f *fakeObjects) { delete(f.secrets, "team/s") }, wantErr: "invalidated"},
		{name: "secret recreated", token: secretBound, change: func(f *fakeObjects) { f.secrets["team/s"].UID = "new" }, wantErr: "UID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := fresh()
			if tc.change != nil {
				tc.change(objs)
			}
			a := NewAuthenticator(s, objs)
			u, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			switch {
			case tc.wantErr != "":
				if err == nil || ok || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v, %v; want an error with %q", u, ok, err, tc.wantErr)
				}
			case tc.want == nil:
				if err != nil || ok || u != nil {
					t.Fatalf("got %v, %v, %v; want the token left to others", u, ok, err)
				}
			default:
				if err != nil || !ok {
					t.Fatalf("got %v, %v", ok, err)
				}
				if !reflect.DeepEqual(u, tc.want) {
					t.Errorf("user\n got %+v\nwant %+v", u, tc.want)
				}
			}
		})
	}
}

// tamper swaps the payload for one naming another service account,
// keeping the header and signature.
func tamper(tok string) string {
	h, p, sig := split3(tok)
	raw, _ := unb64(p)
	forged := strings.Replace(string(raw), `"robot"`, `"admin"`, 1)
	forged = strings.Replace(forged, ":robot", ":admin", 1)
	return h + "." + b64([]byte(forged)) + "." + sig
}
