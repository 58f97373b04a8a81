// Command floorwasm is the floor of one stateful decision in standard Go: a
// plugin built exactly like dist/breakwater.wasm (the same toolchain, SDK
// and bridge) whose HTTP context reads one request header (x-user-id) and
// makes one keyed fixed-window decision with one shared-data get and one
// set (the count of that user in the current second; no CAS retry, the
// limit is never reached). `make build` writes it to dist/floor.wasm;
// `make perf` compares the plugin with it.
package main
