package pod_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Failures are retried with the kubelet's growing back-off, and shown as
// it shows them.
func TestBackOff(t *testing.T) {
	t.Parallel()
	c := newCluster(t)

	t.Run("crash loop", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := c.create(busybox("crash", "exit 1"))
		backOff := func(d string) string {
			return fmt.Sprintf("back-off %s restarting failed container=c pod=crash_%s(%s)", d, c.ns, p.UID)
		}
		waitingFor := func(restarts int32, msg string) func(*corev1.Pod) bool {
			return func(p *corev1.Pod) bool {
				cs := p.Status.ContainerStatuses
				return len(cs) == 1 && cs[0].RestartCount == restarts && cs[0].State.Waiting != nil &&
					cs[0].State.Waiting.Reason == "CrashLoopBackOff" && cs[0].State.Waiting.Message == msg &&
					cs[0].LastTerminationState.Terminated != nil && cs[0].LastTerminationState.Terminated.ExitCode == 1
			}
		}
		// The first restart is at once; then 10s, then 20s.
		p = c.waitFor("crash", 30*time.Second, "in back-off after a restart", waitingFor(1, backOff("10s")))
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase %s", p.Status.Phase)
		}
		c.waitKubectl("crash", "CrashLoopBackOff", 5*time.Second)
		c.waitEvent(p, "BackOff", fmt.Sprintf("Back-off restarting failed container c in pod crash_%s(%s)", c.ns, p.UID), 10*time.Second)
		firstEnd := p.Status.ContainerStatuses[0].LastTerminationState.Terminated.FinishedAt.Time
		p = c.waitFor("crash", 30*time.Second, "in a longer back-off", waitingFor(2, backOff("20s")))
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if gap := last.StartedAt.Time.Sub(firstEnd); gap < 9*time.Second || gap > 14*time.Second {
			t.Errorf("second restart %v after the exit, want 10s", gap)
		}
		secondEnd := last.FinishedAt.Time
		p = c.waitFor("crash", 40*time.Second, "restarted again", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount == 3
		})
		started := p.Status.ContainerStatuses[0].State
		var at time.Time
		switch {
		case started.Running != nil:
			at = started.Running.StartedAt.Time
		case started.Terminated != nil:
			at = started.Terminated.StartedAt.Time
		default:
			at = p.Status.ContainerStatuses[0].LastTerminationState.Terminated.StartedAt.Time
		}
		if gap := at.Sub(secondEnd); gap < 19*time.Second || gap > 24*time.Second {
			t.Errorf("third restart %v after the exit, want 20s", gap)
		}
	})

	t.Run("image pull errors", func(t *testing.T) {
		t.Parallel()
		c := c.with(t)
		p := busybox("missing", "true")
		p.Spec.Containers[0].Image = "berth/nope:v1"
		p = c.create(p)
		waiting := func(reason, prefix string) func(*corev1.Pod) bool {
			return func(p *corev1.Pod) bool {
				cs := p.Status.ContainerStatuses
				return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == reason &&
					strings.HasPrefix(cs[0].State.Waiting.Message, prefix) && strings.Contains(cs[0].State.Waiting.Message, "not found")
			}
		}
		// ErrImagePull shows until the next sync, which under load may
		// come before the status is written: then ImagePullBackOff shows,
		// carrying the pull error.
		pullErr := "rpc error: code = NotFound desc = failed to pull and unpack image"
		errImagePull, backOffWithErr := waiting("ErrImagePull", pullErr), waiting("ImagePullBackOff", `Back-off pulling image "berth/nope:v1": ErrImagePull: `+pullErr)
		p = c.waitFor("missing", 30*time.Second, "ErrImagePull", func(p *corev1.Pod) bool { return errImagePull(p) || backOffWithErr(p) })
		if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].ImageID != "" {
			t.Errorf("status %s", statusString(p))
		}
		c.waitEvent(p, "Failed", `Failed to pull image "berth/nope:v1": `, 5*time.Second)
		c.waitEvent(p, "Failed", "Error: ErrImagePull", 5*time.Second)
		c.waitFor("missing", 40*time.Second, "ImagePullBackOff", waiting("ImagePullBackOff", `Back-off pulling image "berth/nope:v1": ErrImagePull: `))
		c.waitKubectl("missing", "ImagePullBackOff", 25*time.Second) // it alternates with ErrImagePull
		c.waitEvent(p, "BackOff", `Back-off pulling image "berth/nope:v1"`, 5*time.Second)
		c.waitEvent(p, "Failed", "Error: ImagePullBackOff", 5*time.Second)

		never := busybox("neverpull", "true")
		never.Spec.Containers[0].Image = "berth/absent:v1"
		never.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		c.create(never)
		c.waitFor("neverpull", 30*time.Second, "ErrImageNeverPull", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ErrImageNeverPull" &&
				cs[0].State.Waiting.Message == `Container image "berth/absent:v1" is not present with pull policy of Never`
		})
		c.waitKubectl("neverpull", "ErrImageNeverPull", 5*time.Second)
	})
}
