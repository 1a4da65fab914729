package ingress

import (
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigValidate(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{Informers: factory}, ""},
		{"no informers", Config{}, "no informer factory"},
		{"bad class", Config{Informers: factory, ClassName: "Not_A_Name"}, "class name"},
		{"bad address", Config{Informers: factory, HTTPAddr: "80"}, "http address"},
		{"bad address of a disabled listener", Config{Informers: factory, HTTPSAddr: "x", DisableHTTPS: true}, ""},
		{"both off", Config{Informers: factory, DisableHTTP: true, DisableHTTPS: true}, "both listeners disabled"},
		{"listener given", Config{Informers: factory, DisableHTTP: true, DisableHTTPS: true, HTTPListener: ln}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Defaults()
			err := cfg.Validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	cfg := Config{Informers: factory}
	cfg.Defaults()
	if cfg.ClassName != "berth" || cfg.Controller != "berth.dev/ingress" || cfg.HTTPAddr != ":80" || cfg.HTTPSAddr != ":443" {
		t.Errorf("defaults: %+v", cfg)
	}
}
