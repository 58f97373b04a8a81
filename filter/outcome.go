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

// readFlags completes o (a 5xx or missing status) with the reset, timeout
// and connect failure the host reports, and classifies it under failure_on
// fo (fs: its statuses). httpContext.upstreamResponse reads the status,
// then calls it only for such a status (below 500 there are no flags: the
// status alone classifies).
//
//go:noinline
func readFlags(o *outcome, fo *config.FailureOn, fs *statusSet) {
	if v, err := proxywasm.GetProperty([]string{"response", "flags"}); err == nil && len(v) == 8 {
		f := binary.LittleEndian.Uint64(v)
		o.reset = f&(flagUpstreamRemoteReset|flagUpstreamConnectionTermination|flagLocalReset) != 0
		o.timeout = f&(flagUpstreamRequestTimeout|flagStreamIdleTimeout) != 0
		o.connect = f&flagUpstreamConnectionFailure != 0
	} else if v, err := proxywasm.GetProperty([]string{"response", "code_details"}); err == nil {
		d := string(v)
		o.connect = strings.Contains(d, "connection_failure")
		o.reset = !o.connect && strings.Contains(d, "upstream_reset")
		o.timeout = strings.Contains(d, "response_timeout") || strings.Contains(d, "per_try_timeout")
	}
	o.failure = fs.has(fo, o.status) ||
		(fo.Reset && o.reset) || (fo.Timeout && o.timeout) || (fo.ConnectFailure && o.connect)
}

// statusSet holds the codes 200..647 of a list of statuses as bits, so that
// classifying a response's status is one test, not a search of the list.
type statusSet [7]uint64

func statusSetOf(codes []int) (s statusSet) {
	for _, c := range codes {
		if u := uint(c - 200); u < 64*uint(len(s)) {
			s[u>>6] |= 1 << (u & 63)
		}
	}
	return s
}

// has says whether code is one of fo.Statuses (s is statusSetOf of them):
// a code outside the set's range (0: no status; failure_on.statuses are
// 200..599) is looked up in the list.
func (s *statusSet) has(fo *config.FailureOn, code int) bool {
	if u := uint(code - 200); u < 64*uint(len(s)) {
		return s[u>>6]>>(u&63)&1 != 0
	}
	return fo.IsFailureStatus(code)
}
