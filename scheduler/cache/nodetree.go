package cache

import (
	v1 "k8s.io/api/core/v1"
)

// nodeTree orders nodes for scheduling: zone by zone, round robin, so that
// the nodes tried first (when the scheduler stops after enough feasible
// nodes) are spread over the zones.
type nodeTree struct {
	zones    []string            // in order of appearance
	byZone   map[string][]string // zone → node names
	numNodes int
}

func newNodeTree() *nodeTree { return &nodeTree{byZone: map[string][]string{}} }

// zoneOf is a node's region and zone.
func zoneOf(n *v1.Node) string {
	region, zone := n.Labels[v1.LabelTopologyRegion], n.Labels[v1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

func (t *nodeTree) add(n *v1.Node) {
	z := zoneOf(n)
	for _, name := range t.byZone[z] {
		if name == n.Name {
			return
		}
	}
	if _, ok := t.byZone[z]; !ok {
		t.zones = append(t.zones, z)
	}
	t.byZone[z] = append(t.byZone[z], n.Name)
	t.numNodes++
}

func (t *nodeTree) remove(n *v1.Node) {
	for z, names := range t.byZone {
		for i, name := range names {
			if name != n.Name {
				continue
			}
			names = append(names[:i:i], names[i+1:]...)
			t.numNodes--
			if len(names) == 0 {
				delete(t.byZone, z)
				for j, zz := range t.zones {
					if zz == z {
						t.zones = append(t.zones[:j:j], t.zones[j+1:]...)
						break
					}
				}
			} else {
				t.byZone[z] = names
			}
			return
		}
	}
}

// update moves a node whose zone changed; it reports whether the order
// changed.
func (t *nodeTree) update(old, cur *v1.Node) bool {
	if old != nil && zoneOf(old) == zoneOf(cur) {
		return false
	}
	if old != nil {
		t.remove(old)
	}
	t.add(cur)
	return true
}

// list returns the node names, one zone after the other in turn.
func (t *nodeTree) list() []string {
	out := make([]string, 0, t.numNodes)
	for i := 0; len(out) < t.numNodes; i++ {
		for _, z := range t.zones {
			if names := t.byZone[z]; i < len(names) {
				out = append(out, names[i])
			}
		}
	}
	return out
}
