// Package deps pins the modules the project is being built on while the code
// that imports them is written. It is removed once every module is imported
// by real code.
package deps

import (
	_ "github.com/google/btree"
	_ "github.com/google/gnostic-models/openapiv2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	_ "gopkg.in/evanphx/json-patch.v4"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/client-go/applyconfigurations"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kube-openapi/pkg/spec3"
	_ "k8s.io/kube-openapi/pkg/validation/spec"
	_ "sigs.k8s.io/structured-merge-diff/v4/typed"
	_ "sigs.k8s.io/yaml"
)
