package pod

import (
	"strings"
	"sync"
	"time"
)

// backOff tracks the kubelet's per-key exponential back-off (its
// flowcontrol.Backoff without jitter): each failure doubles the delay, up
// to max; an entry whose last update is more than twice max older than
// the event starts over.
type backOff struct {
	initial, max time.Duration
	mu           sync.Mutex
	entries      map[string]*backOffEntry
}

type backOffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackOff(initial, max time.Duration) *backOff {
	return &backOff{initial: initial, max: max, entries: map[string]*backOffEntry{}}
}

func (b *backOff) expired(event time.Time, e *backOffEntry) bool {
	return event.Sub(e.lastUpdate) > 2*b.max
}

// next records that the key's operation is being retried at now, after a
// failure at event.
func (b *backOff) next(key string, event, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(event, e) {
		e = &backOffEntry{delay: b.initial}
		b.entries[key] = e
	} else {
		e.delay = min(2*e.delay, b.max)
	}
	e.lastUpdate = now
}

// inBackOffSince reports whether an event of the key at event (a
// container's exit) is still within its back-off at now, and until when.
func (b *backOff) inBackOffSince(key string, event, now time.Time) (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(event, e) {
		return false, time.Time{}
	}
	until := event.Add(e.delay)
	return now.Before(until), until
}

// inBackOffSinceUpdate reports whether now is within the back-off that
// started at the key's last update (an image pull), and until when.
func (b *backOff) inBackOffSinceUpdate(key string, now time.Time) (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.expired(now, e) {
		return false, time.Time{}
	}
	until := e.lastUpdate.Add(e.delay)
	return now.Before(until), until
}

// get returns the key's current delay.
func (b *backOff) get(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// forget drops the keys that start with prefix (a pod that is gone).
func (b *backOff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if strings.HasPrefix(k, prefix) {
			delete(b.entries, k)
		}
	}
}
