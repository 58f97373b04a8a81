package envoyabi

// EnvFunctions are the `env` functions of proxy-wasm ABI 0.2.1 that Envoy's
// host (proxy-wasm-cpp-host: include/proxy-wasm/exports.h,
// FOR_ALL_HOST_FUNCTIONS and FOR_ALL_HOST_FUNCTIONS_ABI_SPECIFIC, registered
// for ABI 0.2.x by WasmBase::registerCallbacks in src/wasm.cc) provides.
var EnvFunctions = []string{
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

// WASIEnvoy133 are the wasi_snapshot_preview1 functions that the
// proxy-wasm-cpp-host vendored by Envoy 1.33 (the first release that loads
// standard-Go plugins) registers. Source: proxy-wasm-cpp-host
// include/proxy-wasm/exports.h, macro FOR_ALL_WASI_FUNCTIONS (the 15
// functions fd_write ... fd_prestat_dir_name), plus the three that PR 427
// ("feat(go-sdk): add wasi hostcalls used by the Go SDK") added for Go's
// wasip1 port: sched_yield, poll_oneoff (answering ENOSYS until PR 533) and
// fd_fdstat_set_flags. The rest of wasip1 (fd_filestat_get,
// path_filestat_get, fd_readdir, ...) only arrived with PR 533 (Envoy PR
// 45756, in Envoy 1.39) and so must not be imported.
var WASIEnvoy133 = []string{
	"fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get",
	"environ_get", "environ_sizes_get", "args_get", "args_sizes_get",
	"clock_time_get", "random_get", "proc_exit", "path_open",
	"fd_prestat_get", "fd_prestat_dir_name",
	// PR 427:
	"sched_yield", "poll_oneoff", "fd_fdstat_set_flags",
}
