package containerd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// Config configures a containerd of the agent's own.
type Config struct {
	// Dir holds everything of this containerd: its config, sockets, root,
	// state, runc root, registry hosts dir and log.
	Dir string
	// Binary is the containerd executable. Default "containerd" on $PATH.
	Binary string
	// SandboxImage is the pause image (must be pullable from the cluster
	// registry or already present).
	SandboxImage string
	// CNIBinDir holds the CNI plugins. Default /usr/lib/cni.
	CNIBinDir string
	// CNIConfDir is where the agent writes its CNI config.
	CNIConfDir string
	// StreamAddress is where the CRI streaming server (exec, attach,
	// port-forward) listens. Default 127.0.0.1.
	StreamAddress string
	// KeepRunning leaves containerd (and so the pods) running when Run
	// returns, for the next agent to adopt, as containers outlive a kubelet
	// restart. Otherwise containerd is stopped.
	KeepRunning bool
}

func (c *Config) defaults() {
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = "/usr/lib/cni"
	}
	if c.CNIConfDir == "" {
		c.CNIConfDir = filepath.Join(c.Dir, "cni")
	}
	if c.StreamAddress == "" {
		c.StreamAddress = "127.0.0.1"
	}
}

// Paths of a containerd under Dir.
func (c *Config) socket() string     { return filepath.Join(c.Dir, "containerd.sock") }
func (c *Config) configFile() string { return filepath.Join(c.Dir, "config.toml") }

// HostsDir is where registry hosts.toml files go (config_path).
func (c *Config) HostsDir() string { return filepath.Join(c.Dir, "certs.d") }

// configTemplate holds the settings measured on these machines (see
// shared/notes/containerd-here.md): cgroupfs, no AppArmor, OOM score
// adjustments restricted (root lacks CAP_SYS_RESOURCE here), network
// namespaces under the state dir, one CNI config, registry hosts per
// directory.
var configTemplate = template.Must(template.New("config").Parse(`version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"

[grpc]
  address = "{{.Socket}}"

[ttrpc]
  address = "{{.Socket}}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.SandboxImage}}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "{{.StreamAddress}}"
  stream_server_port = "0"
  enable_unprivileged_ports = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{.Dir}}/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.CNIConfDir}}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{{.HostsDir}}"
`))

// writeConfig writes containerd's config file.
func (c *Config) writeConfig() error {
	for _, d := range []string{c.Dir, c.HostsDir(), c.CNIConfDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, struct {
		*Config
		Socket, HostsDir string
	}{c, c.socket(), c.HostsDir()}); err != nil {
		return fmt.Errorf("containerd config: %w", err)
	}
	return os.WriteFile(c.configFile(), buf.Bytes(), 0o600)
}
