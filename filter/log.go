package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// logLimited logs an operational warning. Warnings that could repeat per
// request are rate limited to one per logEvery calls per VM.
var logCount uint64

const logEvery = 1000

// logLimited logs format as a warning, rate limited (see logCount). Not
// inlined: each inlined copy costs .wasm bytes at every call site, for a
// line logged rarely.
//
//go:noinline
func logLimited(format string, args ...any) {
	if logCount%logEvery == 0 {
		proxywasm.LogWarnf(format, args...)
	}
	logCount++
}
