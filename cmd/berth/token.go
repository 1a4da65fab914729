package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"berth/join"
	"berth/pki"
)

// tokenOptions are the flags every token command shares.
type tokenOptions struct {
	dataDir    string
	kubeconfig string
}

func newTokenCommand() *cobra.Command {
	o := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the tokens nodes join the cluster with",
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/berth", "the server's data directory (its admin.kubeconfig is used unless --kubeconfig is given)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "an administrator's kubeconfig (default DATA_DIR/admin.kubeconfig)")
	cmd.AddCommand(newTokenCreateCommand(o), newTokenListCommand(o), newTokenDeleteCommand(o))
	return cmd
}

func newTokenCreateCommand(o *tokenOptions) *cobra.Command {
	var ttl time.Duration
	var description string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make a join token and print it",
		Long: "Make a bootstrap token (a Secret kube-system/bootstrap-token-<id>) and print the join token for\n" +
			"`berth agent --server URL --token TOKEN`: K10<sha256 of the CA's public key>::<id>.<secret>.\n" +
			"The node checks the server's CA against the hash before it sends the token.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return errors.New("--ttl must not be negative")
			}
			client, caHash, err := o.connect()
			if err != nil {
				return err
			}
			token, err := createToken(cmd.Context(), client, description, ttl, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), join.JoinToken{CAHash: caHash, Token: token}.String())
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", join.DefaultTokenTTL, "how long the token is valid (0: it never expires)")
	cmd.Flags().StringVar(&description, "description", "", "a note on what the token is for")
	return cmd
}

func newTokenListCommand(o *tokenOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the bootstrap tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := o.connect()
			if err != nil {
				return err
			}
			secrets, err := client.CoreV1().Secrets(join.TokenNamespace).List(cmd.Context(), metav1.ListOptions{
				FieldSelector: "type=" + string(join.SecretType),
			})
			if err != nil {
				return fmt.Errorf("list tokens: %w", err)
			}
			return printTokens(cmd.OutOrStdout(), secrets.Items, time.Now())
		},
	}
}

func newTokenDeleteCommand(o *tokenOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|TOKEN...",
		Short: "Delete bootstrap tokens, so that no more nodes join with them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := o.connect()
			if err != nil {
				return err
			}
			for _, a := range args {
				id := tokenID(a)
				if !join.ValidTokenID(id) {
					return fmt.Errorf("%q is not a token or token id", a)
				}
				err := client.CoreV1().Secrets(join.TokenNamespace).Delete(cmd.Context(), join.SecretPrefix+id, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("no token %s", id)
				}
				if err != nil {
					return fmt.Errorf("delete token %s: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", id)
			}
			return nil
		},
	}
}

// tokenID returns the id of a token given as an id, "<id>.<secret>" or a
// join token.
func tokenID(s string) string {
	if i := strings.LastIndex(s, "::"); i >= 0 {
		s = s[i+2:]
	}
	id, _, _ := strings.Cut(s, ".")
	return id
}

// connect returns a client for the administrator's kubeconfig and the hash
// of the cluster CA it trusts.
func (o *tokenOptions) connect() (kubernetes.Interface, string, error) {
	path := o.kubeconfig
	if path == "" {
		path = filepath.Join(o.dataDir, "admin.kubeconfig")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w (an administrator's kubeconfig is needed: --kubeconfig or --data-dir)", path, err)
	}
	caPEM := rc.TLSClientConfig.CAData
	if len(caPEM) == 0 && rc.TLSClientConfig.CAFile != "" {
		if caPEM, err = os.ReadFile(rc.TLSClientConfig.CAFile); err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
		}
	}
	if len(caPEM) == 0 {
		return nil, "", fmt.Errorf("kubeconfig %s names no CA certificate: the join token needs the cluster CA", path)
	}
	ca, err := pki.ParseCert(caPEM)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: CA certificate: %w", path, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, "", err
	}
	return client, join.CAHash(ca), nil
}

// createToken stores a new bootstrap token, trying another id in the
// unlikely case one is taken.
func createToken(ctx context.Context, client kubernetes.Interface, description string, ttl time.Duration, now time.Time) (join.BootstrapToken, error) {
	for attempt := 0; ; attempt++ {
		t, err := join.NewBootstrapToken()
		if err != nil {
			return join.BootstrapToken{}, err
		}
		_, err = client.CoreV1().Secrets(join.TokenNamespace).Create(ctx, join.TokenSecret(t, description, ttl, now), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return join.BootstrapToken{}, fmt.Errorf("create token: %w", err)
		}
		return t, nil
	}
}

// printTokens writes a table of bootstrap tokens, as `kubeadm token list`.
func printTokens(w io.Writer, secrets []corev1.Secret, now time.Time) error {
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS")
	for _, s := range secrets {
		id, secret := string(s.Data[join.KeyTokenID]), string(s.Data[join.KeyTokenSecret])
		if !strings.HasPrefix(s.Name, join.SecretPrefix) || id == "" {
			continue
		}
		ttl, expires := "<forever>", "<never>"
		if exp, ok := join.Expiration(&s); ok {
			expires = exp.Format(time.RFC3339)
			if left := exp.Sub(now); left > 0 {
				ttl = duration.HumanDuration(left)
			} else {
				ttl = "<invalid>"
			}
		}
		var usages []string
		for _, u := range []struct{ key, name string }{
			{join.KeyUsageAuthentication, "authentication"}, {join.KeyUsageSigning, "signing"},
		} {
			if string(s.Data[u.key]) == "true" {
				usages = append(usages, u.name)
			}
		}
		desc := string(s.Data[join.KeyDescription])
		if desc == "" {
			desc = "<none>"
		}
		groups := string(s.Data[join.KeyExtraGroups])
		if groups == "" {
			groups = "<none>"
		}
		fmt.Fprintf(tw, "%s.%s\t%s\t%s\t%s\t%s\t%s\n", id, secret, ttl, expires, strings.Join(usages, ","), desc, groups)
	}
	return tw.Flush()
}
