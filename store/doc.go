// Package store defines how the API server keeps objects: the Interface its
// generic registry uses, the options of lists and watches, and the sentinel
// errors it turns into HTTP statuses. Package etcd implements reads and
// writes on etcd; package cache serves lists and watches from memory, fed by
// a single etcd watch.
package store
