// Package defaultbinder is the DefaultBinder plugin: it binds a pod to its
// node through the pods/binding subresource.
package defaultbinder
