package framework

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// Parallelizer runs pieces of work on several goroutines.
type Parallelizer struct {
	// Workers is the number of goroutines (at least 1).
	Workers int
}

// chunkSize groups pieces so that goroutines do not fight over the
// counter: about the square root of the pieces, at most an even share.
func chunkSize(pieces, workers int) int {
	s := int(math.Sqrt(float64(pieces)))
	if r := pieces/workers + 1; s > r {
		s = r
	}
	if s < 1 {
		s = 1
	}
	return s
}

// Until calls fn(i) for every i in [0, pieces), on up to Workers
// goroutines (the caller's among them), and returns when all calls are
// done. Once ctx is cancelled no new pieces start.
func (p Parallelizer) Until(ctx context.Context, pieces int, fn func(i int)) {
	if pieces <= 0 {
		return
	}
	workers := max(p.Workers, 1)
	chunk := chunkSize(pieces, workers)
	if n := (pieces + chunk - 1) / chunk; workers > n {
		workers = n
	}
	done := ctx.Done()
	var next atomic.Int64
	work := func() {
		for {
			if done != nil {
				select {
				case <-done:
					return
				default:
				}
			}
			start := int(next.Add(int64(chunk))) - chunk
			if start >= pieces {
				return
			}
			end := min(start+chunk, pieces)
			for i := start; i < end; i++ {
				fn(i)
			}
		}
	}
	if workers == 1 {
		work()
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
