// Package devhost is an embedded proxy-wasm host for local runs, demos and
// end-to-end tests of the Breakwater plugin. It is NOT a production proxy:
// production is Envoy or Istio. It exists because Envoy cannot run on the
// development machines, yet the built .wasm must be exercised under real
// traffic with several worker VMs sharing state.
//
// # What it reproduces
//
// A Host loads the module (wazero, compiled once) into N instances, one per
// worker (Envoy's worker threads), each with wazero's
// wasi_snapshot_preview1 and the "env" host module implementing every
// proxy-wasm ABI 0.2.1 host function (HostFunctions lists them). Each
// instance is started the way proxy-wasm-cpp-host starts a VM for a plugin:
// _initialize, proxy_on_context_create(root, 0), proxy_on_vm_start(root,
// vm config size), proxy_on_configure(root, plugin config size); the plugin
// configuration is readable (buffer type 7) only during those calls. Every
// call into one instance is serialised by the worker's mutex: a VM is
// single-threaded, as in Envoy.
//
// Semantics taken from Envoy / proxy-wasm-cpp-host (source files named in
// the functions' comments):
//
//   - Shared data: one map per vm_id for the whole process behind ONE mutex;
//     get of an absent key is NotFound; set with a non-zero cas that does not
//     match is CasMismatch; set of an absent key always succeeds; every set
//     stores a fresh non-zero cas. Kept across Reconfigure and VM
//     replacement. No delete, no TTL.
//   - Shared queues: (vm_id, name) → a process-wide token; enqueue posts
//     proxy_on_queue_ready(root, token) to the VM whose root registered the
//     queue last, on that worker's dispatcher goroutine (in order).
//   - HTTP callouts to named clusters (Options.Clusters) over real HTTP;
//     :method, :path and :authority required; the response is delivered with
//     proxy_on_http_call_response(root, token, headers, body size, 0) on the
//     calling VM. Connect failures, resets and timeouts arrive as 503/504
//     responses, as Envoy's async client (which runs the router) delivers
//     them.
//   - Ticks per root context (proxy_set_tick_period_milliseconds), re-armed
//     before each proxy_on_tick.
//   - Metrics: proxy_define_metric returns per-VM ids (type in the low two
//     bits); all VMs defining a name share one stat. Counters reject
//     increments <= 0; gauges take signed increments; histograms use Envoy's
//     default buckets. Tags are extracted from each stat's name when it is
//     created, as Envoy's stats_config.stats_tags do (Options.StatsTags;
//     default: the Breakwater plugin's, which envoy/envoy.yaml carries), and
//     /stats/prometheus exports the tag-extracted names Envoy's way for
//     custom Wasm stats, the tags as labels (see AdminHandler, extractTags
//     and PrometheusName). Go's RE2 stands in for Envoy's ECMAScript regexes:
//     the same for groups, lazy quantifiers and escapes; no lookaheads.
//   - Header maps with lower-cased keys; get returns the first value; pairs
//     in the ABI's serialisation (see encodePairs). As in Envoy, a phase's
//     maps are reachable only while that phase is processed or paused:
//     request headers in on_request_headers (and until the request is
//     continued), the body in on_request_body, response headers in
//     on_response_headers...; in on_log request and response headers are
//     readable (read-only). Unavailable maps answer BadArgument (NotFound in
//     on_log).
//   - Pause and continue: a Pause from on_request_headers stops all
//     iteration (Envoy's StopAllIteration for ABI 0.2.x): the body callback
//     runs only after proxy_continue_stream. continue_stream and
//     send_local_response take effect when the current VM call returns.
//   - Local replies go through the plugin's on_response_headers/body like
//     any response (Envoy's sendLocalReply runs the encoder filters).
//   - Router: see (*stream).route for the router headers honoured
//     (timeouts, retries with Envoy's retry_on semantics and jittered
//     exponential back-off, x-envoy-attempt-count), the local replies and
//     the response flags (Envoy's bit values, see the Flag* constants) and
//     response code details it reports.
//   - Properties: see (*instance).getProperty. Integer properties are 8-byte
//     little-endian, as Envoy serialises CEL values; response.code is set
//     once the response headers have passed the plugin (read :status in
//     on_http_response_headers, as in Envoy).
//   - Envoy's internal-only x-envoy-* request headers (router directives,
//     x-envoy-expected-rq-timeout-ms, ...) from the client are removed before
//     the plugin runs, as for an external client; Options.InternalClients
//     keeps them (x-envoy-internal: true).
//   - Stream end: proxy_on_log, then proxy_on_done and proxy_on_delete, for
//     every stream that reached the plugin, including streams reset because
//     the client went away (flag DC) or the plugin closed them.
//   - Reconfigure creates a new root context per VM, like an Envoy plugin
//     config update; the old root is deleted once its streams are done.
//
// # Traps
//
// A call into a VM that fails (Go panic, unreachable, proc_exit) is reported
// (an error log line with the VM's stderr tail, Stats.Traps) and the VM is
// replaced by a fresh instance started with the current configuration; it
// is never called again. Streams of the dead VM are answered 503 with
// details "wasm_fail_stream" (Envoy's failStream).
//
// # Time
//
// Options.Clock drives everything the plugin sees: WASI clock_time_get (both
// clocks), poll_oneoff sleeps, proxy_get_current_time_nanoseconds, ticks and
// request.time. ManualClock lets a test move time; Advance fires due ticks
// synchronously. Router timeouts, back-off, x-envoy-expected-rq-timeout-ms and
// x-envoy-upstream-service-time use real time (they govern real sockets)
// unless Options.RouterOnClock puts them on Options.Clock too: each timeout is
// then a context cancelled by Clock.AfterFunc, so with a ManualClock a test
// decides exactly when an attempt times out or a back-off ends. It is opt-in
// because tests that hold or step the plugin's clock while the router retries
// (e2e retry and dead-letter tests, the demo, perf) would otherwise wait on a
// back-off nobody advances.
//
// # WASI compatibility
//
// Options.Envoy133WASI replaces poll_oneoff with one returning ENOSYS (52),
// as Envoy 1.33-1.38 did (proxy-wasm-cpp-host before PR 533); a Go guest that
// reaches a sleeping path then dies with "poll_oneoff failed errno=52", which
// the host reports as a trap. WASIImports lists what the module imports.
//
// # Differences from Envoy (by design)
//
// Bodies are buffered whole (MaxBodyBytes) and delivered in one
// on_*_body(end_of_stream=true) call; there are no trailers and no gRPC
// (gRPC calls return Unimplemented); one route to one cluster; HTTP/1.1 only;
// histogram quantiles in /stats are bucket upper bounds.
package devhost
