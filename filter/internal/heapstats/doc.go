// Package heapstats exports, from a plugin built for wasip1, the Go heap's
// cumulative allocation counts, so that `breakwater perf` can report guest
// heap objects and bytes per request. A plugin's main package imports it
// for this side effect only:
//
//	import _ "github.com/breakwater/breakwater/filter/internal/heapstats"
//
// The module then exports `go_heap_allocs(kind i32) -> i64`: kind 0 is the
// number of heap objects allocated since the VM started, kind 1 their bytes
// (runtime/metrics /gc/heap/allocs:objects and :bytes, tiny allocations
// included), any other kind -1. The host calls it between requests, never
// during one; it does not allocate after its first call. Other builds (the
// native tests) compile the package to nothing.
package heapstats

// Export is the name of the exported function.
const Export = "go_heap_allocs"
