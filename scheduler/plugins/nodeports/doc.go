// Package nodeports is the NodePorts plugin: a pod that asks for host
// ports goes only to nodes where they are free.
package nodeports
