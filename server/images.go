package server

import (
	"os"
	"path/filepath"

	"berth/images"
	imageregistry "berth/registry"
)

// busyboxPath is where Debian's busybox-static puts the static busybox the
// built-in busybox image is made of.
const busyboxPath = "/usr/bin/busybox"

// openRegistry opens the image registry in DATA_DIR/registry and stores the
// built-in images in the background; BuiltinImagesReady is closed when they
// are there (or could not be made, which is logged).
func (s *Server) openRegistry() (*imageregistry.Registry, error) {
	reg, err := imageregistry.New(imageregistry.Config{Dir: filepath.Join(s.cfg.DataDir, "registry"), Logger: s.cfg.Logger})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(s.builtins)
		pause, demo, err := images.Embedded()
		if err != nil {
			s.cfg.Logger.Warn("built-in images unavailable (build with hack/build.sh)", "err", err)
			return
		}
		bb := busyboxPath
		if _, err := os.Stat(bb); err != nil {
			bb = ""
		}
		if err := imageregistry.EnsureBuiltins(reg, pause, demo, bb); err != nil {
			s.cfg.Logger.Error("built-in images", "err", err)
		}
	}()
	return reg, nil
}

// BuiltinImagesReady is closed once the registry holds the built-in images
// (berth/pause, berth/demo, busybox), or failed to make them.
func (s *Server) BuiltinImagesReady() <-chan struct{} { return s.builtins }
