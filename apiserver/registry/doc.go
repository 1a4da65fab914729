// Package registry declares how an API resource is described to the generic
// storage: its names, Go types, defaults, validation, table columns and
// subresources. Each resource has a folder below this one that fills in a
// Resource; the package generic serves them all with one mechanism.
package registry
