// Package e2e tests berth the way users meet it: the binary built from
// ./cmd/berth runs as a child process (`berth server` on a temporary data
// directory and a free loopback port) and real kubectl binaries, the oldest
// and newest supported versions, drive it. Each step asserts kubectl's
// output where it is deterministic and the state it leaves, as a Kubernetes
// 1.33 cluster would show them.
package e2e
