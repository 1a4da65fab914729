// Package containerd runs the node agent's own containerd: it writes a
// config with the settings these machines need (see
// shared/notes/containerd-here.md), starts containerd in its own session,
// restarts it if it dies, adopts one a previous agent left running (so
// that pods survive an agent restart), points every registry name at the
// cluster registry, and stops it when the agent stops.
package containerd
