// Package nodeaffinity is the NodeAffinity plugin: a pod goes only to
// nodes matching its nodeSelector and required node affinity, and prefers
// nodes matching its preferred node affinity terms (by weight).
package nodeaffinity
