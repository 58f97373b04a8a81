// Command wasmimage packages the plugin (.wasm) as the OCI image Istio's
// WasmPlugin pulls (url: oci://...), without Docker, and writes it as an
// OCI image layout directory that `crane push DIR REF` uploads.
//
// Format: the "compat" variant of the Wasm image specification, which
// Istio's image fetcher (pkg/wasm/imagefetcher.go) accepts from every
// release: an OCI image manifest (annotation module.wasm.image/variant:
// compat) whose single layer, application/vnd.oci.image.layer.v1.tar+gzip,
// is a tar holding one file, plugin.wasm, the module unchanged. (Istio's
// fetcher refuses the "oci" artifact variant with a single raw
// application/vnd.module.wasm.content.layer.v1+wasm layer: it wants two
// layers there.)
//
// The image is reproducible: the tar entry and the gzip stream carry no
// time, owner or name, and the config no creation time, so the same .wasm
// always gives the same manifest digest, the one a WasmPlugin pins
// (oci://REGISTRY/REPO@sha256:DIGEST).
//
//	go run ./cmd/wasmimage --wasm ../dist/breakwater.wasm --out ../dist/oci --tag v0.1.0
//
// prints the manifest digest and writes it to OUT/../breakwater.image.digest.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PluginFile is the file name Istio's fetcher looks for in the layer.
const PluginFile = "plugin.wasm"

// VariantAnnotation marks the manifest as the compat variant.
const VariantAnnotation = "module.wasm.image/variant"

func main() {
	wasmPath := flag.String("wasm", "../dist/breakwater.wasm", "the plugin module")
	out := flag.String("out", "../dist/oci", "OCI image layout directory to (re)create")
	tag := flag.String("tag", "v0.1.0", "tag recorded in the layout's index (org.opencontainers.image.ref.name)")
	flag.Parse()
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmimage: %v (run make build)\n", err)
		os.Exit(1)
	}
	img, err := Image(wasm)
	if err == nil {
		err = WriteLayout(*out, img, *tag)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmimage: %v\n", err)
		os.Exit(1)
	}
	d, err := img.Digest()
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmimage: %v\n", err)
		os.Exit(1)
	}
	digestFile := filepath.Join(filepath.Dir(filepath.Clean(*out)), "breakwater.image.digest")
	if err := os.WriteFile(digestFile, []byte(d.String()+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "wasmimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wasmimage: %s -> %s (OCI image layout, tag %s)\n", *wasmPath, *out, *tag)
	fmt.Printf("wasmimage: manifest digest %s (also in %s)\n", d, digestFile)
}

// Image is the compat-variant image holding wasm as plugin.wasm.
func Image(wasm []byte) (v1.Image, error) {
	blob, err := layerBlob(wasm)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "wasip1", "wasm"
	cfg.History = nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	return mutate.Annotations(img, map[string]string{VariantAnnotation: "compat"}).(v1.Image), nil
}

// layerBlob is the gzip-compressed tar with the one file, byte for byte the
// same for the same wasm.
func layerBlob(wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: PluginFile, Mode: 0o444, Size: int64(len(wasm)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout replaces dir with an OCI image layout holding img, tagged tag.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}
