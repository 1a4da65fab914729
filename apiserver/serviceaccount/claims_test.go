package serviceaccount

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testSA() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: "team", UID: "sa-uid"}}
}

func TestNewClaims(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", UID: "pod-uid"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", UID: "secret-uid"}}
	sa := Ref{Name: "robot", UID: "sa-uid"}
	for _, tc := range []struct {
		name      string
		bound     Bound
		warnAfter int64
		want      PrivateClaims
	}{
		{"unbound", Bound{}, 0, PrivateClaims{Namespace: "team", ServiceAccount: sa}},
		{"pod on a node", Bound{Pod: pod, Node: node}, 0,
			PrivateClaims{Namespace: "team", ServiceAccount: sa, Pod: &Ref{"app", "pod-uid"}, Node: &Ref{"n1", "node-uid"}}},
		{"pod with warnafter", Bound{Pod: pod}, 3607,
			PrivateClaims{Namespace: "team", ServiceAccount: sa, Pod: &Ref{"app", "pod-uid"}, WarnAfter: now.Unix() + 3607}},
		{"secret", Bound{Secret: secret}, 0, PrivateClaims{Namespace: "team", ServiceAccount: sa, Secret: &Ref{"s", "secret-uid"}}},
		{"node", Bound{Node: node}, 0, PrivateClaims{Namespace: "team", ServiceAccount: sa, Node: &Ref{"n1", "node-uid"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClaims(testSA(), tc.bound, now, 600, tc.warnAfter, []string{"api"})
			if c.Subject != "system:serviceaccount:team:robot" || c.IssuedAt != now.Unix() || c.NotBefore != now.Unix() ||
				c.Expiry != now.Unix()+600 || !reflect.DeepEqual([]string(c.Audience), []string{"api"}) || len(c.ID) != 36 {
				t.Errorf("public claims %+v", c)
			}
			if !reflect.DeepEqual(*c.Kubernetes, tc.want) {
				t.Errorf("kubernetes.io = %+v, want %+v", *c.Kubernetes, tc.want)
			}
		})
	}
	if a, b := NewClaims(testSA(), Bound{}, now, 600, 0, nil), NewClaims(testSA(), Bound{}, now, 600, 0, nil); a.ID == b.ID {
		t.Error("two tokens share an ID")
	}
}

// The JSON has Kubernetes' claim names, in its order.
func TestClaimsJSON(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", UID: "p"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "u"}}
	c := NewClaims(testSA(), Bound{Pod: pod, Node: node}, time.Unix(100, 0), 3600, 7, []string{"a"})
	c.ID, c.Issuer = "id", "iss"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"aud":["a"],"exp":3700,"iat":100,"iss":"iss","jti":"id","kubernetes.io":{"namespace":"team",` +
		`"node":{"name":"n","uid":"u"},"pod":{"name":"app","uid":"p"},"serviceaccount":{"name":"robot","uid":"sa-uid"},"warnafter":107},` +
		`"nbf":100,"sub":"system:serviceaccount:team:robot"}`
	if string(b) != want {
		t.Errorf("claims JSON\n got %s\nwant %s", b, want)
	}
}

func TestAudienceJSON(t *testing.T) {
	for in, want := range map[string][]string{
		`"a"`:        {"a"},
		`["a","b"]`:  {"a", "b"},
		`[]`:         {},
		`{"x":1}`:    nil,
		`["a",true]`: nil,
	} {
		var a Audience
		err := json.Unmarshal([]byte(in), &a)
		if want == nil {
			if err == nil {
				t.Errorf("%s: want an error", in)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual([]string(a), want) {
			t.Errorf("%s: %v, %v", in, a, err)
		}
	}
}

func TestUserNames(t *testing.T) {
	if Username("ns", "sa") != "system:serviceaccount:ns:sa" {
		t.Error(Username("ns", "sa"))
	}
	if g := Groups("ns"); !reflect.DeepEqual(g, []string{"system:serviceaccounts", "system:serviceaccounts:ns"}) {
		t.Error(g)
	}
	if CredentialID("x") != "JTI=x" || CredentialID("") != "" {
		t.Error("credential IDs")
	}
}
