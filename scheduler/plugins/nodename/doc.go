// Package nodename is the NodeName plugin: a pod that names a node in
// spec.nodeName fits only that node.
package nodename
