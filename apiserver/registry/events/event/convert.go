package event

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Type metadata of the two shapes of an event.
var (
	coreEventType     = corev1.SchemeGroupVersion.WithKind("Event")
	coreEventListType = corev1.SchemeGroupVersion.WithKind("EventList")
	eventType         = eventsv1.SchemeGroupVersion.WithKind("Event")
	eventListType     = eventsv1.SchemeGroupVersion.WithKind("EventList")
)

// toStored converts an events.k8s.io/v1 Event (or EventList) to the core/v1
// object the storage keeps.
func toStored(obj runtime.Object) (runtime.Object, error) {
	switch in := obj.(type) {
	case *eventsv1.Event:
		return toCore(in), nil
	case *eventsv1.EventList:
		out := &corev1.EventList{ListMeta: *in.ListMeta.DeepCopy(), Items: make([]corev1.Event, len(in.Items))}
		out.GetObjectKind().SetGroupVersionKind(coreEventListType)
		for i := range in.Items {
			out.Items[i] = *toCore(&in.Items[i])
		}
		return out, nil
	}
	return nil, fmt.Errorf("convert %T to a core/v1 event: unexpected type", obj)
}

// fromStored converts a stored core/v1 Event (or EventList) to
// events.k8s.io/v1.
func fromStored(obj runtime.Object) (runtime.Object, error) {
	switch in := obj.(type) {
	case *corev1.Event:
		return fromCore(in), nil
	case *corev1.EventList:
		out := &eventsv1.EventList{ListMeta: *in.ListMeta.DeepCopy(), Items: make([]eventsv1.Event, len(in.Items))}
		out.GetObjectKind().SetGroupVersionKind(eventListType)
		for i := range in.Items {
			out.Items[i] = *fromCore(&in.Items[i])
		}
		return out, nil
	}
	return nil, fmt.Errorf("convert %T to an events.k8s.io/v1 event: unexpected type", obj)
}

// toCore maps every events.k8s.io/v1 field onto its core/v1 twin, as
// Kubernetes' conversion through the internal type does: regarding is
// involvedObject, note is message, reportingController is
// reportingComponent, and the deprecated* fields are the legacy ones.
func toCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          *in.ObjectMeta.DeepCopy(),
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      *in.DeprecatedFirstTimestamp.DeepCopy(),
		LastTimestamp:       *in.DeprecatedLastTimestamp.DeepCopy(),
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           *in.EventTime.DeepCopy(),
		Action:              in.Action,
		Related:             in.Related.DeepCopy(),
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: *in.Series.LastObservedTime.DeepCopy()}
	}
	out.GetObjectKind().SetGroupVersionKind(coreEventType)
	return out
}

// fromCore is the inverse of toCore.
func fromCore(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		ObjectMeta:               *in.ObjectMeta.DeepCopy(),
		EventTime:                *in.EventTime.DeepCopy(),
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related.DeepCopy(),
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: *in.FirstTimestamp.DeepCopy(),
		DeprecatedLastTimestamp:  *in.LastTimestamp.DeepCopy(),
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: *in.Series.LastObservedTime.DeepCopy()}
	}
	out.GetObjectKind().SetGroupVersionKind(eventType)
	return out
}
