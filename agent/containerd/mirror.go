package containerd

import (
	"fmt"
	"os"
	"path/filepath"
)

// MirrorAll makes containerd pull every image, whatever registry its name
// says, from the registry at url ("http://host:port" or "https://...",
// trusting caFile for https): the cluster's own registry, so that
// `image: busybox` and `image: nginx:1.27` work on a cluster that reaches
// no public registry. containerd reads the hosts directory at every pull.
func (c *Containerd) MirrorAll(url, caFile string) error {
	dir := filepath.Join(c.cfg.HostsDir(), "_default")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	host := fmt.Sprintf("[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", url)
	top := fmt.Sprintf("server = %q\n", url)
	if caFile != "" {
		host += fmt.Sprintf("  ca = %q\n", caFile)
		// containerd falls back to the server entry when the mirror has
		// not got an image: it needs the CA too, or the error is about
		// the certificate rather than the missing image.
		top += fmt.Sprintf("ca = %q\n", caFile)
	}
	data := top + "\n" + host
	tmp := filepath.Join(dir, "hosts.toml.tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "hosts.toml"))
}
