package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// CNIConfig describes the node's pod network.
type CNIConfig struct {
	// Name of the network. Default "berth".
	Name string
	// Bridge is the bridge device (at most 15 characters). Default
	// "berth0"; agents sharing a host need distinct ones.
	Bridge string
	// Subnet is the node's pod CIDR, e.g. 10.42.0.0/24.
	Subnet string
	// IPAMDir holds host-local's address leases (one per agent).
	IPAMDir string
	// MTU of the pods' interfaces and the bridge; 0 leaves the plugin's
	// default (the bridge's). Pods whose traffic crosses VXLAN are best
	// given the node link's MTU less VXLANOverhead.
	MTU int
}

// ConflistFile is the name of the file WriteConflist writes.
const ConflistFile = "10-berth.conflist"

// WriteConflist writes the CNI configuration into dir, atomically. The
// bridge plugin does not masquerade (ipMasq is false): Masquerade does,
// for traffic leaving the cluster CIDR only.
func WriteConflist(dir string, c CNIConfig) error {
	if c.Name == "" {
		c.Name = "berth"
	}
	if c.Bridge == "" {
		c.Bridge = "berth0"
	}
	if len(c.Bridge) > 15 {
		return fmt.Errorf("bridge name %q is longer than 15 characters", c.Bridge)
	}
	if _, err := netip.ParsePrefix(c.Subnet); err != nil {
		return fmt.Errorf("pod subnet: %w", err)
	}
	if c.IPAMDir == "" {
		return fmt.Errorf("IPAMDir is required")
	}
	if c.MTU < 0 {
		return fmt.Errorf("MTU %d is negative", c.MTU)
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      c.Bridge,
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": c.Subnet}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": c.IPAMDir,
		},
	}
	if c.MTU > 0 {
		bridge["mtu"] = c.MTU
	}
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       c.Name,
		"plugins": []any{
			bridge,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+ConflistFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ConflistFile))
}
