package controller

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Worker runs a queue of object keys ("namespace/name") through a sync
// function: a key that fails is retried with exponential back-off (5 ms
// doubling to 1000 s, as client-go's default), one that succeeds is
// forgotten. A key is never synced by two workers at once.
type Worker struct {
	name   string
	sync   func(ctx context.Context, key string) error
	queue  workqueue.TypedRateLimitingInterface[string]
	logger *slog.Logger
}

// NewWorker returns a worker calling sync for each key.
func NewWorker(name string, logger *slog.Logger, sync func(ctx context.Context, key string) error) *Worker {
	return &Worker{
		name: name, sync: sync, logger: logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
		),
	}
}

// Add queues a key.
func (w *Worker) Add(key string) { w.queue.Add(key) }

// AddAfter queues a key after a delay.
func (w *Worker) AddAfter(key string, d time.Duration) { w.queue.AddAfter(key, d) }

// AddObject queues the key of an object from an informer (deleted objects
// included).
func (w *Worker) AddObject(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		w.logger.Error("object key", "controller", w.name, "err", err)
		return
	}
	w.queue.Add(key)
}

// Len is the number of keys waiting.
func (w *Worker) Len() int { return w.queue.Len() }

// Run processes keys with n goroutines until ctx ends.
func (w *Worker) Run(ctx context.Context, n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
}

func (w *Worker) next(ctx context.Context) bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	if err := w.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			w.logger.Debug("sync failed; retrying", "controller", w.name, "key", key, "err", err)
		}
		w.queue.AddRateLimited(key)
		return true
	}
	w.queue.Forget(key)
	return true
}
