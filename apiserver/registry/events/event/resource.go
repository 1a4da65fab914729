package event

import (
	"fmt"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"berth/apiserver/registry"
	coreevent "berth/apiserver/registry/core/event"
)

// Resource returns the description of events.k8s.io/v1 events, stored as
// core/v1 events and kept as long as those (one hour by default).
func Resource() *registry.Resource {
	return ResourceWithTTL(coreevent.DefaultTTLSeconds)
}

// ResourceWithTTL returns the description of events.k8s.io/v1 events kept
// for the given number of seconds after their last write; it should match
// the TTL of core/v1 events, whose storage they share.
func ResourceWithTTL(seconds int64) *registry.Resource {
	// The table is that of core/v1 events: Kubernetes serves both versions
	// through the same table convertor.
	core := coreevent.ResourceWithTTL(seconds)
	return &registry.Resource{
		Group:      "events.k8s.io",
		Version:    "v1",
		Resource:   "events",
		Kind:       "Event",
		ListKind:   "EventList",
		Singular:   "event",
		ShortNames: []string{"ev"},
		Namespaced: true,

		New:     func() runtime.Object { return &eventsv1.Event{} },
		NewList: func() runtime.Object { return &eventsv1.EventList{} },

		Validate:       validateCreate,
		ValidateUpdate: validateUpdate,

		Columns: core.Columns,
		Cells: func(obj runtime.Object) []interface{} {
			ev, ok := obj.(*eventsv1.Event)
			if !ok {
				return nil
			}
			return core.Cells(toCore(ev))
		},
		Fields: selectableFields,

		AllowCreateOnUpdate: true,
		TTL:                 func(runtime.Object) int64 { return seconds },

		Storage: &registry.SharedStorage{
			Resource:   schema.GroupResource{Resource: "events"},
			ToStored:   toStored,
			FromStored: fromStored,
		},
	}
}

// selectableFields are the field selector labels events.k8s.io accepts;
// Kubernetes maps them onto the core event's fields.
func selectableFields(obj runtime.Object) fields.Set {
	ev, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil
	}
	source := ev.DeprecatedSource.Component
	if source == "" {
		source = ev.ReportingController
	}
	return fields.Set{
		"regarding.kind":            ev.Regarding.Kind,
		"regarding.namespace":       ev.Regarding.Namespace,
		"regarding.name":            ev.Regarding.Name,
		"regarding.uid":             string(ev.Regarding.UID),
		"regarding.apiVersion":      ev.Regarding.APIVersion,
		"regarding.resourceVersion": ev.Regarding.ResourceVersion,
		"regarding.fieldPath":       ev.Regarding.FieldPath,
		"reason":                    ev.Reason,
		"reportingController":       ev.ReportingController,
		"source":                    source,
		"type":                      ev.Type,
	}
}

func wrongType(obj runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unexpected object of type %T", obj))}
}
