package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// runtimeSyncThreshold is how long the runtime may go without a good
	// status before the node says "container runtime is down" (the
	// kubelet's maxWaitForContainerRuntime).
	runtimeSyncThreshold = 30 * time.Second
	// criTimeout bounds each CRI call.
	criTimeout = 10 * time.Second
)

// runtimeState is what the node knows of the container runtime, from its
// last Status and Version answers, as the kubelet's runtime state. Only
// the status goroutine uses it.
type runtimeState struct {
	// lastSync is the last time the runtime answered Status and was ready.
	lastSync   time.Time
	runtimeErr error
	networkErr error
	// version is "NAME://VERSION" (nodeInfo.containerRuntimeVersion).
	version  string
	handlers []corev1.NodeRuntimeHandler
	features *corev1.NodeFeatures
}

// check asks the runtime for its status and version and records them, as
// the kubelet's updateRuntimeUp does. A call that fails leaves the state
// as it was; the returned error is for logging.
func (s *runtimeState) check(ctx context.Context, rt RuntimeService, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	var errs []error
	if v, err := rt.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		errs = append(errs, fmt.Errorf("runtime version: %w", err))
	} else {
		s.version = v.RuntimeName + "://" + v.RuntimeVersion
	}
	st, err := rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("runtime status: %w", err))...)
	}
	if st.GetStatus() == nil {
		return errors.Join(append(errs, errors.New("runtime status is empty"))...)
	}
	network := condition(st.Status, runtimeapi.NetworkReady)
	if network == nil || !network.Status {
		s.networkErr = fmt.Errorf("container runtime network not ready: %s", conditionString(network))
	} else {
		s.networkErr = nil
	}
	rtReady := condition(st.Status, runtimeapi.RuntimeReady)
	if rtReady == nil || !rtReady.Status {
		s.runtimeErr = fmt.Errorf("container runtime not ready: %s", conditionString(rtReady))
		return errors.Join(errs...)
	}
	s.runtimeErr = nil
	s.handlers = runtimeHandlers(st.RuntimeHandlers)
	s.features = nil
	if f := st.Features; f != nil {
		s.features = &corev1.NodeFeatures{SupplementalGroupsPolicy: &f.SupplementalGroupsPolicy}
	}
	s.lastSync = now
	return errors.Join(errs...)
}

// readyErr is why the node is not Ready, or nil, in the kubelet's words:
// the runtime's errors (including health checks), then the network's.
func (s *runtimeState) readyErr(now time.Time, checks []HealthCheck) error {
	var rt []error
	switch {
	case s.lastSync.IsZero():
		rt = append(rt, errors.New("container runtime status check may not have completed yet"))
	case !s.lastSync.Add(runtimeSyncThreshold).After(now):
		rt = append(rt, errors.New("container runtime is down"))
	}
	for _, h := range checks {
		if err := h.Check(); err != nil {
			rt = append(rt, fmt.Errorf("%s is not healthy: %v", h.Name, err))
		}
	}
	if s.runtimeErr != nil {
		rt = append(rt, s.runtimeErr)
	}
	var net []error
	if s.networkErr != nil {
		net = append(net, s.networkErr)
	}
	return utilerrors.NewAggregate([]error{utilerrors.NewAggregate(rt), utilerrors.NewAggregate(net)})
}

func condition(st *runtimeapi.RuntimeStatus, t string) *runtimeapi.RuntimeCondition {
	for _, c := range st.Conditions {
		if c != nil && c.Type == t {
			return c
		}
	}
	return nil
}

// conditionString prints a runtime condition as the kubelet does.
func conditionString(c *runtimeapi.RuntimeCondition) string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s=%t reason:%s message:%s", c.Type, c.Status, c.Reason, c.Message)
}

func runtimeHandlers(in []*runtimeapi.RuntimeHandler) []corev1.NodeRuntimeHandler {
	var out []corev1.NodeRuntimeHandler
	for _, h := range in {
		if h == nil {
			continue
		}
		var rro, userns bool
		if f := h.Features; f != nil {
			rro, userns = f.RecursiveReadOnlyMounts, f.UserNamespaces
		}
		out = append(out, corev1.NodeRuntimeHandler{
			Name:     h.Name,
			Features: &corev1.NodeRuntimeHandlerFeatures{RecursiveReadOnlyMounts: &rro, UserNamespaces: &userns},
		})
	}
	return out
}
