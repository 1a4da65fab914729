// Package request carries what the API server learns about a request (the
// user it comes from, the resource it addresses) through its context.
package request

import (
	"context"
	"slices"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
)

type key int

const (
	userKey key = iota
	infoKey
)

// WithUser returns ctx carrying the authenticated user.
func WithUser(ctx context.Context, u *authnv1.UserInfo) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFrom returns the authenticated user, or nil.
func UserFrom(ctx context.Context) *authnv1.UserInfo {
	u, _ := ctx.Value(userKey).(*authnv1.UserInfo)
	return u
}

// Info describes what a request addresses, parsed from its path and method.
type Info struct {
	// IsResourceRequest is false for /version, /healthz, discovery, ...
	IsResourceRequest bool
	Path              string
	// Verb is get, list, watch, create, update, patch, delete,
	// deletecollection for resources; the lower-case HTTP method otherwise.
	Verb        string
	APIPrefix   string // "api" or "apis"
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	// Parts are the path segments after the resource.
	Parts []string
}

// WithInfo returns ctx carrying the request's Info.
func WithInfo(ctx context.Context, i *Info) context.Context {
	return context.WithValue(ctx, infoKey, i)
}

// InfoFrom returns the request's Info, or nil.
func InfoFrom(ctx context.Context) *Info {
	i, _ := ctx.Value(infoKey).(*Info)
	return i
}

const warningsKey key = 100

// Warnings collects the warnings a request's response carries in Warning
// headers (for example unknown fields with fieldValidation=Warn).
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// WithWarnings returns ctx with a place for warnings, and that place.
func WithWarnings(ctx context.Context) (context.Context, *Warnings) {
	w := &Warnings{}
	return context.WithValue(ctx, warningsKey, w), w
}

// AddWarning records a warning for the request's response, once.
func AddWarning(ctx context.Context, msg string) {
	w, _ := ctx.Value(warningsKey).(*Warnings)
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.list, msg) {
		w.list = append(w.list, msg)
	}
}

// List returns the warnings recorded.
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}
