package join

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"berth/pki"
)

// Files Join keeps under Config.Dir.
const (
	CAFile          = "ca.crt"
	ClientCertFile  = "client.crt"
	ClientKeyFile   = "client.key"
	ServingCertFile = "serving.crt"
	ServingKeyFile  = "serving.key"
	KubeconfigFile  = "kubeconfig"
)

// ErrTokenRefused is returned when the server does not accept the join
// token's bootstrap token (HTTP 401): it does not exist, or has expired.
var ErrTokenRefused = errors.New("the join token was refused: wrong or expired")

// Config configures a join.
type Config struct {
	// Server is the API server's URL, "https://HOST:PORT". Required for
	// the first join; later starts default to the stored one.
	Server string
	// Token is the join token printed by `berth token create`. It is
	// needed only when Dir holds no usable credentials (or credentials of
	// another cluster than the token's).
	Token string
	// NodeName is the node's name. Required.
	NodeName string
	// Dir keeps the node's credentials (the files named above). Required.
	Dir string
	// ServingNames and ServingIPs are what the node's serving certificate
	// (the agent's HTTPS port) is valid for. Default: NodeName, and the
	// host's global unicast IPv4 addresses.
	ServingNames []string
	ServingIPs   []net.IP
	// Timeout bounds the wait for each certificate to be approved and
	// issued. Default 5 minutes.
	Timeout time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger default slog.Default().
	Logger *slog.Logger
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.ServingNames) == 0 && c.NodeName != "" {
		c.ServingNames = []string{c.NodeName}
	}
	if len(c.ServingIPs) == 0 {
		c.ServingIPs = hostIPs()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("join: no node name"))
	} else if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("join: node name %q: %s", c.NodeName, strings.Join(msgs, "; ")))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("join: no directory for the credentials"))
	}
	if c.Server != "" && !strings.HasPrefix(c.Server, "https://") {
		errs = append(errs, fmt.Errorf("join: server %q: want https://HOST:PORT", c.Server))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("join: negative timeout"))
	}
	return errors.Join(errs...)
}

// Credentials are what a joined node talks to the cluster with.
type Credentials struct {
	// Server is the API server's URL.
	Server string
	// User is the node's user name, system:node:<name>.
	User string
	// The files under Config.Dir: the node's kubeconfig (client
	// certificate and CA embedded), the cluster CA, the client key pair,
	// and the serving key pair for the agent's HTTPS port.
	Kubeconfig      string
	CAFile          string
	ClientCertFile  string
	ClientKeyFile   string
	ServingCertFile string
	ServingKeyFile  string
	// CAPEM is the cluster CA certificate.
	CAPEM []byte
	// ClientNotAfter and ServingNotAfter are when the certificates
	// expire; calling Join again before then renews them.
	ClientNotAfter  time.Time
	ServingNotAfter time.Time
	// Rest is a client configuration for the node's identity.
	Rest *rest.Config
}

// Join gives the node credentials of its own, as a kubelet's TLS bootstrap
// does. On the first start it reads the cluster's CA from the public
// cluster-info and checks it against the join token's hash, then, with the
// bootstrap token, asks for a client certificate for system:node:<name>
// (signer kubernetes.io/kube-apiserver-client-kubelet) and waits until it
// is approved and issued. With that identity it asks for a serving
// certificate (kubernetes.io/kubelet-serving) for the node's names and
// addresses. Everything is kept under Dir; later starts reuse it without
// the token, and renew a certificate past 70% of its life with the node's
// own identity. Calling Join again (say daily) keeps them fresh.
func Join(ctx context.Context, cfg Config) (*Credentials, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var token *JoinToken
	if cfg.Token != "" {
		t, err := ParseJoinToken(cfg.Token)
		if err != nil {
			return nil, err
		}
		token = &t
	}
	j := &joiner{cfg: cfg, user: NodeUserPrefix + cfg.NodeName}
	stored, loadErr := j.loadClient()
	server := cfg.Server
	if server == "" && stored != nil {
		server = stored.server
	}
	switch {
	case stored != nil && (token == nil || CAHash(stored.ca) == token.CAHash):
		if server == "" {
			return nil, errors.New("join: no server URL: the stored kubeconfig names none")
		}
		j.caPEM, j.ca = stored.caPEM, stored.ca
		if err := j.writeKubeconfig(server); err != nil {
			return nil, err
		}
		if j.renewDue(stored.cert) {
			if err := j.renewClient(ctx, server); err != nil {
				if j.cfg.Now().After(stored.cert.NotAfter) {
					return nil, err
				}
				j.cfg.Logger.Warn("client certificate renewal failed; keeping the current one", "err", err, "expires", stored.cert.NotAfter)
			}
		}
	case token == nil:
		if loadErr != nil && !errors.Is(loadErr, os.ErrNotExist) {
			return nil, fmt.Errorf("no usable credentials in %s (%v): join again with a token from `berth token create`", cfg.Dir, loadErr)
		}
		return nil, fmt.Errorf("the node has not joined yet: give a join token from `berth token create`")
	default:
		if server == "" {
			return nil, errors.New("join: no server URL to join")
		}
		if err := j.bootstrap(ctx, server, *token); err != nil {
			return nil, err
		}
	}
	creds, err := j.credentials(server)
	if err != nil {
		return nil, err
	}
	if err := j.ensureServing(ctx, creds); err != nil {
		return nil, err
	}
	return j.credentials(server)
}

// NodeUserPrefix starts the user name of a node: "system:node:<name>".
const NodeUserPrefix = "system:node:"

// GroupNodes is the group of every node.
const GroupNodes = "system:nodes"

// joiner carries one Join.
type joiner struct {
	cfg   Config
	user  string
	caPEM []byte
	ca    *x509.Certificate
}

func (j *joiner) path(name string) string { return filepath.Join(j.cfg.Dir, name) }

// bootstrap obtains the first client certificate with the join token.
func (j *joiner) bootstrap(ctx context.Context, server string, token JoinToken) error {
	caPEM, err := discoverCA(ctx, server, token.CAHash)
	if err != nil {
		return err
	}
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return fmt.Errorf("the server's CA: %w", err)
	}
	j.caPEM, j.ca = caPEM, ca
	rc := &rest.Config{
		Host:            server,
		BearerToken:     token.Token.String(),
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		Timeout:         30 * time.Second,
		UserAgent:       "berth-agent/" + j.cfg.NodeName,
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	j.cfg.Logger.Info("requesting a node client certificate", "server", server, "user", j.user)
	certPEM, keyPEM, err := j.request(ctx, client, server, clientRequest(j.user), true)
	if err != nil {
		return err
	}
	if err := pki.WriteFile(j.path(CAFile), caPEM, 0o644); err != nil {
		return err
	}
	if err := j.writeClient(certPEM, keyPEM); err != nil {
		return err
	}
	j.cfg.Logger.Info("joined the cluster", "server", server, "user", j.user)
	return j.writeKubeconfig(server)
}

// renewClient replaces the client certificate, asking with the current one.
func (j *joiner) renewClient(ctx context.Context, server string) error {
	client, err := j.nodeClient(server)
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := j.request(ctx, client, server, clientRequest(j.user), false)
	if err != nil {
		return fmt.Errorf("renew the client certificate: %w", err)
	}
	if err := j.writeClient(certPEM, keyPEM); err != nil {
		return err
	}
	j.cfg.Logger.Info("renewed the node client certificate", "user", j.user)
	return j.writeKubeconfig(server)
}

// ensureServing obtains a serving certificate unless the stored one still
// fits the node's names and addresses. A stored one that is only due for
// renewal is kept when the renewal fails (the server may be down while the
// node restarts).
func (j *joiner) ensureServing(ctx context.Context, creds *Credentials) error {
	var current *x509.Certificate
	if cert, err := loadPair(j.path(ServingCertFile), j.path(ServingKeyFile)); err == nil && j.servingFor(cert) {
		if !j.renewDue(cert) {
			return nil
		}
		current = cert
	}
	err := j.requestServing(ctx, creds)
	if err != nil && current != nil {
		j.cfg.Logger.Warn("serving certificate renewal failed; keeping the current one", "err", err, "expires", current.NotAfter)
		return nil
	}
	return err
}

func (j *joiner) requestServing(ctx context.Context, creds *Credentials) error {
	client, err := kubernetes.NewForConfig(creds.Rest)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	j.cfg.Logger.Info("requesting a serving certificate", "names", j.cfg.ServingNames, "ips", j.cfg.ServingIPs)
	certPEM, keyPEM, err := j.request(ctx, client, creds.Server, servingRequest(j.user, j.cfg.ServingNames, j.cfg.ServingIPs), false)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	if err := pki.WriteFile(j.path(ServingKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return pki.WriteFile(j.path(ServingCertFile), certPEM, 0o644)
}

// servingFor reports whether a stored serving certificate is valid now,
// from this CA, and names every one of this node's names and addresses (it
// may name more: addresses that came and went on the host do not make a new
// certificate necessary).
func (j *joiner) servingFor(c *x509.Certificate) bool {
	if j.verify(c, x509.ExtKeyUsageServerAuth) != nil || c.Subject.CommonName != j.user {
		return false
	}
	if !covers(c.DNSNames, j.cfg.ServingNames) {
		return false
	}
	var have, want []string
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	for _, ip := range j.cfg.ServingIPs {
		want = append(want, ip.String())
	}
	return covers(have, want)
}

// renewDue reports whether c is past 70% of its life (kubelets rotate
// between 70% and 90%).
func (j *joiner) renewDue(c *x509.Certificate) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return j.cfg.Now().After(c.NotBefore.Add(life * 7 / 10))
}

// verify checks that c is valid now, from the cluster CA, for usage.
func (j *joiner) verify(c *x509.Certificate, usage x509.ExtKeyUsage) error {
	pool := x509.NewCertPool()
	pool.AddCert(j.ca)
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: j.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// nodeClient returns a client authenticated by the stored client
// certificate.
func (j *joiner) nodeClient(server string) (kubernetes.Interface, error) {
	rc := &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: j.caPEM, CertFile: j.path(ClientCertFile), KeyFile: j.path(ClientKeyFile),
		},
		Timeout:   30 * time.Second,
		UserAgent: "berth-agent/" + j.cfg.NodeName,
	}
	return kubernetes.NewForConfig(rc)
}

func (j *joiner) writeClient(certPEM, keyPEM []byte) error {
	if err := pki.WriteFile(j.path(ClientKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return pki.WriteFile(j.path(ClientCertFile), certPEM, 0o644)
}

// writeKubeconfig writes the node's kubeconfig for server.
func (j *joiner) writeKubeconfig(server string) error {
	certPEM, err := os.ReadFile(j.path(ClientCertFile))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(j.path(ClientKeyFile))
	if err != nil {
		return err
	}
	kc, err := pki.Kubeconfig(server, j.caPEM, certPEM, keyPEM, j.user)
	if err != nil {
		return fmt.Errorf("node kubeconfig: %w", err)
	}
	return pki.WriteFile(j.path(KubeconfigFile), kc, 0o600)
}

// storedClient is a usable client identity found under Dir.
type storedClient struct {
	server string
	caPEM  []byte
	ca     *x509.Certificate
	cert   *x509.Certificate
}

// loadClient returns the stored client identity if it is complete, for
// this node, from the stored CA and not expired.
func (j *joiner) loadClient() (*storedClient, error) {
	caPEM, err := os.ReadFile(j.path(CAFile))
	if err != nil {
		return nil, err
	}
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	cert, err := loadPair(j.path(ClientCertFile), j.path(ClientKeyFile))
	if err != nil {
		return nil, err
	}
	j.ca = ca
	if err := j.verify(cert, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("%s: %w", ClientCertFile, err)
	}
	if cert.Subject.CommonName != j.user {
		return nil, fmt.Errorf("%s is for %s, not %s", ClientCertFile, cert.Subject.CommonName, j.user)
	}
	st := &storedClient{caPEM: caPEM, ca: ca, cert: cert}
	if kc, err := clientcmd.LoadFromFile(j.path(KubeconfigFile)); err == nil {
		for _, c := range kc.Clusters {
			st.server = c.Server
		}
	}
	return st, nil
}

// credentials describes the stored credentials.
func (j *joiner) credentials(server string) (*Credentials, error) {
	data, err := os.ReadFile(j.path(KubeconfigFile))
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("node kubeconfig: %w", err)
	}
	rc.UserAgent = "berth-agent/" + j.cfg.NodeName
	c := &Credentials{
		Server: server, User: j.user, Kubeconfig: j.path(KubeconfigFile), CAFile: j.path(CAFile),
		ClientCertFile: j.path(ClientCertFile), ClientKeyFile: j.path(ClientKeyFile),
		ServingCertFile: j.path(ServingCertFile), ServingKeyFile: j.path(ServingKeyFile),
		CAPEM: j.caPEM, Rest: rc,
	}
	if cert, err := loadPair(c.ClientCertFile, c.ClientKeyFile); err == nil {
		c.ClientNotAfter = cert.NotAfter
	}
	if cert, err := loadPair(c.ServingCertFile, c.ServingKeyFile); err == nil {
		c.ServingNotAfter = cert.NotAfter
	}
	return c, nil
}

// hostIPs returns the host's global unicast IPv4 addresses.
func hostIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

// covers reports whether have holds every string of want.
func covers(have, want []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}
