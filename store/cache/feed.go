package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/store"
	"berth/store/etcd"
)

// Config configures a Feed.
type Config struct {
	// Client is the etcd client.
	Client *clientv3.Client
	// Root is the key prefix of all API objects, e.g. "/registry/". Keys are
	// Root + group + "/" + resource + "/" + ...
	Root string
	// History is how many recent events each resource keeps for watches
	// that resume from a resourceVersion. Default 2048.
	History int
	// BookmarkInterval is how often watchers that allow bookmarks get one.
	// Default 1 minute, as Kubernetes.
	BookmarkInterval time.Duration
	// FreshTimeout bounds how long a consistent read waits for the cache to
	// reach etcd's current revision before reading etcd itself. Default 3s.
	FreshTimeout time.Duration
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.History <= 0 {
		c.History = 2048
	}
	if c.BookmarkInterval <= 0 {
		c.BookmarkInterval = time.Minute
	}
	if c.FreshTimeout <= 0 {
		c.FreshTimeout = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Feed follows every change under Root with a single etcd watch and applies
// it to the cache of the resource it belongs to. Because one watch carries
// all resources, every cache is consistent with the same revision, which
// makes consistent lists from memory cheap: read etcd's current revision and
// wait until the feed has passed it.
type Feed struct {
	cfg Config

	mu     sync.RWMutex // guards caches; held while applying events
	caches map[string]*Cache
	rev    atomic.Int64 // every event up to rev has been applied

	revMu sync.Mutex
	revCh chan struct{} // closed when rev moves

	started chan struct{}
	revs    *revisionReader
}

// NewFeed returns a Feed; call Start before registering caches.
func NewFeed(cfg Config) *Feed {
	cfg.setDefaults()
	return &Feed{cfg: cfg, caches: map[string]*Cache{}, revCh: make(chan struct{}), started: make(chan struct{}), revs: &revisionReader{client: cfg.Client, key: cfg.Root}}
}

// Start reads etcd's current revision and follows changes from there until
// ctx ends.
func (f *Feed) Start(ctx context.Context) error {
	resp, err := f.cfg.Client.Get(ctx, f.cfg.Root, clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("start watch feed: %w", err)
	}
	f.rev.Store(resp.Header.Revision)
	close(f.started)
	go f.run(ctx)
	go f.bookmarks(ctx)
	return nil
}

// Register returns the cache of the resource stored under prefix (Root +
// group + "/" + resource + "/"), filling it from etcd. s stores the resource;
// newObj returns an empty object of its stored type (for bookmarks).
func (f *Feed) Register(ctx context.Context, prefix string, s *etcd.Store, newObj func() runtime.Object) (*Cache, error) {
	<-f.started
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.caches[prefix]; ok {
		return c, nil
	}
	c := newCache(f, prefix, s, newObj)
	if err := c.fill(ctx, f.rev.Load()); err != nil {
		return nil, err
	}
	f.caches[prefix] = c
	return c, nil
}

// Rev returns the revision up to which every event has been applied.
func (f *Feed) Rev() int64 { return f.rev.Load() }

// waitFresh waits until the caches have caught up with etcd's current
// revision, and returns it.
func (f *Feed) waitFresh(ctx context.Context) (int64, error) {
	rev, err := f.revs.current(ctx)
	if err != nil {
		return 0, err
	}
	return rev, f.waitRev(ctx, rev)
}

// waitRev waits until every event up to rev has been applied.
func (f *Feed) waitRev(ctx context.Context, rev int64) error {
	timeout := time.NewTimer(f.cfg.FreshTimeout)
	defer timeout.Stop()
	progress := time.NewTimer(100 * time.Millisecond)
	defer progress.Stop()
	for {
		f.revMu.Lock()
		cur, ch := f.rev.Load(), f.revCh
		f.revMu.Unlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-progress.C:
			// Revisions can move without events under Root (another user of
			// an external etcd): ask etcd to tell the watch where it is.
			if err := f.cfg.Client.RequestProgress(ctx); err != nil {
				f.cfg.Logger.Debug("request watch progress", "err", err)
			}
			progress.Reset(time.Second)
		case <-timeout.C:
			return &store.TooLargeResourceVersionError{Requested: rev, Current: cur}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Feed) setRev(rev int64) {
	f.revMu.Lock()
	defer f.revMu.Unlock()
	if rev <= f.rev.Load() {
		return
	}
	f.rev.Store(rev)
	close(f.revCh)
	f.revCh = make(chan struct{})
}

// run follows etcd until ctx ends, re-listing everything when the watch
// breaks and cannot resume.
func (f *Feed) run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.cfg.Logger.Warn("watch feed interrupted", "err", err)
		if errors.Is(err, errResync) {
			if err := f.resync(ctx); err != nil {
				f.cfg.Logger.Error("watch feed resync", "err", err)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return
				}
			}
		} else {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

var errResync = errors.New("watch must resync")

func (f *Feed) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	from := f.Rev() + 1
	wch := f.cfg.Client.Watch(ctx, f.cfg.Root, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify())
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("%w: compacted at %d", errResync, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			if etcd.IsCompacted(err) {
				return fmt.Errorf("%w: %v", errResync, err)
			}
			return err
		}
		f.apply(resp)
	}
	return errors.New("watch channel closed")
}

func (f *Feed) apply(resp clientv3.WatchResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp.IsProgressNotify() {
		f.setRev(resp.Header.Revision)
		return
	}
	var last int64
	for _, ev := range resp.Events {
		key := string(ev.Kv.Key)
		last = ev.Kv.ModRevision
		c := f.caches[f.prefixOf(key)]
		if c == nil {
			continue
		}
		if ev.Type == clientv3.EventTypeDelete {
			c.applyDelete(key, last)
		} else {
			c.applyPut(key, ev.Kv.Value, last)
		}
	}
	f.setRev(last)
}

// prefixOf returns Root + group + "/" + resource + "/" for a key.
func (f *Feed) prefixOf(key string) string {
	rest := strings.TrimPrefix(key, f.cfg.Root)
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return ""
	}
	return key[:len(f.cfg.Root)+i+1+j+1]
}

// resync re-reads every registered resource at the current revision after
// the watch could not resume; watchers are closed and must start again.
func (f *Feed) resync(ctx context.Context) error {
	resp, err := f.cfg.Client.Get(ctx, f.cfg.Root, clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	rev := resp.Header.Revision
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.caches {
		if err := c.fill(ctx, rev); err != nil {
			return err
		}
	}
	f.setRev(rev)
	return nil
}

func (f *Feed) bookmarks(ctx context.Context) {
	t := time.NewTicker(f.cfg.BookmarkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.mu.RLock()
			for _, c := range f.caches {
				c.bookmark(f.rev.Load())
			}
			f.mu.RUnlock()
		}
	}
}
