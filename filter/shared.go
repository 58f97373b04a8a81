package filter

import (
	"bytes"
	"errors"
	"runtime"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/patterns/store"
)

// hostStore is Envoy shared data seen through the patterns' store.Store,
// counting its round trips in two counters (tests and tools); the plugin
// context's store is a *storeCounts. Under wasm every get already returns a
// fresh copy in the VM's memory; the native test host (proxytest) returns
// its own buffer, which is copied so a pattern can never alias the host's
// state.
type hostStore struct {
	// gets and sets count the round trips (exposed to benchmarks).
	gets, sets *uint64
}

func (h hostStore) Get(key string) ([]byte, uint32, error) {
	var c storeCounts
	v, cas, err := c.Get(key)
	*h.gets += c.gets
	return v, cas, err
}

func (h hostStore) Set(key string, value []byte, cas uint32) error {
	var c storeCounts
	err := c.Set(key, value, cas)
	*h.sets += c.sets
	return err
}

// storeCounts is Envoy shared data as hostStore, counting its round trips
// in itself: the plugin context's store is a *storeCounts, one pointer, so
// an interface holds it as is and calls its methods directly (a two-word
// value such as hostStore is called through a wrapper that copies it).
type storeCounts struct{ gets, sets uint64 }

var copyShared = runtime.GOARCH != "wasm"

func (c *storeCounts) Get(key string) ([]byte, uint32, error) {
	c.gets++
	v, cas, err := proxywasm.GetSharedData(key)
	switch {
	case err == nil:
	case errors.Is(err, types.ErrorStatusNotFound):
		return nil, 0, store.ErrNotFound
	case err != nil:
		return nil, 0, err
	}
	if copyShared {
		v = bytes.Clone(v)
	}
	return v, cas, nil
}

func (c *storeCounts) Set(key string, value []byte, cas uint32) error {
	c.sets++
	err := proxywasm.SetSharedData(key, value, cas)
	if err != nil && errors.Is(err, types.ErrorStatusCasMismatch) {
		return store.ErrCASMismatch
	}
	return err
}
