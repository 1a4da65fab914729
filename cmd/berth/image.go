package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"berth/image"
)

// newImageCommand is `berth image`: build images and put them in the
// cluster registry, which the API server serves under /v2/.
func newImageCommand() *cobra.Command {
	var kubeconfig, dataDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build images and put them in the cluster registry",
		Long: `The cluster serves its own image registry (no public registry needs to be
reachable): nodes pull every image name from it, so an image pushed as
"myapp:v1" runs as "image: myapp:v1" in a pod spec, and one pushed as
"nginx:1.27" serves "image: nginx:1.27". These commands reach the registry
at the API server of the kubeconfig, with its credentials.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, then DATA_DIR/admin.kubeconfig)")
	f.StringVar(&dataDir, "data-dir", "/var/lib/berth", "berth's data directory, where the admin kubeconfig is")
	config := func() (*rest.Config, error) { return imageRestConfig(kubeconfig, dataDir) }
	cmd.AddCommand(newImageBuildCommand(config), newImagePushCommand(config), newImageImportCommand(config), newImageListCommand(config))
	return cmd
}

// imageRestConfig loads the client configuration: --kubeconfig, else
// $KUBECONFIG, else the admin kubeconfig of the data directory.
func imageRestConfig(kubeconfig, dataDir string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{}
	switch env := os.Getenv("KUBECONFIG"); {
	case kubeconfig != "":
		rules.ExplicitPath = kubeconfig
	case env != "":
		rules.Precedence = filepath.SplitList(env)
	default:
		rules.ExplicitPath = filepath.Join(dataDir, "admin.kubeconfig")
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

func newImageBuildCommand(config func() (*rest.Config, error)) *cobra.Command {
	var (
		tag, entrypoint, command, base, dest, workdir, output string
		env                                                   []string
		push                                                  bool
	)
	cmd := &cobra.Command{
		Use:   "build DIR|GO-PACKAGE -t NAME [--push] [-o FILE]",
		Short: "Build an image from a directory or a Go main package",
		Long: `build makes an image of one layer on a base image (--base: scratch, the
default, busybox, or any image of the cluster registry).

A directory becomes the layer's content at --dest (default /). A Go main
package (a directory of package main, or an import path) is built
statically for linux/amd64 (CGO_ENABLED=0) and put at /app/NAME, which is
the image's entrypoint unless --entrypoint says otherwise.

--push stores the image in the cluster registry; -o writes it to a tar
archive that berth image push and docker load read.`,
		Example: `  berth image build ./site --dest /www --base busybox --cmd "httpd -f -p 8080 -h /www" -t site:v1 --push
  berth image build ./cmd/server -t server:v1 --push`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tag == "" {
				return errors.New("give the image a name with -t NAME")
			}
			if !push && output == "" {
				return errors.New("nowhere to put the image: give --push (the cluster registry) or -o FILE")
			}
			opts := image.BuildOptions{Source: args[0], Dest: dest, Env: env, WorkingDir: workdir}
			var err error
			if opts.Entrypoint, err = parseCommand("--entrypoint", entrypoint); err != nil {
				return err
			}
			if opts.Cmd, err = parseCommand("--cmd", command); err != nil {
				return err
			}
			var cfg *rest.Config
			if push || (base != "" && base != "scratch") {
				if cfg, err = config(); err != nil {
					return err
				}
			}
			if base != "" && base != "scratch" {
				if opts.Base, err = image.Pull(cmd.Context(), cfg, base); err != nil {
					return fmt.Errorf("base image: %w", err)
				}
			}
			img, err := image.Build(cmd.Context(), opts)
			if err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "built %s %s\n", tag, digest)
			if output != "" {
				if err := image.Save(output, tag, img); err != nil {
					return err
				}
				fmt.Fprintf(out, "wrote %s\n", output)
			}
			if push {
				d, err := image.Push(cmd.Context(), cfg, tag, img)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "pushed %s@%s\n", tag, d)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&tag, "tag", "t", "", "name of the image, as pod specs write it (e.g. myapp:v1)")
	f.StringVar(&entrypoint, "entrypoint", "", `entrypoint: words ("/app/server --port 8080") or a JSON array`)
	f.StringVar(&command, "cmd", "", "command (arguments to the entrypoint): words or a JSON array")
	f.StringArrayVarP(&env, "env", "e", nil, "environment variable KEY=VALUE (repeatable)")
	f.StringVar(&workdir, "workdir", "", "working directory of the image's processes")
	f.StringVar(&base, "base", "scratch", "base image: scratch, busybox, or an image of the cluster registry")
	f.StringVar(&dest, "dest", "/", "where a directory's content goes in the image")
	f.BoolVar(&push, "push", false, "push the image to the cluster registry")
	f.StringVarP(&output, "output", "o", "", "write the image to this tar archive (OCI layout, docker load compatible)")
	return cmd
}

// parseCommand reads a command line: a JSON array, or words.
func parseCommand(flag, s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var words []string
		if err := json.Unmarshal([]byte(s), &words); err != nil {
			return nil, fmt.Errorf("%s: not a JSON array of strings: %w", flag, err)
		}
		return words, nil
	}
	return strings.Fields(s), nil
}

func newImagePushCommand(config func() (*rest.Config, error)) *cobra.Command {
	var tag string
	cmd := &cobra.Command{
		Use:   "push FILE -t NAME",
		Short: "Push an image from an OCI layout or a docker save tarball",
		Long: `push stores the image of FILE in the cluster registry as NAME. FILE is an
OCI image layout (a directory, or a tar archive of one) or a tarball of
docker save (gzip-compressed or not). The image keeps its digest.`,
		Example: `  docker save myapp:v1 -o myapp.tar && berth image push myapp.tar -t myapp:v1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tag == "" {
				return errors.New("give the image a name with -t NAME (berth image import takes the file's names)")
			}
			a, err := image.Open(args[0])
			if err != nil {
				return err
			}
			defer a.Close()
			l, err := pickImage(a, tag)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			cfg, err := config()
			if err != nil {
				return err
			}
			return pushLoaded(cmd, cfg, tag, l)
		},
	}
	cmd.Flags().StringVarP(&tag, "tag", "t", "", "name of the image in the cluster, as pod specs write it")
	return cmd
}

// pickImage chooses the image of an archive to push as tag: the only one,
// or the one the archive names so.
func pickImage(a *image.Archive, tag string) (image.Loaded, error) {
	if len(a.Images) == 1 {
		return a.Images[0], nil
	}
	var names []string
	for _, l := range a.Images {
		if l.Name != "" && sameImage(l.Name, tag) {
			return l, nil
		}
		names = append(names, l.Name)
	}
	return image.Loaded{}, fmt.Errorf("holds %d images (%s), none named %s; use berth image import", len(a.Images), strings.Join(names, ", "), tag)
}

func sameImage(a, b string) bool {
	ra, err1 := image.Normalize(a)
	rb, err2 := image.Normalize(b)
	return err1 == nil && err2 == nil && ra == rb
}

func pushLoaded(cmd *cobra.Command, cfg *rest.Config, tag string, l image.Loaded) error {
	var (
		d   fmt.Stringer
		err error
	)
	if l.Index != nil {
		d, err = image.PushIndex(cmd.Context(), cfg, tag, l.Index)
	} else {
		d, err = image.Push(cmd.Context(), cfg, tag, l.Image)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", tag, d)
	return nil
}

func newImageImportCommand(config func() (*rest.Config, error)) *cobra.Command {
	var tag string
	cmd := &cobra.Command{
		Use:   "import FILE [-t NAME]",
		Short: "Push the images of a docker save tarball or OCI layout under their own names",
		Long: `import pushes every image of FILE under the name FILE gives it (the RepoTags
of docker save, the image name annotation of an OCI layout); -t names a
file of one image. The images keep their digests.`,
		Example: `  docker save nginx:1.27 redis:7 -o images.tar && berth image import images.tar`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := image.Open(args[0])
			if err != nil {
				return err
			}
			defer a.Close()
			if tag != "" && len(a.Images) != 1 {
				return fmt.Errorf("%s holds %d images: -t names only a file of one", args[0], len(a.Images))
			}
			for _, l := range a.Images {
				if tag == "" && l.Name == "" {
					return fmt.Errorf("%s does not name its image: give -t NAME", args[0])
				}
			}
			cfg, err := config()
			if err != nil {
				return err
			}
			for _, l := range a.Images {
				n := l.Name
				if tag != "" {
					n = tag
				}
				if err := pushLoaded(cmd, cfg, n, l); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&tag, "tag", "t", "", "name for the image of a file of one image")
	return cmd
}

func newImageListCommand(config func() (*rest.Config, error)) *cobra.Command {
	var noTrunc bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images of the cluster registry",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config()
			if err != nil {
				return err
			}
			images, err := image.List(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tTAG\tDIGEST\tSIZE\tCREATED")
			now := time.Now()
			for _, i := range images {
				n := i.Name()
				repo := strings.TrimSuffix(n, ":"+i.Tag)
				digest := i.Digest
				if !noTrunc && len(digest) > len("sha256:")+12 {
					digest = digest[:len("sha256:")+12]
				}
				created := "<unknown>"
				if !i.Created.IsZero() {
					created = duration.HumanDuration(now.Sub(i.Created)) + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, i.Tag, digest, humanSize(i.Size), created)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "show whole digests")
	return cmd
}

// humanSize writes a size in decimal units, as docker does.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
