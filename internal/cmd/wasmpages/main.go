// Command wasmpages sets the minimum size (in 64 KiB pages) of the memory a
// WebAssembly module defines, in place:
//
//	go run ./internal/cmd/wasmpages -min PAGES FILE...
//
// scripts/build-wasm.sh runs it on every plugin it builds. The Go runtime
// on wasm takes the initial linear memory as already its own (runtime
// os_wasm.go records it as the break, blocMax) and grows memory only beyond
// it, so a module whose initial memory covers its steady-state heap never
// runs memory.grow once warm: no memory.grow inside a re-entrant host call,
// which corrupts memory on WAMR before 2.3.0. A module whose minimum is
// already at least PAGES is left as it is; the maximum, when present, is
// raised to PAGES if it is lower.
//
// The module is decoded and encoded with github.com/tetratelabs/wabin
// (custom sections move to the end of the file; nothing else changes).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/wasm"
)

func main() {
	min := flag.Uint("min", 0, "minimum memory size in 64 KiB pages (required)")
	flag.Parse()
	if *min == 0 || *min > 65536 || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wasmpages -min PAGES FILE... (1 <= PAGES <= 65536)")
		os.Exit(2)
	}
	for _, f := range flag.Args() {
		if err := setMinPages(f, uint32(*min)); err != nil {
			fmt.Fprintf(os.Stderr, "wasmpages: %s: %v\n", f, err)
			os.Exit(1)
		}
	}
}

func setMinPages(path string, pages uint32) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := withMinPages(b, pages)
	if err != nil || out == nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// withMinPages returns the module with its memory's minimum raised to pages,
// or nil when it is already at least that.
func withMinPages(b []byte, pages uint32) ([]byte, error) {
	m, err := binary.DecodeModule(b, wasm.CoreFeaturesV2)
	if err != nil {
		return nil, err
	}
	mem := m.MemorySection
	if mem == nil {
		return nil, errors.New("the module defines no memory")
	}
	if mem.Min >= pages {
		return nil, nil
	}
	mem.Min = pages
	if mem.IsMaxEncoded && mem.Max < pages {
		mem.Max = pages
	}
	return binary.EncodeModule(m), nil
}
