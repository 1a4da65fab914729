package scheduler

import "time"

// NewForTest builds a scheduler whose queue retries within milliseconds
// rather than seconds (tests outside the package).
func NewForTest(cfg Config) (*Scheduler, error) {
	var t tunables
	t.queue.InitialBackoff = 50 * time.Millisecond
	t.queue.MaxBackoff = 200 * time.Millisecond
	t.queue.BackoffFlushInterval = 20 * time.Millisecond
	return newScheduler(cfg, t)
}

// QueueCounts returns the number of pods in the active and back-off
// queues and with the unschedulable pods.
func (s *Scheduler) QueueCounts() (active, backoff, unschedulable int) {
	a, b, u := s.queue.Pending()
	return len(a), len(b), len(u)
}

// CacheCounts returns the pods the cache holds as bound (confirmed by the
// informer) and as assumed.
func (s *Scheduler) CacheCounts() (bound, assumed int) { return s.cache.Counts() }
