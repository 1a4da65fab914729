package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/store"
)

// Store reads and writes the objects of one resource in etcd. Revisions of
// etcd are the objects' resourceVersions.
type Store struct {
	client *clientv3.Client
	codec  store.Codec
	leases *Leases
}

// New returns a Store over client that encodes objects with codec. leases is
// shared by the stores of one client.
func New(client *clientv3.Client, codec store.Codec, leases *Leases) *Store {
	return &Store{client: client, codec: codec, leases: leases}
}

// Codec returns the store's codec.
func (s *Store) Codec() store.Codec { return s.codec }

// Get returns the object at key, read consistently.
func (s *Store) Get(ctx context.Context, key string) (runtime.Object, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, store.Errorf(store.ErrNotFound, key)
	}
	return s.decode(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// Create stores obj at key unless something is there.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object, ttl int64) (runtime.Object, error) {
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	var opts []clientv3.OpOption
	if ttl > 0 {
		id, err := s.leases.get(ctx, ttl)
		if err != nil {
			return nil, fmt.Errorf("create %s: lease: %w", key, err)
		}
		opts = append(opts, clientv3.WithLease(id))
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data), opts...)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return nil, store.Errorf(store.ErrExists, key)
	}
	return obj, setVersion(obj, resp.Header.Revision)
}

// Update implements store.Interface's Update on etcd. hint, if not nil, is a
// recent copy of the object (from a cache), tried before reading etcd: a
// stale hint costs a retry, a fresh one saves a read.
func (s *Store) Update(ctx context.Context, key string, opts store.UpdateOptions, hint runtime.Object, fn store.UpdateFunc) (runtime.Object, error) {
	var cur *mvccpb.KeyValue
	var curObj runtime.Object
	fromHint := false
	if hint != nil {
		// The hint is shared with the cache's readers: work on a copy.
		hint = hint.DeepCopyObject()
		if rev, err := versionOf(hint); err == nil && rev > 0 {
			if data, err := s.encode(hint); err == nil {
				cur = &mvccpb.KeyValue{Key: []byte(key), Value: data, ModRevision: rev}
				curObj, fromHint = hint, true
			}
		}
	}
	if !fromHint {
		var err error
		if cur, err = s.getKV(ctx, key); err != nil {
			return nil, err
		}
	}
	for {
		if cur == nil && !opts.CreateMissing {
			return nil, store.Errorf(store.ErrNotFound, key)
		}
		var in runtime.Object
		if cur != nil {
			if curObj == nil {
				var err error
				if curObj, err = s.decode(cur.Value, cur.ModRevision); err != nil {
					return nil, err
				}
			}
			in = curObj.DeepCopyObject()
		}
		next, err := fn(in)
		var data []byte
		if err == nil {
			data, err = s.encode(next)
		}
		unchanged := err == nil && cur != nil && bytes.Equal(data, cur.Value)
		if fromHint && (err != nil || unchanged) {
			// Decide errors and no-ops on fresh data, not on the hint.
			fromHint, curObj = false, nil
			if cur, err = s.getKV(ctx, key); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if unchanged {
			return curObj, nil
		}
		var cmp clientv3.Cmp
		if cur == nil {
			cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		} else {
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", cur.ModRevision)
		}
		var putOpts []clientv3.OpOption
		if opts.TTL > 0 {
			id, err := s.leases.get(ctx, opts.TTL)
			if err != nil {
				return nil, fmt.Errorf("update %s: lease: %w", key, err)
			}
			putOpts = append(putOpts, clientv3.WithLease(id))
		}
		resp, err := s.client.Txn(ctx).If(cmp).
			Then(clientv3.OpPut(key, string(data), putOpts...)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		if resp.Succeeded {
			return next, setVersion(next, resp.Header.Revision)
		}
		fromHint, cur, curObj = false, nil, nil
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			cur = kvs[0]
		}
	}
}

// Delete removes the object at key once check accepts it.
func (s *Store) Delete(ctx context.Context, key string, check func(cur runtime.Object) error) (runtime.Object, error) {
	cur, err := s.getKV(ctx, key)
	if err != nil {
		return nil, err
	}
	for {
		if cur == nil {
			return nil, store.Errorf(store.ErrNotFound, key)
		}
		obj, err := s.decode(cur.Value, cur.ModRevision)
		if err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(obj); err != nil {
				return nil, err
			}
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("delete %s: %w", key, err)
		}
		if resp.Succeeded {
			return obj, setVersion(obj, resp.Header.Revision)
		}
		cur = nil
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			cur = kvs[0]
		}
	}
}

func (s *Store) getKV(ctx context.Context, key string) (*mvccpb.KeyValue, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0], nil
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	data, err := s.codec.Encode(obj)
	m.SetResourceVersion(rv)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return data, nil
}

func (s *Store) decode(data []byte, rev int64) (runtime.Object, error) {
	obj, err := s.codec.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return obj, setVersion(obj, rev)
}

// Decode decodes stored bytes and sets the object's resourceVersion.
func (s *Store) Decode(data []byte, rev int64) (runtime.Object, error) {
	return s.decode(data, rev)
}

func setVersion(obj runtime.Object, rev int64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

func versionOf(obj runtime.Object) (int64, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(m.GetResourceVersion(), 10, 64)
}

func isCompacted(err error) bool {
	return errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrGRPCCompacted)
}

// IsCompacted reports whether err says a revision was compacted.
func IsCompacted(err error) bool { return isCompacted(err) }
