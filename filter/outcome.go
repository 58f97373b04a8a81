package filter

import (
	"encoding/binary"
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
)

// Envoy response flags (the legacy bit values of StreamInfo::ResponseFlag
// that the `response.flags` attribute carries, an int64 serialised as 8
// little-endian bytes).
const (
	flagUpstreamRequestTimeout        = 0x4  // UT
	flagLocalReset                    = 0x8  // LR
	flagUpstreamRemoteReset           = 0x10 // UR
	flagUpstreamConnectionFailure     = 0x20 // UF
	flagUpstreamConnectionTermination = 0x40 // UC
	flagUpstreamRetryLimitExceeded    = 0x8000
	flagStreamIdleTimeout             = 0x10000
)

// outcome is what the upstream did, read in on_http_response_headers:
//   - status from the `:status` response header (`response.code` can be
//     empty there in Envoy);
//   - reset, timeout and connect failure from the `response.flags` property
//     (UR/UC/LR, UT, UF), read only for a 5xx or missing status: Envoy's
//     router answers every such failure with a 503 or 504 local reply, so a
//     non-5xx response never carries them (and a success costs no extra
//     host call). When the host does not provide `response.flags`,
//     `response.code_details` is read instead ("upstream_reset...",
//     "...connection_failure...", "response_timeout",
//     "upstream_per_try_timeout"); when it provides neither, only the status
//     is classified (a router-generated 503/504 still counts through
//     failure_on.statuses).
type outcome struct {
	_                       [0]func() // not comparable: no generated equality in the .wasm
	status                  int
	reset, timeout, connect bool
	// failure: the outcome counts as a failure under the policy's
	// failure_on (classified once, for every pattern that reads it).
	failure bool
}

func readOutcome(h *httpContext) outcome {
	o := outcome{status: h.responseStatus()}
	if o.status != 0 && o.status < 500 {
		return o
	}
	if v, err := proxywasm.GetProperty([]string{"response", "flags"}); err == nil && len(v) == 8 {
		f := binary.LittleEndian.Uint64(v)
		o.reset = f&(flagUpstreamRemoteReset|flagUpstreamConnectionTermination|flagLocalReset) != 0
		o.timeout = f&(flagUpstreamRequestTimeout|flagStreamIdleTimeout) != 0
		o.connect = f&flagUpstreamConnectionFailure != 0
		return o
	}
	if v, err := proxywasm.GetProperty([]string{"response", "code_details"}); err == nil {
		d := string(v)
		o.connect = strings.Contains(d, "connection_failure")
		o.reset = !o.connect && strings.Contains(d, "upstream_reset")
		o.timeout = strings.Contains(d, "response_timeout") || strings.Contains(d, "per_try_timeout")
	}
	return o
}

// failed says whether the outcome counts as a failure under failure_on.
func failed(fo *config.FailureOn, o outcome) bool {
	return fo.IsFailureStatus(o.status) ||
		(fo.Reset && o.reset) || (fo.Timeout && o.timeout) || (fo.ConnectFailure && o.connect)
}
