package node

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime is a CRI runtime and image service whose answers a test
// sets; it is safe for concurrent use.
type fakeRuntime struct {
	mu         sync.Mutex
	down       bool // Status and Version fail
	runtime    *runtimeapi.RuntimeCondition
	network    *runtimeapi.RuntimeCondition
	images     []*runtimeapi.Image
	imagesErr  error
	statusCall int
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{
		runtime: &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true},
		network: &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true},
	}
}

func (f *fakeRuntime) set(change func(f *fakeRuntime)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

var errUnavailable = errors.New("rpc error: code = Unavailable desc = connection refused")

func (f *fakeRuntime) Version(context.Context, *runtimeapi.VersionRequest, ...grpc.CallOption) (*runtimeapi.VersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errUnavailable
	}
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "1.6.20~ds1", RuntimeApiVersion: "v1"}, nil
}

func (f *fakeRuntime) Status(context.Context, *runtimeapi.StatusRequest, ...grpc.CallOption) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusCall++
	if f.down {
		return nil, errUnavailable
	}
	var conds []*runtimeapi.RuntimeCondition
	for _, c := range []*runtimeapi.RuntimeCondition{f.runtime, f.network} {
		if c != nil {
			c := *c
			conds = append(conds, &c)
		}
	}
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: conds}}, nil
}

func (f *fakeRuntime) ListImages(context.Context, *runtimeapi.ListImagesRequest, ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.imagesErr != nil {
		return nil, f.imagesErr
	}
	return &runtimeapi.ListImagesResponse{Images: f.images}, nil
}

var (
	_ RuntimeService = (*fakeRuntime)(nil)
	_ ImageLister    = (*fakeRuntime)(nil)
)
