package etcd

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// Embedded is an etcd server running inside this process, reached through
// an in-process client (no network listener).
type Embedded struct {
	etcd   *embed.Etcd
	client *clientv3.Client
}

// StartEmbedded starts a single-member etcd with its data in dir and waits
// until it serves.
func StartEmbedded(ctx context.Context, dir string) (*Embedded, error) {
	return startEmbedded(ctx, dir, nil)
}

// StartEmbeddedListening is StartEmbedded with a client listener at
// clientURL (e.g. http://127.0.0.1:2379), so that other processes — other
// berth servers given --etcd-endpoints — can use this etcd.
func StartEmbeddedListening(ctx context.Context, dir, clientURL string) (*Embedded, error) {
	u, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL: %w", err)
	}
	return startEmbedded(ctx, dir, u)
}

func startEmbedded(ctx context.Context, dir string, listen *url.URL) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "berth"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapLogger())
	cfg.Logger = "zap"
	// Only the in-process client talks to this etcd: no listeners. The
	// advertised peer URL is never dialled in a single-member cluster.
	cfg.ListenPeerUrls = nil
	cfg.ListenClientUrls = nil
	cfg.ListenClientHttpUrls = nil
	if listen != nil {
		cfg.ListenClientUrls = []url.URL{*listen}
		cfg.AdvertiseClientUrls = []url.URL{*listen}
	}
	peer, _ := url.Parse("http://127.0.0.1:2380")
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = "berth=" + peer.String()
	if listen == nil {
		cfg.AdvertiseClientUrls = nil
	}
	cfg.Metrics = "basic"
	// Fewer raft entries kept in memory between snapshots than etcd's
	// default of 100,000: a smaller resident footprint for a small cluster.
	cfg.SnapshotCount = 10000
	// A single member elects itself after a random wait of up to one
	// election timeout; short ticks keep start-up fast.
	cfg.InitialElectionTickAdvance = true
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("start etcd: not ready after 30s")
	}
	client := v3client.New(e.Server)
	client.KV = serializableKV{client.KV}
	return &Embedded{etcd: e, client: client}, nil
}

// serializableKV reads without a raft round: in a single-member cluster a
// write is acknowledged only once applied, so a serializable read already
// sees every acknowledged write.
type serializableKV struct{ clientv3.KV }

func (kv serializableKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return kv.KV.Get(ctx, key, append(opts, clientv3.WithSerializable())...)
}

// Client returns the in-process client.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Close stops etcd.
func (e *Embedded) Close() {
	e.client.Close()
	e.etcd.Close()
}

func zapLogger() *zap.Logger {
	if os.Getenv("BERTH_ETCD_DEBUG") != "" {
		l, _ := zap.NewDevelopment()
		return l
	}
	return zap.NewNop()
}
