package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// logLimited logs an operational warning. Warnings that could repeat per
// request are rate limited to one per logEvery calls per VM.
var logCount uint64

const logEvery = 1000

func logLimited(format string, args ...any) {
	if logCount%logEvery == 0 {
		proxywasm.LogWarnf(format, args...)
	}
	logCount++
}
