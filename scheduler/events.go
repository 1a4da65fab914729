package scheduler

import (
	"context"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/tools/events"
)

// limitedSink writes events with at most cap(sem) requests in flight.
// client-go's broadcaster starts a goroutine per event; unbounded, a burst
// of thousands of events opens new HTTP/2 connections past the server's
// stream limit (a TLS handshake each).
type limitedSink struct {
	sink events.EventSink
	sem  chan struct{}
}

var _ events.EventSink = (*limitedSink)(nil)

func (l *limitedSink) acquire(ctx context.Context) bool {
	select {
	case l.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (l *limitedSink) release() { <-l.sem }

func (l *limitedSink) Create(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	if !l.acquire(ctx) {
		return nil, ctx.Err()
	}
	defer l.release()
	return l.sink.Create(ctx, e)
}

func (l *limitedSink) Update(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	if !l.acquire(ctx) {
		return nil, ctx.Err()
	}
	defer l.release()
	return l.sink.Update(ctx, e)
}

func (l *limitedSink) Patch(ctx context.Context, old *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	if !l.acquire(ctx) {
		return nil, ctx.Err()
	}
	defer l.release()
	return l.sink.Patch(ctx, old, data)
}
