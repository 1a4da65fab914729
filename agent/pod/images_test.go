package pod

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeImages is an image service with some images present; pulls of
// others fail, except those in pullable.
type fakeImages struct {
	runtimeapi.ImageServiceClient
	mu       sync.Mutex
	present  map[string]*runtimeapi.Image
	pullable map[string]bool
	pulls    []string
}

func (f *fakeImages) ImageStatus(_ context.Context, r *runtimeapi.ImageStatusRequest, _ ...grpc.CallOption) (*runtimeapi.ImageStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ImageStatusResponse{Image: f.present[r.Image.Image]}, nil
}

func (f *fakeImages) PullImage(_ context.Context, r *runtimeapi.PullImageRequest, _ ...grpc.CallOption) (*runtimeapi.PullImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, r.Image.Image)
	if !f.pullable[r.Image.Image] {
		return nil, status.Error(codes.NotFound, "failed to pull and unpack image \""+r.Image.Image+"\": not found")
	}
	f.present[r.Image.Image] = &runtimeapi.Image{Id: "sha256:" + r.Image.Image, Size_: 42}
	return &runtimeapi.PullImageResponse{ImageRef: "sha256:" + r.Image.Image}, nil
}

func TestEnsureImage(t *testing.T) {
	uid := int64(1000)
	images := &fakeImages{
		present:  map[string]*runtimeapi.Image{"busybox:latest": {Id: "sha256:bb", Uid: &runtimeapi.Int64Value{Value: uid}}},
		pullable: map[string]bool{"app:v1": true},
	}
	rec := record.NewFakeRecorder(100)
	now := t0
	m := &Manager{cfg: Config{Images: images, Recorder: rec, Now: func() time.Time { return now }}}
	m.puller = newPuller(images, newBackOff(10*time.Second, 5*time.Minute))
	pod := specPod(corev1.RestartPolicyAlways)
	ctx := context.Background()
	ensure := func(image string, policy corev1.PullPolicy) (image, error) {
		return m.ensureImage(ctx, pod, &corev1.Container{Name: "c", Image: image, ImagePullPolicy: policy})
	}
	reason := func(err error) string {
		var se *startError
		if errors.As(err, &se) {
			return se.reason + ": " + se.message
		}
		return ""
	}
	if img, err := ensure("busybox", corev1.PullIfNotPresent); err != nil || img.ref != "sha256:bb" || *img.uid != 1000 {
		t.Errorf("present image: %+v %v", img, err)
	}
	if img, err := ensure("app:v1", corev1.PullIfNotPresent); err != nil || img.ref != "sha256:app:v1" {
		t.Errorf("pulled image: %+v %v", img, err)
	}
	if _, err := ensure("app:v1", corev1.PullAlways); err != nil || len(images.pulls) != 2 {
		t.Errorf("Always pulls again: %v %v", images.pulls, err)
	}
	if _, err := ensure("absent:v1", corev1.PullNever); reason(err) != `ErrImageNeverPull: Container image "absent:v1" is not present with pull policy of Never` {
		t.Errorf("never: %v", err)
	}
	if _, err := ensure("nope:v1", corev1.PullIfNotPresent); !strings.HasPrefix(reason(err), "ErrImagePull: rpc error: code = NotFound desc = failed to pull") {
		t.Errorf("missing: %v", err)
	}
	now = now.Add(5 * time.Second)
	want := `ImagePullBackOff: Back-off pulling image "nope:v1": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "nope:v1": not found`
	if _, err := ensure("nope:v1", corev1.PullIfNotPresent); reason(err) != want {
		t.Errorf("back-off: %v", reason(err))
	}
	now = now.Add(6 * time.Second)
	if _, err := ensure("nope:v1", corev1.PullIfNotPresent); !strings.HasPrefix(reason(err), "ErrImagePull") || len(images.pulls) != 4 {
		t.Errorf("after the back-off: %v, pulls %v", err, images.pulls)
	}
	if _, err := ensure("Bad Image", corev1.PullIfNotPresent); !strings.HasPrefix(reason(err), "InvalidImageName: Failed to apply default image tag") {
		t.Errorf("invalid: %v", err)
	}
	close(rec.Events)
	var events []string
	for e := range rec.Events {
		events = append(events, e)
	}
	for _, want := range []string{
		`Normal Pulled Container image "busybox" already present on machine`,
		`Normal Pulling Pulling image "app:v1"`,
		`Normal Pulled Successfully pulled image "app:v1" in `,
		`Warning ErrImageNeverPull Container image "absent:v1" is not present with pull policy of Never`,
		`Warning Failed Failed to pull image "nope:v1": rpc error: code = NotFound`,
		`Normal BackOff Back-off pulling image "nope:v1"`,
	} {
		found := false
		for _, e := range events {
			found = found || strings.HasPrefix(e, want)
		}
		if !found {
			t.Errorf("no event %q in %q", want, events)
		}
	}
}

func TestWithDefaultTag(t *testing.T) {
	for in, want := range map[string]string{
		"busybox": "busybox:latest", "busybox:1.36": "busybox:1.36", "127.0.0.1:5000/app": "127.0.0.1:5000/app:latest",
		"127.0.0.1:5000/app:v2": "127.0.0.1:5000/app:v2", "app@sha256:" + strings.Repeat("a", 64): "app@sha256:" + strings.Repeat("a", 64),
	} {
		if got, err := withDefaultTag(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"UPPER/case", "a b", ""} {
		if _, err := withDefaultTag(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
