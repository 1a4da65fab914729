// Command berth runs a berth cluster: the control plane (berth server), and
// later the node agent and the all-in-one single-node cluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// CronJob time zones must be known even where the host has no zoneinfo.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand(os.Args[1:]).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
