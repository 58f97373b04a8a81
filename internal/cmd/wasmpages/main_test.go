package main

import (
	"testing"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/wasm"
)

func module(min, max uint32, withMax bool) []byte {
	return binary.EncodeModule(&wasm.Module{MemorySection: &wasm.Memory{Min: min, Max: max, IsMaxEncoded: withMax}})
}

func limits(t *testing.T, b []byte) *wasm.Memory {
	t.Helper()
	m, err := binary.DecodeModule(b, wasm.CoreFeaturesV2)
	if err != nil {
		t.Fatal(err)
	}
	return m.MemorySection
}

func TestWithMinPages(t *testing.T) {
	out, err := withMinPages(module(55, 0, false), 256)
	if err != nil {
		t.Fatal(err)
	}
	if mem := limits(t, out); mem.Min != 256 || mem.IsMaxEncoded {
		t.Errorf("got %+v, want min 256 and no max", mem)
	}
	out, err = withMinPages(module(10, 100, true), 256)
	if err != nil {
		t.Fatal(err)
	}
	if mem := limits(t, out); mem.Min != 256 || mem.Max != 256 {
		t.Errorf("got %+v, want min = max = 256", mem)
	}
	if out, err := withMinPages(module(300, 0, false), 256); err != nil || out != nil {
		t.Errorf("a larger minimum is kept: %v, %v", out, err)
	}
	if _, err := withMinPages(binary.EncodeModule(&wasm.Module{}), 256); err == nil {
		t.Error("a module without memory: no error")
	}
}
