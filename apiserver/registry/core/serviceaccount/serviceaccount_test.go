package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResource(t *testing.T) {
	r := Resource()
	if r.Resource != "serviceaccounts" || r.ShortNames[0] != "sa" || !r.Namespaced {
		t.Fatalf("unexpected resource description: %+v", r)
	}
	if len(r.ValidateName("build-bot.ci", false)) != 0 || len(r.ValidateName("Build_Bot", false)) == 0 {
		t.Error("ValidateName does not check DNS subdomains")
	}
}

func TestSecretReferencesKeepOnlyNames(t *testing.T) {
	r := Resource()
	ref := corev1.ObjectReference{Name: "token", Namespace: "other", Kind: "Secret", UID: "u", ResourceVersion: "3"}
	for name, prepare := range map[string]func(*corev1.ServiceAccount){
		"create": func(sa *corev1.ServiceAccount) { r.PrepareForCreate(context.Background(), sa) },
		"update": func(sa *corev1.ServiceAccount) { r.PrepareForUpdate(context.Background(), sa, sa.DeepCopy()) },
	} {
		sa := &corev1.ServiceAccount{Secrets: []corev1.ObjectReference{ref}}
		prepare(sa)
		if sa.Secrets[0] != (corev1.ObjectReference{Name: "token"}) {
			t.Errorf("%s: secrets = %+v", name, sa.Secrets)
		}
	}
}

func TestTable(t *testing.T) {
	r := Resource()
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: metav1.NewTime(time.Now().Add(-400 * 24 * time.Hour))},
		Secrets:    []corev1.ObjectReference{{Name: "a"}, {Name: "b"}},
	}
	cells := r.Cells(sa)
	if len(cells) != len(r.Columns) || cells[0] != "default" || cells[1] != int64(2) || cells[2] != "400d" {
		t.Errorf("cells = %v", cells)
	}
}
