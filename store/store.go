package store

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Errors returned by stores. They are wrapped with the key concerned; test
// with errors.Is. The API server turns them into HTTP statuses.
var (
	// ErrNotFound: no object at the key.
	ErrNotFound = errors.New("not found")
	// ErrExists: an object already exists at the key.
	ErrExists = errors.New("already exists")
	// ErrConflict: the object changed since the given resource version.
	ErrConflict = errors.New("conflict")
	// ErrExpired: the requested resource version is too old to serve
	// (compacted, or older than a watch cache's window).
	ErrExpired = errors.New("resource version too old")
	// ErrInvalidContinue: a continue token that cannot be decoded.
	ErrInvalidContinue = errors.New("invalid continue token")
	// ErrInvalidResourceVersion: a resource version that is not a number.
	ErrInvalidResourceVersion = errors.New("invalid resource version")
	// ErrUnavailable: the store cannot serve the request now (its cache is
	// not ready, or waiting for a resource version timed out).
	ErrUnavailable = errors.New("storage unavailable")
)

// Interface stores the objects of one resource. Keys are full paths such as
// "/registry/core/pods/default/web-0"; lists and watches take a prefix ending
// in "/". Objects returned carry their resourceVersion; callers must treat
// them as read-only (they may be shared with a cache).
type Interface interface {
	// Get returns the object at key, read consistently from storage.
	Get(ctx context.Context, key string) (runtime.Object, error)
	// Create stores obj at key if nothing is there. ttl > 0 makes storage
	// drop the object after ttl seconds.
	Create(ctx context.Context, key string, obj runtime.Object, ttl int64) (runtime.Object, error)
	// Update reads the object at key, passes it to fn and stores what fn
	// returns if the object has not changed in between; otherwise it reads
	// again and retries. If fn's result encodes to the same bytes, nothing is
	// written and the current object is returned.
	Update(ctx context.Context, key string, opts UpdateOptions, fn UpdateFunc) (runtime.Object, error)
	// Delete removes the object at key after check (if not nil) accepts the
	// current object, retrying check if the object changes in between. It
	// returns the deleted object.
	Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error)
	// List returns the objects under prefix.
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)
	// Watch streams changes under prefix.
	Watch(ctx context.Context, prefix string, opts WatchOptions) (watch.Interface, error)
}

// UpdateFunc computes the new object from the current one (nil when missing
// and creation was asked for). It must not modify cur; it works on a copy.
type UpdateFunc func(cur runtime.Object) (runtime.Object, error)

// UpdateOptions are the options of an update.
type UpdateOptions struct {
	// CreateMissing passes nil to the update function for a missing object
	// and creates what it returns.
	CreateMissing bool
	// TTL > 0 makes storage drop the object ttl seconds after this write.
	TTL int64
}

// Predicate selects objects by labels and fields.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
	// Attrs returns the labels and fields of an object. Needed only when a
	// selector is set.
	Attrs func(obj runtime.Object) (labels.Set, fields.Set, error)
}

// Empty reports whether the predicate matches everything.
func (p Predicate) Empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

// Matches reports whether obj is selected.
func (p Predicate) Matches(obj runtime.Object) bool {
	if p.Empty() {
		return true
	}
	l, f, err := p.Attrs(obj)
	if err != nil {
		return false
	}
	if p.Label != nil && !p.Label.Matches(l) {
		return false
	}
	if p.Field != nil && !p.Field.Matches(f) {
		return false
	}
	return true
}

// ListOptions are the options of a list, as in Kubernetes' ListOptions.
type ListOptions struct {
	// ResourceVersion: "" for the most recent data (consistent read), "0"
	// for any data (whatever a cache has), or a revision.
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	// Limit caps the number of items; Continue resumes a limited list.
	Limit     int64
	Continue  string
	Predicate Predicate
}

// ListResult is a page of a list.
type ListResult struct {
	Items           []runtime.Object
	ResourceVersion int64
	// Continue is set when more items remain.
	Continue string
	// RemainingItemCount estimates the items after this page when known.
	RemainingItemCount *int64
}

// WatchOptions are the options of a watch.
type WatchOptions struct {
	// ResourceVersion: "" or "0" starts with the current objects (as ADDED
	// events) and then changes; a revision streams changes after it.
	ResourceVersion string
	Predicate       Predicate
	// SendInitialEvents asks for the current objects first, then a
	// bookmark annotated "k8s.io/initial-events-end" (watch-list).
	SendInitialEvents *bool
	// AllowBookmarks lets the store send BOOKMARK events carrying only a
	// resourceVersion.
	AllowBookmarks bool
}

// InitialEventsEndAnnotation marks the bookmark that ends the initial
// events of a watch-list.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// Codec turns objects into stored bytes and back. Decode returns an object
// of the resource's stored type.
type Codec interface {
	Encode(obj runtime.Object) ([]byte, error)
	Decode(data []byte) (runtime.Object, error)
}

// ContinueExpiredError is the ErrExpired of a continued list whose revision
// was compacted. Continue resumes the list at the latest revision instead
// (an inconsistent list), as Kubernetes offers.
type ContinueExpiredError struct{ Continue string }

func (e *ContinueExpiredError) Error() string { return "continue token expired" }
func (e *ContinueExpiredError) Unwrap() error { return ErrExpired }

// TooLargeResourceVersionError: a client asked for a revision the store has
// not reached within the time it waits.
type TooLargeResourceVersionError struct{ Requested, Current int64 }

func (e *TooLargeResourceVersionError) Error() string {
	return fmt.Sprintf("Too large resource version: %d, current: %d", e.Requested, e.Current)
}
func (e *TooLargeResourceVersionError) Unwrap() error { return ErrUnavailable }

// Errorf wraps a sentinel error with the key it concerns.
func Errorf(sentinel error, key string) error {
	return fmt.Errorf("%w: %s", sentinel, key)
}
