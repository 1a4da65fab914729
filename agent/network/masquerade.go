package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"sigs.k8s.io/knftables"
)

// MasqueradeTable is the masquerade table's name for the agent whose pod
// bridge is bridge: agents sharing a host get one each.
func MasqueradeTable(bridge string) string { return "berth-nat-" + bridge }

// MasqueradeConfig configures Masquerade.
type MasqueradeConfig struct {
	// Table is the nftables table of this agent's own (family ip, or ip6
	// for an IPv6 pod CIDR). Default "berth-nat"; agents sharing a
	// network namespace need distinct ones (MasqueradeTable).
	Table string
	// PodCIDR is this node's pod CIDR: traffic from it is masqueraded.
	// Required.
	PodCIDR netip.Prefix
	// ClusterCIDR is the whole pod network: traffic to it keeps its
	// source address. Default 10.42.0.0/16.
	ClusterCIDR netip.Prefix
	// Resync is how often Run writes the table again, should something
	// have flushed it. Default one minute.
	Resync time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults fills unset fields.
func (c *MasqueradeConfig) Defaults() {
	if c.Table == "" {
		c.Table = "berth-nat"
	}
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = netip.MustParsePrefix(DefaultClusterCIDR)
	}
	if c.Resync == 0 {
		c.Resync = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *MasqueradeConfig) Validate() error {
	var errs []error
	if c.Table == "" || len(c.Table) > knftables.NameLengthMax {
		errs = append(errs, fmt.Errorf("masquerade: bad table name %q", c.Table))
	}
	if !c.PodCIDR.IsValid() {
		errs = append(errs, errors.New("masquerade: no pod CIDR"))
	}
	if c.PodCIDR.IsValid() && c.PodCIDR.Addr().Is4() != c.ClusterCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("masquerade: pod CIDR %s and cluster CIDR %s are of different families", c.PodCIDR, c.ClusterCIDR))
	}
	if c.Resync < 0 {
		errs = append(errs, fmt.Errorf("masquerade: negative resync period %v", c.Resync))
	}
	return errors.Join(errs...)
}

// postrouting is the table's only chain.
const postrouting = "postrouting"

// Masquerade keeps an nftables table that masquerades the pods' traffic
// leaving the cluster CIDR to the node's address (as the CNI bridge
// plugin's ipMasq does, but leaving pod-to-pod traffic across nodes
// alone). Its methods act in the network namespace of the calling thread.
type Masquerade struct {
	cfg MasqueradeConfig
	log *slog.Logger

	mu  sync.Mutex
	nft knftables.Interface // made on first use, in the caller's namespace
	// newNFT makes nft; a field so that tests use knftables.Fake.
	newNFT func(knftables.Family, string) (knftables.Interface, error)
}

// NewMasquerade checks cfg.
func NewMasquerade(cfg MasqueradeConfig) (*Masquerade, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PodCIDR, cfg.ClusterCIDR = cfg.PodCIDR.Masked(), cfg.ClusterCIDR.Masked()
	return &Masquerade{cfg: cfg, log: cfg.Logger.With("component", "masquerade", "table", cfg.Table), newNFT: knftables.New}, nil
}

// family is the table's family and the address keyword of its rules.
func (m *Masquerade) family() (knftables.Family, string, string) {
	if m.cfg.PodCIDR.Addr().Is4() {
		return knftables.IPv4Family, "ip", "224.0.0.0/4"
	}
	return knftables.IPv6Family, "ip6", "ff00::/8"
}

func (m *Masquerade) tables() (knftables.Interface, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nft == nil {
		family, _, _ := m.family()
		nft, err := m.newNFT(family, m.cfg.Table)
		if err != nil {
			return nil, fmt.Errorf("nftables: %w", err)
		}
		m.nft = nft
	}
	return m.nft, nil
}

// Sync writes the table, atomically: pod traffic (source in the pod
// CIDR) to anywhere but the cluster CIDR (and multicast) is masqueraded.
func (m *Masquerade) Sync(ctx context.Context) error {
	nft, err := m.tables()
	if err != nil {
		return err
	}
	_, ip, multicast := m.family()
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("berth: masquerade of pod traffic leaving the cluster")})
	tx.Add(&knftables.Chain{
		Name:     postrouting,
		Type:     knftables.PtrTo(knftables.NATType),
		Hook:     knftables.PtrTo(knftables.PostroutingHook),
		Priority: knftables.PtrTo(knftables.SNATPriority),
	})
	tx.Flush(&knftables.Chain{Name: postrouting})
	tx.Add(&knftables.Rule{
		Chain: postrouting,
		Rule: knftables.Concat(
			ip, "saddr", m.cfg.PodCIDR.String(),
			ip, "daddr", "!=", m.cfg.ClusterCIDR.String(),
			ip, "daddr", "!=", multicast,
			"masquerade", "fully-random",
		),
		Comment: knftables.PtrTo("pod traffic leaving the cluster"),
	})
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("masquerade: write table %s: %w", m.cfg.Table, err)
	}
	return nil
}

// Run writes the table now and every Resync until ctx ends; it leaves the
// table in place (pods outlive the agent): Remove removes it.
func (m *Masquerade) Run(ctx context.Context) error {
	if err := m.Sync(ctx); err != nil {
		return err
	}
	m.log.Info("masquerading pod traffic leaving the cluster", "podCIDR", m.cfg.PodCIDR, "clusterCIDR", m.cfg.ClusterCIDR)
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("rewriting the table", "err", err)
			}
		}
	}
}

// Remove deletes the table, if there is one (a clean shutdown).
func (m *Masquerade) Remove(ctx context.Context) error {
	nft, err := m.tables()
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("masquerade: delete table %s: %w", m.cfg.Table, err)
	}
	return nil
}
