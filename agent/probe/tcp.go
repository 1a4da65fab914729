package probe

import (
	"context"
	"net"
	"syscall"
	"time"
)

// probeTCP succeeds when a TCP connection to addr opens within timeout.
func probeTCP(ctx context.Context, addr string, timeout time.Duration) (outcome, string, error) {
	d := probeDialer()
	d.Timeout = timeout
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return failure, err.Error(), nil
	}
	conn.Close()
	return success, "", nil
}

// probeDialer dials the connections of probes with a 1-second SO_LINGER,
// as the kubelet does, so that probing every few seconds does not pile up
// sockets in TIME_WAIT.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
			})
		},
	}
}
