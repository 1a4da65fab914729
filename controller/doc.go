// Package controller holds what berth's controllers share: the clients and
// informers they are built from, and a workqueue worker. Each controller
// has its own folder below (deployment, replicaset, gc, ...); the manager
// package runs them, leader-elected.
package controller
