// Package wasmfile reads the built plugin (dist/breakwater.wasm) for tests:
// its imports and exports, and a copy whose _initialize export is renamed to
// _start so that proxytest.NewWasmVMContext (which only runs _start) can
// initialise the Go runtime of a c-shared module.
package wasmfile
