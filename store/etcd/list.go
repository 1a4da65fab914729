package etcd

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth/store"
)

// listBatch is how many keys a list reads from etcd at a time when it
// filters with a selector.
const listBatch = 500

// List reads the objects under prefix from etcd. A continue token, or a
// resourceVersion with match Exact, reads at that revision; otherwise the
// list is read at the current revision.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (*store.ListResult, error) {
	from := prefix
	var rev int64
	switch {
	case opts.Continue != "":
		var err error
		if from, rev, err = store.DecodeContinue(opts.Continue, prefix); err != nil {
			return nil, err
		}
		if rev == -1 {
			rev = 0
		}
	case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact:
		var err error
		if rev, err = strconv.ParseInt(opts.ResourceVersion, 10, 64); err != nil || rev <= 0 {
			return nil, fmt.Errorf("%w: %q", store.ErrInvalidResourceVersion, opts.ResourceVersion)
		}
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	out := &store.ListResult{}
	limit := opts.Limit
	batch := limit
	if batch <= 0 || !opts.Predicate.Empty() {
		batch = max(limit, listBatch)
	}
	if opts.Limit <= 0 {
		batch = 0 // everything at once
	}
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(batch)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, from, getOpts...)
		if err != nil {
			if isCompacted(err) && opts.Continue != "" {
				token, terr := store.EncodeContinue(from, prefix, -1)
				if terr != nil {
					return nil, fmt.Errorf("%w: list at %d", store.ErrExpired, rev)
				}
				return nil, &store.ContinueExpiredError{Continue: token}
			}
			if isCompacted(err) {
				return nil, fmt.Errorf("%w: list at %d", store.ErrExpired, rev)
			}
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj, err := s.decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, fmt.Errorf("list %s: %s: %w", prefix, kv.Key, err)
			}
			if !opts.Predicate.Matches(obj) {
				continue
			}
			out.Items = append(out.Items, obj)
			if limit > 0 && int64(len(out.Items)) == limit {
				more := resp.More || i < len(resp.Kvs)-1
				if more {
					token, err := store.EncodeContinue(string(kv.Key)+"\x00", prefix, rev)
					if err != nil {
						return nil, err
					}
					out.Continue = token
					if opts.Predicate.Empty() {
						remaining := resp.Count - int64(i) - 1
						out.RemainingItemCount = &remaining
					}
				}
				out.ResourceVersion = rev
				return out, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	out.ResourceVersion = rev
	return out, nil
}

// KV is a stored key and value with its modification revision.
type KV struct {
	Key   string
	Value []byte
	Rev   int64
}

// ListRaw returns the key-values under prefix at revision rev (0: the
// current one), and that revision. The watch cache fills itself with it.
func ListRaw(ctx context.Context, client *clientv3.Client, prefix string, rev int64) ([]KV, int64, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	var out []KV
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := client.Get(ctx, from, opts...)
		if err != nil {
			if isCompacted(err) {
				return nil, 0, fmt.Errorf("%w: list %s at %d", store.ErrExpired, prefix, rev)
			}
			return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, KV{Key: string(kv.Key), Value: kv.Value, Rev: kv.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
