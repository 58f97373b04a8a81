package devhost

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/breakwater/breakwater/internal/metricdef"
)

// LogLevel is the proxy-wasm log level (same numbering as Envoy's spdlog levels and the ABI).
type LogLevel uint32

// Log levels of the ABI.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warning"
	case LogError:
		return "error"
	case LogCritical:
		return "critical"
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// Options configures a Host. The zero value of every field is documented and
// normalised in one place, (*Options).withDefaults.
type Options struct {
	// Wasm is the module (required): a wasip1 reactor exporting _initialize,
	// memory, proxy_abi_version_0_2_0, proxy_on_* and proxy_on_memory_allocate.
	Wasm []byte
	// PluginConfig is the plugin configuration (Envoy's plugin_config.configuration),
	// returned through buffer type 7 during proxy_on_context_create/vm_start/configure
	// of the root context. Zero: empty.
	PluginConfig []byte
	// VMConfig is the VM configuration (buffer type 6). Zero: empty.
	VMConfig []byte
	// PluginName is the `plugin_name` property. Zero: "breakwater".
	PluginName string
	// RootID is the `plugin_root_id` property. Zero: "".
	RootID string
	// VMID is the `plugin_vm_id` property and the namespace of shared data and
	// shared queues (as in Envoy, state is per vm_id). Zero: "".
	VMID string
	// Workers is the number of worker VMs (Envoy's --concurrency). Zero: 4.
	Workers int

	// Clusters maps a cluster name to the base URL of its single endpoint,
	// e.g. "upstream" -> "http://127.0.0.1:8080". Used by the router and by
	// proxy_http_call.
	Clusters map[string]string
	// UpstreamCluster is the cluster the route forwards to. Zero: "upstream",
	// or the only cluster when Clusters has exactly one entry.
	UpstreamCluster string
	// RouteTimeout is the route timeout used when the filter sets no
	// x-envoy-upstream-rq-timeout-ms. Zero: 15s (Envoy's default). Negative: no timeout.
	RouteTimeout time.Duration
	// RetryBaseInterval is the base of the jittered exponential back-off
	// (route retry_back_off.base_interval). Zero: 25ms (Envoy's default).
	RetryBaseInterval time.Duration
	// RetryMaxInterval caps the back-off. Zero: 10 x RetryBaseInterval (Envoy's default).
	RetryMaxInterval time.Duration
	// MaxConcurrentRetries is the cluster circuit breaker on retries in
	// progress (Envoy's circuit_breakers.thresholds.max_retries). Zero: 3,
	// Envoy's default. Negative: unlimited.
	MaxConcurrentRetries int
	// RetrySeed seeds the back-off jitter. Zero: a random seed.
	RetrySeed uint64

	// Clock is the time source of the plugin (WASI clocks, proxy_on_tick,
	// request.time). Zero: the real clock. The router's timers follow it only
	// with RouterOnClock.
	Clock Clock
	// RouterOnClock puts the router's timers on Clock: the per-try and route
	// (global) timeouts, the retry back-off, x-envoy-expected-rq-timeout-ms
	// and x-envoy-upstream-service-time. With a ManualClock a timeout or a
	// back-off then ends only when the test advances the clock. Zero: they
	// run on the wall clock whatever Clock is (a held or manual plugin clock
	// does not stop the router's real network I/O from timing out).
	RouterOnClock bool
	// Rand is the source of WASI random_get. Zero: crypto/rand.
	Rand io.Reader

	// Envoy133WASI makes WASI behave as in Envoy 1.33-1.38 (proxy-wasm-cpp-host
	// before PR 533): poll_oneoff returns ENOSYS (errno 52).
	Envoy133WASI bool

	// LogWriter, when set, receives every plugin log line at or above
	// LogLevel and every VM trap report, one line each.
	LogWriter io.Writer
	// LogLevel is the minimum level kept and returned by proxy_get_log_level.
	// Zero: trace (keep everything).
	LogLevel LogLevel
	// MaxLogEntries bounds the in-memory log kept for Logs(). Zero: 10000.
	MaxLogEntries int

	// MaxBodyBytes bounds request and response bodies (the dev host buffers
	// whole bodies). Zero: 4 MiB. A larger request body gets a 413 local reply.
	MaxBodyBytes int
	// InternalClients treats every client as internal (Envoy's
	// x-envoy-internal: true): the router headers a client sends are kept.
	// Zero: clients are external and Envoy's internal-only x-envoy-* headers
	// (see EnvoyInternalOnlyHeaders) are removed before the plugin runs.
	InternalClients bool
	// HostCallsHeader, when set, names a response header carrying the number
	// of host calls the plugin made for that request.
	HostCallsHeader string

	// StatsTags are the tag extractors applied to the plugin's stats, as
	// Envoy's bootstrap stats_config.stats_tags (regex form): /stats/prometheus
	// exports each stat under its tag-extracted name with the tags as labels.
	// Nil: the Breakwater plugin's tags (internal/metricdef.Tags, which
	// envoy/envoy.yaml carries). Empty, not nil: no extraction. A tag with
	// an empty name, a name given twice, no regex or a regex that does not
	// compile makes New fail; a regex without a capture group never matches
	// (as in Envoy).
	StatsTags []StatsTag

	// CountGlobals names exported i64 globals of the module (for example the
	// counters internal/wasmcount adds) that the host reads before and after
	// every top-level call into a VM; Host.Counted returns the differences
	// summed per global and per export called. Zero: none read. A VM that
	// does not export one of them makes New fail.
	CountGlobals []string

	// CompilationCache, when set, is shared by hosts (compile once per process).
	CompilationCache wazero.CompilationCache
	// Transport carries upstream requests and http callouts. Zero: a dedicated
	// http.Transport (HTTP/1.1, no proxy, no compression).
	Transport http.RoundTripper
}

// Defaults of Options, exported for documentation and tests.
const (
	DefaultWorkers              = 4
	DefaultPluginName           = "breakwater"
	DefaultUpstreamCluster      = "upstream"
	DefaultRouteTimeout         = 15 * time.Second
	DefaultRetryBaseInterval    = 25 * time.Millisecond
	DefaultMaxConcurrentRetries = 3
	DefaultMaxLogEntries        = 10000
	DefaultMaxBodyBytes         = 4 << 20
)

// withDefaults returns a copy of o with every zero value replaced by its
// documented default, or an error for an unusable option.
func (o Options) withDefaults() (Options, error) {
	if len(o.Wasm) == 0 {
		return o, errors.New("devhost: options: Wasm is empty")
	}
	if o.Workers < 0 {
		return o, fmt.Errorf("devhost: options: Workers must be >= 0, got %d", o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.PluginName == "" {
		o.PluginName = DefaultPluginName
	}
	clusters := make(map[string]*url.URL, len(o.Clusters))
	for name, raw := range o.Clusters {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("devhost: options: cluster %q: want an http(s) base URL, got %q", name, raw)
		}
		clusters[name] = u
	}
	if o.UpstreamCluster == "" {
		o.UpstreamCluster = DefaultUpstreamCluster
		if len(o.Clusters) == 1 {
			for name := range o.Clusters {
				o.UpstreamCluster = name
			}
		}
	}
	if o.RouteTimeout == 0 {
		o.RouteTimeout = DefaultRouteTimeout
	}
	if o.RetryBaseInterval < 0 || o.RetryMaxInterval < 0 {
		return o, errors.New("devhost: options: retry back-off intervals must be >= 0")
	}
	if o.RetryBaseInterval == 0 {
		o.RetryBaseInterval = DefaultRetryBaseInterval
	}
	if o.RetryMaxInterval == 0 {
		o.RetryMaxInterval = 10 * o.RetryBaseInterval
	}
	if o.RetryMaxInterval < o.RetryBaseInterval {
		return o, fmt.Errorf("devhost: options: RetryMaxInterval %v < RetryBaseInterval %v", o.RetryMaxInterval, o.RetryBaseInterval)
	}
	if o.MaxConcurrentRetries == 0 {
		o.MaxConcurrentRetries = DefaultMaxConcurrentRetries
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.LogLevel > LogCritical {
		return o, fmt.Errorf("devhost: options: LogLevel %d out of range", o.LogLevel)
	}
	if o.MaxLogEntries == 0 {
		o.MaxLogEntries = DefaultMaxLogEntries
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.StatsTags == nil {
		for _, t := range metricdef.Tags {
			o.StatsTags = append(o.StatsTags, StatsTag{Name: t.Name, Regex: t.Regex})
		}
	}
	o.HostCallsHeader = strings.ToLower(o.HostCallsHeader)
	o.Clusters = copyMap(o.Clusters)
	o.CountGlobals = append([]string(nil), o.CountGlobals...)
	return o, nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
