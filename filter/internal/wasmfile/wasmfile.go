package wasmfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/wasm"
)

// Path is the location of the built plugin, relative to the repository root.
const Path = "dist/breakwater.wasm"

// Features are the core features the Go toolchain emits for GOARCH=wasm.
const Features = wasm.CoreFeaturesV2

// RepoPath returns the absolute path of the built plugin.
func RepoPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", Path)
}

// Read returns the bytes of the built plugin, or an error that says how to build it.
func Read() ([]byte, error) {
	b, err := os.ReadFile(RepoPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: run `make build` first", Path)
	}
	return b, err
}

// Decode decodes a module.
func Decode(b []byte) (*wasm.Module, error) { return binary.DecodeModule(b, Features) }

// WithStart returns a copy of the module whose `_initialize` export is named `_start`.
func WithStart(b []byte) ([]byte, error) {
	m, err := Decode(b)
	if err != nil {
		return nil, err
	}
	found := false
	for _, e := range m.ExportSection {
		if e.Name == "_initialize" {
			e.Name = "_start"
			found = true
		}
	}
	if !found {
		return nil, errors.New("wasmfile: module exports no _initialize")
	}
	return binary.EncodeModule(m), nil
}
