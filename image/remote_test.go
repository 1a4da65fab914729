package image_test

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"berth/image"
	"berth/image/imagetest"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

func TestPushPullList(t *testing.T) {
	s := imagetest.Start(t)
	ctx := context.Background()
	img := randomImage(t)
	want, _ := img.Digest()
	for _, n := range []string{"team/app:v1", "busybox", "quay.io/org/tool:2.0"} {
		d, err := image.Push(ctx, s.Rest, n, img)
		if err != nil {
			t.Fatalf("push %s: %v", n, err)
		}
		if d != want {
			t.Errorf("push %s: digest %s, want %s", n, d, want)
		}
	}
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantIdx, _ := idx.Digest()
	if d, err := image.PushIndex(ctx, s.Rest, "multi:1", idx); err != nil || d != wantIdx {
		t.Fatalf("push index: %v %v", d, err)
	}
	// Anonymous pulls work (as containerd's), anonymous pushes do not.
	got, err := image.Pull(ctx, s.Anonymous, "docker.io/library/busybox:latest")
	if err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s, want %s", d, want)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("pulled image: %v", err)
	}
	if _, err := image.Push(ctx, s.Anonymous, "team/other:v1", img); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("anonymous push: %v, want 401", err)
	}
	if _, err := image.Pull(ctx, s.Rest, "nosuch:v1"); err == nil {
		t.Error("pull of a missing image succeeded")
	}

	// The client's list, through the API, agrees with the registry's own.
	list, err := image.List(ctx, s.Rest)
	if err != nil {
		t.Fatal(err)
	}
	local, err := s.Registry.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, img := range list {
		names = append(names, img.Name())
		if i >= len(local) {
			break
		}
		l := local[i]
		if img.Repository != l.Repository || img.Tag != l.Tag || img.Digest != l.Digest || img.Size != l.Size || !img.Created.Equal(l.Created) || img.MediaType != l.MediaType {
			t.Errorf("client sees %+v, registry %+v", img, l)
		}
	}
	if strings.Join(names, " ") != "busybox:latest multi:1 org/tool:2.0 team/app:v1" || len(local) != len(list) {
		t.Errorf("list %v (registry has %d)", names, len(local))
	}
}

func TestReference(t *testing.T) {
	s := imagetest.Start(t)
	host := strings.TrimPrefix(s.URL, "https://")
	for in, want := range map[string]string{
		"busybox":           host + "/library/busybox:latest",
		"nginx:1.27":        host + "/library/nginx:1.27",
		"berth/demo:v1":     host + "/berth/demo:v1",
		"quay.io/org/app:1": host + "/org/app:1",
		"localhost:5000/x/y@sha256:" + strings.Repeat("a", 64): host + "/x/y@sha256:" + strings.Repeat("a", 64),
	} {
		ref, err := image.Reference(s.Rest, in)
		if err != nil || ref.String() != want {
			t.Errorf("Reference(%q) = %v, %v; want %s", in, ref, err, want)
		}
	}
	if _, err := image.Reference(s.Rest, "UPPER/case"); err == nil {
		t.Error("an invalid name was accepted")
	}
}
