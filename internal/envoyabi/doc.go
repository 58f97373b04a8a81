// Package envoyabi lists what Envoy's proxy-wasm host provides to a plugin,
// the one list the ABI conformance test of the plugin (filter/abi_test.go)
// and the dev host's coverage test (devhost/abi_test.go) check against.
package envoyabi
