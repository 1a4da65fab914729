package pod

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// image is a container's image as present on the node.
type image struct {
	ref      string // the runtime's image ID
	uid      *int64 // the image's user, if numeric
	username string // the image's user, if a name
}

// startError is why a container could not be started: its waiting reason
// and message.
type startError struct {
	reason, message string
}

func (e *startError) Error() string { return e.reason + ": " + e.message }

// puller pulls images through CRI, with the kubelet's per pod and image
// back-off after failures.
type puller struct {
	images  runtimeapi.ImageServiceClient
	backOff *backOff
	locks   sync.Map // image → *sync.Mutex: one pull of an image at a time
	mu      sync.Mutex
	prevErr map[string]string // back-off key → the last pull error
}

func newPuller(images runtimeapi.ImageServiceClient, b *backOff) *puller {
	return &puller{images: images, backOff: b, prevErr: map[string]string{}}
}

// withDefaultTag adds ":latest" to an image with neither tag nor digest.
func withDefaultTag(img string) (string, error) {
	if _, err := name.ParseReference(img, name.WeakValidation); err != nil || strings.TrimSpace(img) != img {
		return "", fmt.Errorf("couldn't parse image reference %q: invalid reference format", img)
	}
	last := img[strings.LastIndex(img, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(last, "@") {
		img += ":latest"
	}
	return img, nil
}

// shouldPull applies the pull policy.
func shouldPull(policy corev1.PullPolicy, present bool) bool {
	switch policy {
	case corev1.PullNever:
		return false
	case corev1.PullAlways:
		return true
	}
	return !present
}

// ensureImage makes sure the container's image is present, pulling it as
// its pull policy says, with the kubelet's events and errors.
func (m *Manager) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (image, error) {
	ref := containerRef(pod, c)
	img, err := withDefaultTag(c.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		m.event(ref, corev1.EventTypeWarning, eventInspectFailed, "%s", msg)
		return image{}, &startError{reasonInvalidImageName, msg}
	}
	spec := &runtimeapi.ImageSpec{Image: img, UserSpecifiedImage: c.Image, Annotations: pod.Annotations}
	status := func() (*runtimeapi.Image, error) {
		st, err := m.cfg.Images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
		if err != nil {
			return nil, err
		}
		return st.Image, nil
	}
	present, err := status()
	if err != nil {
		msg := fmt.Sprintf("Failed to inspect image %q: %v", c.Image, err)
		m.event(ref, corev1.EventTypeWarning, eventInspectFailed, "%s", msg)
		return image{}, &startError{"ImageInspectError", msg}
	}
	if !shouldPull(c.ImagePullPolicy, present != nil) {
		if present != nil {
			m.event(ref, corev1.EventTypeNormal, eventPulled, "Container image %q already present on machine", c.Image)
			return toImage(present), nil
		}
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		m.event(ref, corev1.EventTypeWarning, eventNeverPull, "%s", msg)
		return image{}, &startError{reasonErrImageNeverPull, msg}
	}
	p := m.puller
	key := string(pod.UID) + "_" + c.Image
	if in, _ := p.backOff.inBackOffSinceUpdate(key, m.now()); in {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		m.event(ref, corev1.EventTypeNormal, eventBackOff, "%s", msg)
		p.mu.Lock()
		if prev := p.prevErr[key]; prev != "" {
			msg += ": " + prev
		}
		p.mu.Unlock()
		return image{}, &startError{reasonImagePullBackOff, msg}
	}
	m.event(ref, corev1.EventTypeNormal, eventPulling, "Pulling image %q", c.Image)
	start := time.Now()
	lock, _ := p.locks.LoadOrStore(img, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	pullStart := time.Now()
	_, err = p.images.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
	pulled := time.Since(pullStart)
	lock.(*sync.Mutex).Unlock()
	if err != nil {
		m.event(ref, corev1.EventTypeWarning, eventFailed, "Failed to pull image %q: %v", c.Image, err)
		p.backOff.next(key, m.now(), m.now())
		p.mu.Lock()
		p.prevErr[key] = reasonErrImagePull + ": " + err.Error()
		p.mu.Unlock()
		return image{}, &startError{reasonErrImagePull, err.Error()}
	}
	p.mu.Lock()
	delete(p.prevErr, key)
	p.mu.Unlock()
	present, err = status()
	if err != nil || present == nil {
		return image{}, &startError{reasonErrImagePull, fmt.Sprintf("image %q not found after pulling it: %v", c.Image, err)}
	}
	m.event(ref, corev1.EventTypeNormal, eventPulled, "Successfully pulled image %q in %v (%v including waiting). Image size: %d bytes.",
		c.Image, pulled.Truncate(time.Millisecond), time.Since(start).Truncate(time.Millisecond), present.Size_)
	return toImage(present), nil
}

func toImage(i *runtimeapi.Image) image {
	img := image{ref: i.Id, username: i.Username}
	if i.Uid != nil {
		uid := i.Uid.Value
		img.uid = &uid
	}
	return img
}
