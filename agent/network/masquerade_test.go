package network

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"
)

// fakeMasquerade is a Masquerade over knftables.Fake.
func fakeMasquerade(t *testing.T, cfg MasqueradeConfig) (*Masquerade, *knftables.Fake) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := NewMasquerade(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fake *knftables.Fake
	m.newNFT = func(family knftables.Family, table string) (knftables.Interface, error) {
		fake = knftables.NewFake(family, table)
		return fake, nil
	}
	if _, err := m.tables(); err != nil {
		t.Fatal(err)
	}
	return m, fake
}

func TestMasqueradeRules(t *testing.T) {
	tests := []struct {
		name     string
		cfg      MasqueradeConfig
		family   knftables.Family
		table    string
		wantRule string
	}{{
		name:     "ipv4 with defaults",
		cfg:      MasqueradeConfig{PodCIDR: netip.MustParsePrefix("10.42.1.0/24")},
		family:   knftables.IPv4Family,
		table:    "berth-nat",
		wantRule: "add rule ip berth-nat postrouting ip saddr 10.42.1.0/24 ip daddr != 10.42.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random",
	}, {
		name:     "own table, host bits dropped",
		cfg:      MasqueradeConfig{Table: MasqueradeTable("btn01"), PodCIDR: netip.MustParsePrefix("10.7.3.9/24"), ClusterCIDR: netip.MustParsePrefix("10.7.0.0/16")},
		family:   knftables.IPv4Family,
		table:    "berth-nat-btn01",
		wantRule: "add rule ip berth-nat-btn01 postrouting ip saddr 10.7.3.0/24 ip daddr != 10.7.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random",
	}, {
		name:     "ipv6",
		cfg:      MasqueradeConfig{PodCIDR: netip.MustParsePrefix("fd42:0:0:1::/64"), ClusterCIDR: netip.MustParsePrefix("fd42::/48")},
		family:   knftables.IPv6Family,
		table:    "berth-nat",
		wantRule: "add rule ip6 berth-nat postrouting ip6 saddr fd42:0:0:1::/64 ip6 daddr != fd42::/48 ip6 daddr != ff00::/8 masquerade fully-random",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, fake := fakeMasquerade(t, tt.cfg)
			ctx := context.Background()
			for range 2 { // idempotent
				if err := m.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if fake.Table == nil {
				t.Fatal("no table")
			}
			dump := fake.Dump()
			if !strings.Contains(dump, "add table "+string(tt.family)+" "+tt.table) {
				t.Errorf("dump has no table %s %s:\n%s", tt.family, tt.table, dump)
			}
			if !strings.Contains(dump, "type nat hook postrouting priority 100") && !strings.Contains(dump, "type nat hook postrouting priority srcnat") {
				t.Errorf("no postrouting NAT chain:\n%s", dump)
			}
			ch := fake.Table.Chains[postrouting]
			if ch == nil || len(ch.Rules) != 1 {
				t.Fatalf("chain %+v, want one rule", ch)
			}
			if !strings.Contains(dump, tt.wantRule) {
				t.Errorf("dump:\n%s\nwant the rule %q", dump, tt.wantRule)
			}
			if err := m.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			if fake.Table != nil {
				t.Errorf("table left after Remove:\n%s", fake.Dump())
			}
			if err := m.Remove(ctx); err != nil {
				t.Errorf("second Remove: %v", err)
			}
		})
	}
}

func TestMasqueradeConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  MasqueradeConfig
		err  string
	}{
		{"valid", MasqueradeConfig{PodCIDR: netip.MustParsePrefix("10.42.1.0/24")}, ""},
		{"no pod CIDR", MasqueradeConfig{}, "no pod CIDR"},
		{"families", MasqueradeConfig{PodCIDR: netip.MustParsePrefix("fd00::/64")}, "different families"},
		{"table name", MasqueradeConfig{PodCIDR: netip.MustParsePrefix("10.42.1.0/24"), Table: strings.Repeat("x", 300)}, "table name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMasquerade(tt.cfg)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestMasqueradeRunLeavesTable(t *testing.T) {
	m, fake := fakeMasquerade(t, MasqueradeConfig{PodCIDR: netip.MustParsePrefix("10.42.1.0/24")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fake.RLock()
		written := fake.Table != nil
		fake.RUnlock()
		if written {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run wrote no table")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if fake.Table == nil || len(fake.Table.Chains[postrouting].Rules) != 1 {
		t.Errorf("table after Run ended:\n%s", fake.Dump())
	}
}
