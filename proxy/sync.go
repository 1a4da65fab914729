package proxy

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/knftables"
)

// kernel is what the proxy believes its table holds beyond the fixed
// objects.
type kernel struct {
	// chains are the per-service chains with their rules.
	chains map[string]*chainDef
	// stale are flushed chains awaiting deletion, with when they fell
	// out of use.
	stale map[string]time.Time
	// sets are the affinity sets.
	sets map[string]setDef
	// elems are the set and map elements with the Services that want
	// them.
	elems map[elemKey]*elemState
	// services are the objects last written for each Service.
	services map[types.NamespacedName]*rendered
}

// elemState is one element: who wants it with which value, and what the
// kernel has (nil: nothing).
type elemState struct {
	owners  map[types.NamespacedName]elemVal
	written *elemVal
}

func newKernel() *kernel {
	return &kernel{
		chains:   map[string]*chainDef{},
		stale:    map[string]time.Time{},
		sets:     map[string]setDef{},
		elems:    map[elemKey]*elemState{},
		services: map[types.NamespacedName]*rendered{},
	}
}

// plan collects the changes of one sync before they become operations.
type plan struct {
	write   map[string]*chainDef // chains to (re)write
	flush   map[string]bool      // chains falling out of use
	addSets map[string]setDef
	delSets map[string]bool
	touched map[elemKey]bool
	udp     bool // a UDP service port changed
}

// input is one dirty Service as the handlers last saw it.
type input struct {
	key    types.NamespacedName
	svc    *corev1.Service
	slices map[string]*discoveryv1.EndpointSlice
}

// sync writes the changes since the last sync to the kernel in one
// transaction; nothing at all when nothing changed.
func (p *Proxier) sync(ctx context.Context) SyncResult {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	res := SyncResult{Start: time.Now()}

	p.mu.Lock()
	res.Full = p.needFull
	p.needFull = false
	res.Changes = p.dirty
	p.dirty = map[types.NamespacedName]time.Time{}
	gen := p.gen
	keys := map[types.NamespacedName]bool{}
	for key := range res.Changes {
		keys[key] = true
	}
	if res.Full {
		for key := range p.services {
			keys[key] = true
		}
		for key := range p.slices {
			keys[key] = true
		}
	}
	inputs := make([]input, 0, len(keys))
	for key := range keys {
		inputs = append(inputs, input{key: key, svc: p.services[key], slices: maps.Clone(p.slices[key])})
	}
	p.mu.Unlock()
	slices.SortFunc(inputs, func(a, b input) int {
		return cmp.Or(cmp.Compare(a.key.Namespace, b.key.Namespace), cmp.Compare(a.key.Name, b.key.Name))
	})

	tx := p.nft.NewTransaction()
	if res.Full {
		p.k = newKernel()
		writeBase(tx, p.nodeIPs4())
	}
	pl := &plan{
		write: map[string]*chainDef{}, flush: map[string]bool{},
		addSets: map[string]setDef{}, delSets: map[string]bool{},
		touched: map[elemKey]bool{},
	}
	for _, in := range inputs {
		p.health.update(in.key, in.svc, in.slices, p.cfg.NodeName)
		r := p.r.render(servicePorts(in.svc), in.slices)
		old := p.k.services[in.key]
		if r.equal(old) {
			continue
		}
		p.k.update(pl, in.key, old, r, res.Start)
		res.Services = append(res.Services, in.key)
	}
	p.k.emit(tx, pl, res.Start.Add(-p.staleDelay))

	if n := tx.NumOperations(); n > 0 {
		res.Operations = n
		res.Transaction = true
		if err := p.nft.Run(ctx, tx); err != nil {
			res.Err = err
			res.End = time.Now()
			p.failed(res.Changes)
			p.notify(res)
			return res
		}
		p.stats.transactions.Add(1)
	}
	res.End = time.Now()
	// Flows to gone UDP endpoints go after the rules changed, so that no
	// new one is made with the old rules.
	if pl.udp || res.Full {
		p.clearStaleUDP()
	}
	p.applied.Store(gen)
	p.stats.syncs.Add(1)
	if res.Full {
		p.stats.full.Add(1)
	}
	if res.Transaction {
		p.logger.Debug("synced", "full", res.Full, "services", len(res.Services), "operations", res.Operations, "took", res.End.Sub(res.Start))
	}
	p.scheduleStale()
	p.notify(res)
	return res
}

// failed records a failed sync: what the kernel holds is unknown, so the
// next sync rebuilds the table; the changes stay pending for accounting.
func (p *Proxier) failed(changes map[types.NamespacedName]time.Time) {
	p.stats.failures.Add(1)
	p.k = newKernel()
	p.mu.Lock()
	p.needFull = true
	for key, t := range changes {
		if cur, ok := p.dirty[key]; !ok || t.Before(cur) {
			p.dirty[key] = t
		}
	}
	p.mu.Unlock()
}

func (p *Proxier) notify(res SyncResult) {
	if p.cfg.OnSync != nil {
		p.cfg.OnSync(res)
	}
}

// scheduleStale wakes the loop when the oldest stale chain may go.
func (p *Proxier) scheduleStale() {
	if len(p.k.stale) == 0 || p.staleTimer != nil {
		return
	}
	oldest := time.Time{}
	for _, t := range p.k.stale {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	wait := time.Until(oldest.Add(p.staleDelay)) + time.Millisecond
	p.staleTimer = time.AfterFunc(max(wait, 0), func() {
		p.syncMu.Lock()
		p.staleTimer = nil
		p.syncMu.Unlock()
		p.signal()
	})
}

// update moves the model from old to cur (either may be nil) for one
// Service, noting in pl what must change in the kernel.
func (k *kernel) update(pl *plan, key types.NamespacedName, old, cur *rendered, now time.Time) {
	if old == nil {
		old = &rendered{}
	}
	if cur == nil {
		cur = &rendered{}
	}
	pl.udp = pl.udp || len(old.udp) > 0 || len(cur.udp) > 0

	for name, def := range cur.chains {
		have := k.chains[name]
		if _, ok := k.stale[name]; ok { // flushed, in use again
			delete(k.stale, name)
			have = nil
		}
		if !def.equal(have) {
			pl.write[name] = def
			delete(pl.flush, name)
		}
		k.chains[name] = def
	}
	for name := range old.chains {
		if _, ok := cur.chains[name]; !ok {
			delete(k.chains, name)
			delete(pl.write, name)
			pl.flush[name] = true
			k.stale[name] = now
		}
	}

	for name, def := range cur.sets {
		if have, ok := k.sets[name]; !ok || have != def {
			if ok {
				pl.delSets[name] = true
			}
			pl.addSets[name] = def
		}
		k.sets[name] = def
	}
	for name := range old.sets {
		if _, ok := cur.sets[name]; !ok {
			delete(k.sets, name)
			delete(pl.addSets, name)
			pl.delSets[name] = true
		}
	}

	for ek := range old.elems {
		if _, ok := cur.elems[ek]; !ok {
			if st := k.elems[ek]; st != nil {
				delete(st.owners, key)
			}
			pl.touched[ek] = true
		}
	}
	for ek, v := range cur.elems {
		st := k.elems[ek]
		if st == nil {
			st = &elemState{owners: map[types.NamespacedName]elemVal{}}
			k.elems[ek] = st
		}
		st.owners[key] = v
		pl.touched[ek] = true
	}

	if len(cur.chains)+len(cur.elems) == 0 {
		delete(k.services, key)
	} else {
		k.services[key] = cur
	}
}

// emit turns pl into operations, ordered so that everything a rule or
// element refers to exists first and nothing is deleted while referred
// to. Stale chains older than deleteBefore are deleted.
func (k *kernel) emit(tx *knftables.Transaction, pl *plan, deleteBefore time.Time) {
	write := slices.Sorted(maps.Keys(pl.write))
	flush := slices.Sorted(maps.Keys(pl.flush))

	// Chains first: rules of one refer to others.
	for _, name := range write {
		tx.Add(&knftables.Chain{Name: name})
		tx.Flush(&knftables.Chain{Name: name})
	}
	for _, name := range flush {
		tx.Flush(&knftables.Chain{Name: name})
	}
	// Sets: once their users are flushed, before the new users.
	for _, name := range slices.Sorted(maps.Keys(pl.delSets)) {
		tx.Delete(&knftables.Set{Name: name})
	}
	for _, name := range slices.Sorted(maps.Keys(pl.addSets)) {
		tx.Add(&knftables.Set{
			Name:    name,
			Type:    "ipv4_addr",
			Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
			Timeout: knftables.PtrTo(time.Duration(pl.addSets[name].timeoutSeconds) * time.Second),
		})
	}
	for _, name := range write {
		for _, r := range pl.write[name].rules {
			rule := &knftables.Rule{Chain: name, Rule: r.rule}
			if r.comment != "" {
				rule.Comment = knftables.PtrTo(r.comment)
			}
			tx.Add(rule)
		}
	}

	// Elements: deletions before additions, as a changed value is a
	// deletion and an addition of the same key.
	touched := slices.SortedFunc(maps.Keys(pl.touched), func(a, b elemKey) int {
		return cmp.Or(cmp.Compare(a.container, b.container), cmp.Compare(a.key, b.key))
	})
	var adds []elemKey
	for _, ek := range touched {
		st := k.elems[ek]
		if st == nil {
			continue
		}
		want := st.want()
		if st.written != nil && (want == nil || want.value != st.written.value) {
			tx.Delete(element(ek, nil))
			st.written = nil
		}
		if want != nil && st.written == nil {
			adds = append(adds, ek)
			st.written = want
		}
		if len(st.owners) == 0 {
			delete(k.elems, ek)
		}
	}
	for _, ek := range adds {
		tx.Add(element(ek, k.elems[ek].written))
	}

	for _, name := range slices.Sorted(maps.Keys(k.stale)) {
		if k.stale[name].Before(deleteBefore) {
			tx.Delete(&knftables.Chain{Name: name})
			delete(k.stale, name)
		}
	}
}

// want is the element's value: the first owner's (by name) when several
// Services claim the same key.
func (st *elemState) want() *elemVal {
	var best *types.NamespacedName
	for key := range st.owners {
		if best == nil || key.String() < best.String() {
			k := key
			best = &k
		}
	}
	if best == nil {
		return nil
	}
	v := st.owners[*best]
	return &v
}

func element(ek elemKey, v *elemVal) *knftables.Element {
	e := &knftables.Element{Key: strings.Split(ek.key, " . ")}
	if ek.container == clusterIPsSet {
		e.Set = ek.container
	} else {
		e.Map = ek.container
	}
	if v != nil {
		if e.Map != "" {
			e.Value = []string{v.value}
		}
		if v.comment != "" {
			e.Comment = knftables.PtrTo(v.comment)
		}
	}
	return e
}
