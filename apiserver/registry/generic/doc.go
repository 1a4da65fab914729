// Package generic serves every API resource with one mechanism: the verbs
// of Kubernetes' REST API (get, list, watch, create, update, patch, delete,
// deletecollection, the status and scale subresources) on top of a store,
// with the resource's own rules taken from its registry.Resource.
package generic
