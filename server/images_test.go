package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"k8s.io/client-go/rest"

	"berth/image"
	"berth/images"
	"berth/internal/testserver"
)

// The API server serves the image registry under /v2/: an authenticated
// user pushes (layers far above the 3 MiB limit of API objects), anyone
// pulls, nobody pushes anonymously, and the built-in images are there.
func TestImageRegistryOnAPIServer(t *testing.T) {
	s := testserver.Start(t, testserver.Bare)
	ctx := context.Background()

	img, err := random.Image(8<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := image.Push(ctx, s.Rest, "example/big:v1", img)
	if err != nil {
		t.Fatal(err)
	}

	anon := rest.AnonymousClientConfig(s.Rest)
	got, err := image.Pull(ctx, anon, "example/big:v1")
	if err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("pulled digest %s, pushed %s", d, want)
	}

	small, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.Push(ctx, anon, "example/anon:v1", small); err == nil {
		t.Fatal("anonymous push succeeded")
	}

	// A request for an API object above the limit is still refused.
	client, err := rest.HTTPClientFor(s.Rest)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20)
	rand.Read(big)
	resp, err := client.Post(s.Rest.Host+"/api/v1/namespaces/default/configmaps", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("4 MiB configmap: status %d, want 413", resp.StatusCode)
	}

	<-s.Server.BuiltinImagesReady()
	if _, _, err := images.Embedded(); err != nil {
		t.Skipf("built-in programs not embedded (hack/build.sh): %v", err)
	}
	list, err := image.List(ctx, anon)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, i := range list {
		names[i.Name()] = true
	}
	for _, n := range []string{"berth/pause:3.10", "berth/demo:v1", "berth/demo:v2", "example/big:v1"} {
		if !names[n] {
			t.Errorf("registry lacks %s; has %v", n, names)
		}
	}
}
