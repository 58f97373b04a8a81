//go:build wasm

package streq

// Equal says whether a == b (see the package documentation).
func Equal(a, b string) bool { return equalWords(a, b) }
