// Package appstest holds test helpers for the workload resources of the
// apps and batch groups: a runnable pod template and assertions on
// validation errors that do not depend on pod-spec validation details.
package appstest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodTemplate returns a template with (a copy of) the given labels, one container and
// the given restart policy ("" leaves it to the defaults).
func PodTemplate(labels map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: copyMap(labels)},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "web", Image: "nginx:1.27"}},
		},
	}
}

// Selector returns a selector matching exactly (a copy of) the given labels.
func Selector(labels map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: copyMap(labels)}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// HasError fails the test unless errs holds an error of type t at path.
func HasError(tb testing.TB, errs field.ErrorList, t field.ErrorType, path string) {
	tb.Helper()
	for _, e := range errs {
		if e.Type == t && e.Field == path {
			return
		}
	}
	tb.Errorf("want %s error at %s, got %v", t, path, errs)
}

// HasErrorDetail is HasError that also requires detail in the message.
func HasErrorDetail(tb testing.TB, errs field.ErrorList, t field.ErrorType, path, detail string) {
	tb.Helper()
	for _, e := range errs {
		if e.Type == t && e.Field == path && strings.Contains(e.Detail, detail) {
			return
		}
	}
	tb.Errorf("want %s error at %s with %q, got %v", t, path, detail, errs)
}

// NoErrors fails the test if errs is not empty.
func NoErrors(tb testing.TB, errs field.ErrorList) {
	tb.Helper()
	if len(errs) != 0 {
		tb.Errorf("want no errors, got %v", errs)
	}
}

// NoErrorAt fails the test if errs holds an error at path (or below it).
func NoErrorAt(tb testing.TB, errs field.ErrorList, path string) {
	tb.Helper()
	for _, e := range errs {
		if e.Field == path || strings.HasPrefix(e.Field, path+".") || strings.HasPrefix(e.Field, path+"[") {
			tb.Errorf("want no error at %s, got %v", path, e)
		}
	}
}
