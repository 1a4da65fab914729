package join

import (
	"fmt"
	"path/filepath"

	"berth/pki"
)

// IssueLocal writes the credentials of a node that runs beside the server
// (`berth up`) straight from the cluster CA, in the layout Join keeps, so
// that a Join of cfg afterwards finds them and needs no token. Certificates
// that still fit are kept. cfg needs NodeName, Dir and Server.
func IssueLocal(ca *pki.CA, cfg Config) error {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Server == "" {
		return fmt.Errorf("join: no server URL")
	}
	path := func(name string) string { return filepath.Join(cfg.Dir, name) }
	if err := pki.WriteFile(path(CAFile), ca.PEM, 0o644); err != nil {
		return err
	}
	user := NodeUserPrefix + cfg.NodeName
	if err := ca.IssueKeyPair(path(ClientCertFile), path(ClientKeyFile), pki.Leaf{CommonName: user, Organization: []string{GroupNodes}}); err != nil {
		return fmt.Errorf("node client certificate: %w", err)
	}
	if err := ca.IssueKeyPair(path(ServingCertFile), path(ServingKeyFile), pki.Leaf{CommonName: user, Organization: []string{GroupNodes}, DNSNames: cfg.ServingNames, IPs: cfg.ServingIPs, Server: true}); err != nil {
		return fmt.Errorf("node serving certificate: %w", err)
	}
	j := &joiner{cfg: cfg, user: user, caPEM: ca.PEM, ca: ca.Cert}
	return j.writeKubeconfig(cfg.Server)
}
