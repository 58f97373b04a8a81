package filter_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tetratelabs/wabin/wasm"

	"github.com/breakwater/breakwater/filter/internal/wasmfile"
)

// envoyEnvImports are the `env` functions of proxy-wasm ABI 0.2.1 that Envoy's
// host (proxy-wasm-cpp-host, src/exports.cc and include/proxy-wasm/wasm_api_impl.h,
// as registered for ABI 0.2.x by WasmBase::registerCallbacks) provides.
var envoyEnvImports = []string{
	"proxy_log", "proxy_get_log_level",
	"proxy_get_status",
	"proxy_set_tick_period_milliseconds", "proxy_get_current_time_nanoseconds",
	"proxy_get_property", "proxy_set_property",
	"proxy_continue_request", "proxy_continue_response", "proxy_continue_stream",
	"proxy_close_stream", "proxy_send_local_response", "proxy_clear_route_cache",
	"proxy_get_shared_data", "proxy_set_shared_data",
	"proxy_register_shared_queue", "proxy_resolve_shared_queue",
	"proxy_dequeue_shared_queue", "proxy_enqueue_shared_queue",
	"proxy_get_header_map_value", "proxy_add_header_map_value",
	"proxy_replace_header_map_value", "proxy_remove_header_map_value",
	"proxy_get_header_map_pairs", "proxy_set_header_map_pairs", "proxy_get_header_map_size",
	"proxy_get_buffer_bytes", "proxy_get_buffer_status", "proxy_set_buffer_bytes",
	"proxy_http_call", "proxy_grpc_call", "proxy_grpc_stream", "proxy_grpc_send",
	"proxy_grpc_cancel", "proxy_grpc_close",
	"proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric",
	"proxy_set_effective_context", "proxy_done", "proxy_call_foreign_function",
}

// envoy133WASI are the wasi_snapshot_preview1 functions that the proxy-wasm-cpp-host
// vendored by Envoy 1.33 (the first release that loads standard-Go plugins)
// registers. Source: proxy-wasm-cpp-host include/proxy-wasm/exports.h, macro
// FOR_ALL_WASI_FUNCTIONS (the 15 functions fd_write ... fd_prestat_dir_name),
// plus the three that PR 427 ("feat(go-sdk): add wasi hostcalls used by the Go
// SDK") added for Go's wasip1 port: sched_yield, poll_oneoff (answering ENOSYS)
// and fd_fdstat_set_flags. Everything else of wasip1 (fd_filestat_get,
// path_filestat_get, fd_readdir, ...) only arrived with PR 533 (Envoy PR 45756,
// 2026) and so must not be imported.
var envoy133WASI = []string{
	"fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get",
	"environ_get", "environ_sizes_get", "args_get", "args_sizes_get",
	"clock_time_get", "random_get", "proc_exit", "path_open",
	"fd_prestat_get", "fd_prestat_dir_name",
	// PR 427:
	"sched_yield", "poll_oneoff", "fd_fdstat_set_flags",
}

// requiredExports are what Envoy calls on an HTTP filter plugin.
var requiredExports = []string{
	"_initialize", "memory", "proxy_on_memory_allocate",
	"proxy_on_vm_start", "proxy_on_configure", "proxy_on_context_create",
	"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
	"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
	"proxy_on_http_call_response", "proxy_on_tick", "proxy_on_queue_ready",
	"proxy_on_log", "proxy_on_done", "proxy_on_delete",
}

func TestABIConformance(t *testing.T) {
	b, err := wasmfile.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wasmfile.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", wasmfile.Path, err)
	}
	t.Logf("%s: %d bytes (%.2f MiB)", wasmfile.Path, len(b), float64(len(b))/(1<<20))

	exports := map[string]wasm.ExternType{}
	for _, e := range m.ExportSection {
		exports[e.Name] = e.Type
	}
	for _, name := range requiredExports {
		if _, ok := exports[name]; !ok {
			t.Errorf("missing export %s", name)
		}
	}
	if exports["memory"] != wasm.ExternTypeMemory {
		t.Errorf("export memory is not a memory")
	}
	if _, a := exports["proxy_abi_version_0_2_0"]; !a {
		if _, b := exports["proxy_abi_version_0_2_1"]; !b {
			t.Errorf("missing export proxy_abi_version_0_2_0 or proxy_abi_version_0_2_1")
		}
	}

	var imports []string
	for _, im := range m.ImportSection {
		imports = append(imports, im.Module+"."+im.Name)
		switch im.Module {
		case "env":
			if !slices.Contains(envoyEnvImports, im.Name) {
				t.Errorf("import env.%s is not provided by Envoy's proxy-wasm host (ABI 0.2.1)", im.Name)
			}
		case "wasi_snapshot_preview1":
			if !slices.Contains(envoy133WASI, im.Name) {
				t.Errorf("import wasi_snapshot_preview1.%s is not implemented by Envoy 1.33", im.Name)
			}
		default:
			t.Errorf("import %s.%s: module %q is not provided by Envoy", im.Module, im.Name, im.Module)
		}
		if im.Type != wasm.ExternTypeFunc {
			t.Errorf("import %s.%s is not a function", im.Module, im.Name)
		}
	}
	sort.Strings(imports)
	t.Logf("%d imports:\n  %s", len(imports), strings.Join(imports, "\n  "))
	var exp []string
	for name := range exports {
		exp = append(exp, name)
	}
	sort.Strings(exp)
	t.Logf("%d exports: %s", len(exp), strings.Join(exp, " "))
}
