package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteConflist(t *testing.T) {
	tests := []struct {
		name    string
		cfg     CNIConfig
		wantMTU any
		wantErr bool
	}{
		{"defaults", CNIConfig{Subnet: "10.42.1.0/24", IPAMDir: "/x"}, nil, false},
		{"mtu", CNIConfig{Subnet: "10.42.1.0/24", IPAMDir: "/x", MTU: 1450}, float64(1450), false},
		{"bad subnet", CNIConfig{Subnet: "10.42.1.0", IPAMDir: "/x"}, nil, true},
		{"no ipam dir", CNIConfig{Subnet: "10.42.1.0/24"}, nil, true},
		{"long bridge", CNIConfig{Subnet: "10.42.1.0/24", IPAMDir: "/x", Bridge: "0123456789abcdef"}, nil, true},
		{"negative mtu", CNIConfig{Subnet: "10.42.1.0/24", IPAMDir: "/x", MTU: -1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := WriteConflist(dir, tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, ConflistFile))
			if err != nil {
				t.Fatal(err)
			}
			var conf struct {
				Name    string           `json:"name"`
				Plugins []map[string]any `json:"plugins"`
			}
			if err := json.Unmarshal(data, &conf); err != nil {
				t.Fatal(err)
			}
			if conf.Name != "berth" || len(conf.Plugins) != 2 {
				t.Fatalf("conflist %s", data)
			}
			br := conf.Plugins[0]
			if br["type"] != "bridge" || br["bridge"] != "berth0" || br["isGateway"] != true {
				t.Errorf("bridge plugin %v", br)
			}
			if br["ipMasq"] != false {
				t.Errorf("ipMasq = %v, want false (Masquerade masquerades)", br["ipMasq"])
			}
			if br["mtu"] != tt.wantMTU {
				t.Errorf("mtu = %v, want %v", br["mtu"], tt.wantMTU)
			}
		})
	}
}
