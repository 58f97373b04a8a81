#!/usr/bin/env bash
# Builds dist/breakwater.wasm with the standard Go toolchain (see README, "How the standard-Go build works").
# 1. copy the proxy-wasm Go SDK out of the module cache into build/sdk (writable, git-ignored);
# 2. add our bridge file (filter/sdkbridge/bridge.go) to its internal package, replace its
#    serde.go by ours (filter/sdkbridge/serde.go: the same header-map codec, copying with copy,
#    decoding into a caller's slice), add filter/sdkbridge/ext.go (header maps through the
#    host's encoding, metric calls without panics) to its public package and make its
#    host-call functions call the bridge directly instead of through an interface;
# 3. build filter/wasm with a generated go.mod (build/go.mod) that replaces the SDK with that copy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/breakwater.wasm}
sdk_mod=github.com/tetratelabs/proxy-wasm-go-sdk
go mod download "$sdk_mod"
src=$(go list -m -f '{{.Dir}}' "$sdk_mod")
rm -rf build/sdk
mkdir -p build dist
cp -R "$src" build/sdk
chmod -R u+w build/sdk
cp filter/sdkbridge/bridge.go build/sdk/proxywasm/internal/zz_breakwater_bridge.go
# The SDK's own serde_test.go is for its native build; ours must keep its functions' names.
test -f build/sdk/proxywasm/internal/serde.go
cp filter/sdkbridge/serde.go build/sdk/proxywasm/internal/serde.go
# Header-map reads and writes through the host's encoding, metric calls without panics
# (GetHeadersWire, IncrementMetric, ...), in the public package.
cp filter/sdkbridge/ext.go build/sdk/proxywasm/zz_breakwater_ext.go
# The SDK's host-call functions call the host through the interface value currentHost, so
# every pointer they pass (the result slots of each get) escapes to the heap: one to three
# allocations per host call. The bridge's wasmHost is the only host of a wasm build, so the
# copy calls it directly (a static call: the slots stay on the stack).
hc=build/sdk/proxywasm/internal/abi_hostcalls_mock.go
sed -i 's/return currentHost\.Proxy/return wasmHost{}.Proxy/' "$hc"
if grep -q 'currentHost\.Proxy' "$hc" || [ "$(grep -c 'return wasmHost{}\.Proxy' "$hc")" -lt 29 ]; then
  echo "build-wasm.sh: $hc does not have the expected host-call functions" >&2
  exit 1
fi
# HTTP contexts live in the bridge's table (see bridge.go): the SDK's registerHttpCallOut
# takes an HTTP context's root from it, proxyOnHttpCallResponse asks it whether the caller
# is still there.
vs=build/sdk/proxywasm/internal/vmstate.go
sed -i 's/s\.pluginContexts\[s\.contextIDToRootID\[s\.activeContextID\]\]/s.pluginContexts[bwRootID(s.activeContextID)]/' "$vs"
if [ "$(grep -c 'bwRootID(s\.activeContextID)' "$vs")" -ne 1 ] || grep -q 'contextIDToRootID\[s\.activeContextID\]' "$vs"; then
  echo "build-wasm.sh: $vs does not have the expected registerHttpCallOut" >&2
  exit 1
fi
l7=build/sdk/proxywasm/internal/abi_callback_l7.go
sed -i 's/if _, ok := currentState\.contextIDToRootID\[ctxID\]; ok {/if bwAlive(ctxID) {/' "$l7"
if [ "$(grep -c 'if bwAlive(ctxID) {' "$l7")" -ne 1 ] || grep -q 'contextIDToRootID' "$l7"; then
  echo "build-wasm.sh: $l7 does not have the expected proxyOnHttpCallResponse" >&2
  exit 1
fi
cp go.mod build/go.mod
cp go.sum build/go.sum
printf '\nreplace %s => ./build/sdk\n' "$sdk_mod" >> build/go.mod
# LDFLAGS: the linker flags (default -s -w, no symbol table: `LDFLAGS= scripts/build-wasm.sh OUT`
# keeps the name section, for `breakwater perf --profile`).
LDFLAGS=${LDFLAGS--s -w}
build() {
  GOOS=wasip1 GOARCH=wasm go build -modfile=build/go.mod -tags breakwater_bridge \
    -buildmode=c-shared -trimpath -ldflags="$LDFLAGS" -o "$1" "$2"
}
build "$out" ./filter/wasm
# The benchmarks' floor: a do-nothing plugin built the same way.
build "$(dirname "$out")/noop.wasm" ./filter/noopwasm
# The floor of one stateful decision: one header, one shared-data get and set.
build "$(dirname "$out")/floor.wasm" ./filter/floorwasm
# Pre-grown memory: each module starts with MIN_PAGES pages (64 KiB each), more
# than the Go heap's steady size under the benchmark policy (about 143 pages per
# VM, see e2e/soak_test.go), so a warm VM never runs memory.grow during a
# request (WAMR before 2.3.0 corrupts memory when the guest grows it inside a
# re-entrant host call). Each VM reserves MIN_PAGES of linear memory from the start.
MIN_PAGES=${MIN_PAGES:-256}
go run ./internal/cmd/wasmpages -min "$MIN_PAGES" "$out" "$(dirname "$out")/noop.wasm" "$(dirname "$out")/floor.wasm"
ls -l "$out" "$(dirname "$out")/noop.wasm" "$(dirname "$out")/floor.wasm"
