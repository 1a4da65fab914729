package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// revisionReader reads etcd's current revision for consistent reads,
// sharing one etcd round among the readers that ask at the same time: a
// reader may use a read that started after it asked (its answer is at least
// as recent as the reader needs), so a reader that finds a read already
// under way waits for the next one, which all waiting readers share.
type revisionReader struct {
	client *clientv3.Client
	key    string

	mu      sync.Mutex
	running bool
	next    *revisionRead // the read the next caller joins
}

type revisionRead struct {
	done chan struct{}
	rev  int64
	err  error
}

func (r *revisionReader) current(ctx context.Context) (int64, error) {
	r.mu.Lock()
	if r.next == nil {
		r.next = &revisionRead{done: make(chan struct{})}
	}
	read := r.next
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case <-read.done:
		return read.rev, read.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop performs reads while callers are waiting for one.
func (r *revisionReader) loop() {
	for {
		r.mu.Lock()
		read := r.next
		r.next = nil
		if read == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := r.client.Get(ctx, r.key, clientv3.WithCountOnly())
		cancel()
		if err != nil {
			read.err = fmt.Errorf("current revision: %w", err)
		} else {
			read.rev = resp.Header.Revision
		}
		close(read.done)
	}
}
