package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestImageLayout builds the image of dist/breakwater.wasm (make build)
// into an OCI image layout, reads it back with go-containerregistry as
// Istio's fetcher reads a pulled image, and checks what the fetcher
// requires of the compat variant: the manifest's last (here only) layer is
// application/vnd.oci.image.layer.v1.tar+gzip and its plugin.wasm is the
// .wasm, byte for byte (same sha256). It also checks the layer's digest is
// the sha256 of the blob stored in the layout and that building twice gives
// the same manifest digest (the one a WasmPlugin pins).
func TestImageLayout(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("..", "..", "..", "dist", "breakwater.wasm"))
	if err != nil {
		t.Fatalf("%v: run make build", err)
	}
	wantSum := sha256.Sum256(wasm)

	img, err := Image(wasm)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, img, "v0.1.0"); err != nil {
		t.Fatal(err)
	}
	built, _ := img.Digest()

	// Read it back from the directory.
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != built ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v0.1.0" {
		t.Fatalf("index %+v, want the one image %s tagged v0.1.0", im.Manifests, built)
	}
	got, err := p.Image(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("the image does not validate (digests, sizes, diff ids): %v", err)
	}
	m, err := got.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON ||
		m.Annotations[VariantAnnotation] != "compat" {
		t.Errorf("manifest %s, config %s, annotations %v; want an OCI manifest annotated %s: compat",
			m.MediaType, m.Config.MediaType, m.Annotations, VariantAnnotation)
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	l := layers[0]
	if mt, _ := l.MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	// The layer digest is the sha256 of the stored blob.
	digest, _ := l.Digest()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := io.ReadAll(rc)
	rc.Close()
	if s := sha256.Sum256(blob); digest != (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}) {
		t.Errorf("layer digest %s is not the sha256 of its blob", digest)
	}
	// Its one file is plugin.wasm, the .wasm unchanged.
	rc, err = l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files++
		content, _ := io.ReadAll(tr)
		if h.Name != PluginFile {
			t.Errorf("layer holds %q, want only %s", h.Name, PluginFile)
			continue
		}
		if got := sha256.Sum256(content); got != wantSum {
			t.Errorf("plugin.wasm sha256 %x, want the .wasm's %x", got, wantSum)
		}
	}
	if files != 1 {
		t.Errorf("layer holds %d files, want 1", files)
	}

	// Reproducible: the same .wasm gives the same manifest digest.
	again, err := Image(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := again.Digest(); d != built {
		t.Errorf("second build %s, first %s: the image is not reproducible", d, built)
	}
}
