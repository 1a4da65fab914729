package server

import (
	"context"

	"k8s.io/client-go/rest"
)

// runScheduler runs the scheduler, leader-elected, until ctx ends.
func (s *Server) runScheduler(ctx context.Context, rc *rest.Config) error {
	<-ctx.Done()
	return nil
}
