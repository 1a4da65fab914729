package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// execSlack is how much longer than a command's timeout the manager waits
// for Exec to return: the runtime enforces the timeout itself.
const execSlack = 10 * time.Second

// probeExec runs an exec probe's command: exit code 0 is a success, any
// other a failure with the command's output, and running out of time a
// failure too.
func (m *Manager) probeExec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (outcome, string, error) {
	if m.cfg.Exec == nil {
		return unknown, "", errors.New("exec probes are not supported by this node")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+execSlack)
	defer cancel()
	out, code, err := m.cfg.Exec(ctx, containerID, cmd, timeout)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return unknown, "", err
	}
	if code != 0 {
		return failure, string(out), nil
	}
	return success, string(out), nil
}

// ExecFunc returns a Config.Exec that runs commands through the CRI
// runtime's ExecSync, which enforces the timeout (whole seconds, rounded
// up) and kills the command when it runs out: that error then matches
// context.DeadlineExceeded.
func ExecFunc(runtime runtimeapi.RuntimeServiceClient) func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	return func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
		resp, err := runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{
			ContainerId: containerID,
			Cmd:         cmd,
			Timeout:     int64(math.Ceil(timeout.Seconds())),
		})
		if err != nil {
			if status.Code(err) == codes.DeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, 0, fmt.Errorf("exec in container %s: %w (%v)", containerID, context.DeadlineExceeded, err)
			}
			return nil, 0, fmt.Errorf("exec in container %s: %w", containerID, err)
		}
		return append(resp.Stdout, resp.Stderr...), resp.ExitCode, nil
	}
}
