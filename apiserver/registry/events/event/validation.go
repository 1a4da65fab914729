package event

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	coreevent "berth/apiserver/registry/core/event"
)

// Kubernetes validates events in their internal (core) shape, so error
// paths name the core fields (involvedObject, message, ...) even for
// requests to events.k8s.io; this package does the same. Every event first
// passes the legacy checks of core/v1 events (coreevent.ValidateLegacy);
// writes through events.k8s.io then get the stricter checks below.

func validateCreate(_ context.Context, obj runtime.Object) field.ErrorList {
	in, ok := obj.(*eventsv1.Event)
	if !ok {
		return wrongType(obj)
	}
	ev := toCore(in)
	allErrs := coreevent.ValidateLegacy(ev)
	allErrs = append(allErrs, validateSeries(ev)...)
	if ev.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if !ev.FirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !ev.LastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if ev.Count != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if ev.Source.Component != "" || ev.Source.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return allErrs
}

func validateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	in, ok := obj.(*eventsv1.Event)
	if !ok {
		return wrongType(obj)
	}
	oldIn, ok := old.(*eventsv1.Event)
	if !ok {
		return wrongType(old)
	}
	ev, oldEv := toCore(in), toCore(oldIn)
	allErrs := coreevent.ValidateLegacy(ev)
	if !apiequality.Semantic.DeepEqual(ev.Series, oldEv.Series) {
		allErrs = append(allErrs, validateSeries(ev)...)
	}
	immutable := func(newVal, oldVal interface{}, name string) {
		allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(newVal, oldVal, field.NewPath(name))...)
	}
	immutable(ev.InvolvedObject, oldEv.InvolvedObject, "involvedObject")
	immutable(ev.Reason, oldEv.Reason, "reason")
	immutable(ev.Message, oldEv.Message, "message")
	immutable(ev.Source, oldEv.Source, "source")
	immutable(ev.FirstTimestamp, oldEv.FirstTimestamp, "firstTimestamp")
	immutable(ev.LastTimestamp, oldEv.LastTimestamp, "lastTimestamp")
	immutable(ev.Count, oldEv.Count, "count")
	immutable(ev.Type, oldEv.Type, "type")
	immutable(ev.EventTime, oldEv.EventTime, "eventTime")
	immutable(ev.Action, oldEv.Action, "action")
	immutable(ev.Related, oldEv.Related, "related")
	immutable(ev.ReportingController, oldEv.ReportingController, "reportingController")
	immutable(ev.ReportingInstance, oldEv.ReportingInstance, "reportingInstance")
	return allErrs
}

func validateSeries(ev *corev1.Event) field.ErrorList {
	if ev.Series == nil {
		return nil
	}
	var allErrs field.ErrorList
	if ev.Series.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if ev.Series.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return allErrs
}
