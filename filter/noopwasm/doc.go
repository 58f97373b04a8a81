// Command noopwasm is the floor of the benchmarks: a plugin built exactly
// like dist/breakwater.wasm (standard Go, the same SDK bridge) whose HTTP
// contexts do nothing. `make build` writes it to dist/noop.wasm.
package main
