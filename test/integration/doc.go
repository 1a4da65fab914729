// Package integration tests the berth API server end to end through
// client-go: each test starts a whole control plane in-process
// (internal/testserver) and checks that it answers exactly as Kubernetes
// does — status codes, reasons, messages, field paths and the fields the
// server sets.
package integration
