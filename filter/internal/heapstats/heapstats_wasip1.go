//go:build wasip1

package heapstats

import "runtime"

var ms runtime.MemStats

//go:wasmexport go_heap_allocs
func goHeapAllocs(kind int32) int64 {
	switch kind {
	case 0:
		runtime.ReadMemStats(&ms)
		return int64(ms.Mallocs)
	case 1:
		runtime.ReadMemStats(&ms)
		return int64(ms.TotalAlloc)
	case 2:
		runtime.ReadMemStats(&ms)
		return int64(ms.Sys)
	}
	return -1
}
