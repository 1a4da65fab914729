// Command pause holds a pod's namespaces open, as Kubernetes' pause
// container does: it sleeps until told to stop and, as the pod's first
// process, reaps orphaned children.
//
// Given arguments, it is a minimal init instead (the busybox image's
// entrypoint): it runs them as its child, passes on the signals it gets,
// reaps orphans and exits as the child did. Its child is not PID 1, so the
// default action of SIGTERM applies to it: a plain `sleep` stops when the
// pod does, instead of making it wait out its grace period. A SIGTERM that
// comes in the first moments, before main listens, ends it with the Go
// runtime's exit code 2, as it would any Go program.
package main

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(initRun(os.Args[1:]))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			reap(-1)
		}
	}
}

// initRun runs args as a child, forwarding signals, and returns its exit
// code (128+signal if a signal ended it).
func initRun(args []string) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		os.Stderr.WriteString("init: " + err.Error() + "\n")
		return 127
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = cmd.Process.Signal(sig)
			continue
		}
		if code, done := reap(child); done {
			return code
		}
	}
	return 0
}

// reap collects exited children; if want exits, it reports its exit code.
func reap(want int) (int, bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return 0, false
		}
		if pid == want {
			if ws.Signaled() {
				return 128 + int(ws.Signal()), true
			}
			return ws.ExitStatus(), true
		}
	}
}
