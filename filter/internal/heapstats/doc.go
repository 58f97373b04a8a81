// Package heapstats exports, from a plugin built for wasip1, the Go heap's
// cumulative allocation counts, so that `breakwater perf` can report guest
// heap objects and bytes per request. A plugin's main package imports it
// for this side effect only:
//
//	import _ "github.com/breakwater/breakwater/filter/internal/heapstats"
//
// The module then exports `go_heap_allocs(kind i32) -> i64`: kind 0 is the
// number of heap objects allocated since the VM started, kind 1 their bytes
// (runtime.MemStats Mallocs and TotalAlloc, tiny allocations included),
// kind 2 the bytes the Go runtime has taken from linear memory for its heap,
// stacks and metadata (MemStats.Sys: with a pre-grown memory, the part of
// it in use, which the VM's memory size no longer shows), any other kind -1.
// The host calls it between requests, never during one; it does not
// allocate. Other builds (the native tests) compile the package to nothing.
package heapstats

// Export is the name of the exported function.
const Export = "go_heap_allocs"
