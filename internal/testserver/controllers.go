package testserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"berth/controller"
)

// ProtobufConfig returns a copy of the server's client configuration using
// protobuf, as the control plane's own clients do.
func (s *Server) ProtobufConfig() *rest.Config {
	cfg := rest.CopyConfig(s.Rest)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg
}

// RunControllers runs controllers against the server until the test ends,
// as the controller manager would (shared informers started after every
// controller is built). opts adjust the controllers' options.
func (s *Server) RunControllers(t testing.TB, opts controller.Options, builders ...func(*controller.Shared) (controller.Controller, error)) *controller.Shared {
	t.Helper()
	cfg := s.ProtobufConfig()
	client := kubernetes.NewForConfigOrDie(cfg)
	recorder, stopEvents := controller.NewRecorderFactory(client)
	opts.Defaults()
	shared := &controller.Shared{
		Client:    client,
		Metadata:  metadata.NewForConfigOrDie(cfg),
		Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder:  recorder,
		Options:   opts,
		Logger:    s.Config.Logger,
		Now:       time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, build := range builders {
		c, err := build(shared)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("controller stopped: %v", err)
			}
		}()
	}
	shared.Informers.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		shared.Informers.Shutdown()
		stopEvents()
	})
	return shared
}
