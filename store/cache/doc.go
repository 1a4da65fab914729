// Package cache is the API server's watch cache: every object of every
// resource in memory, kept current by one etcd watch (the Feed), with a
// window of recent events per resource so that watches resume from a
// resourceVersion, and lists that do not read etcd.
package cache
