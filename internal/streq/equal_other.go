//go:build !wasm

package streq

// Equal says whether a == b (the runtime's comparison: only Go's wasm one
// is byte by byte).
func Equal(a, b string) bool { return a == b }
