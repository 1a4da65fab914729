package server

import (
	"fmt"
	"runtime"

	"k8s.io/apimachinery/pkg/version"
)

// APIMajor and APIMinor are the Kubernetes API level berth serves.
const (
	APIMajor = "1"
	APIMinor = "33"
)

// BerthVersion is berth's own version.
const BerthVersion = "0.1.0"

// Version is what /version reports: the Kubernetes API level, so that
// kubectl sees no version skew, with berth's version as build metadata.
func Version() version.Info {
	return version.Info{
		Major:        APIMajor,
		Minor:        APIMinor,
		GitVersion:   fmt.Sprintf("v%s.%s.0+berth-%s", APIMajor, APIMinor, BerthVersion),
		GitTreeState: "clean",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}
