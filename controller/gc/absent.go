package gc

import "k8s.io/utils/lru"

// absentCache remembers owners the API server said do not exist (by
// coordinates and namespace), so dependents of one deleted owner do not
// each look it up again. Bounded; least recently used entries go first.
type absentCache struct{ c *lru.Cache }

func newAbsentCache(size int) *absentCache { return &absentCache{c: lru.New(size)} }

func (a *absentCache) add(r ref) { a.c.Add(r, nil) }

func (a *absentCache) has(r ref) bool {
	_, ok := a.c.Get(r)
	return ok
}
