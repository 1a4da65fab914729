// Package coreapi holds the rules that several core/v1 resources share in
// Kubernetes: which resource names are standard, how quantities and IP
// addresses of legacy fields are checked, and the defaulting of resource
// lists. Each rule follows pkg/apis/core/validation and
// pkg/apis/core/helper of Kubernetes 1.33, so that the resources below
// apiserver/registry/core report the same field errors.
package coreapi
