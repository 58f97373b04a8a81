package devhost

// Status is the ABI's result code (proxy-wasm-cpp-host WasmResult).
type Status uint32

// Result codes of proxy-wasm ABI 0.2.1.
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusBadExpression        Status = 5
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusResultMismatch       Status = 9
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

// Header map types of the ABI.
const (
	mapRequestHeaders           = 0
	mapRequestTrailers          = 1
	mapResponseHeaders          = 2
	mapResponseTrailers         = 3
	mapGrpcReceiveInitial       = 4
	mapGrpcReceiveTrailing      = 5
	mapHTTPCallResponseHeaders  = 6
	mapHTTPCallResponseTrailers = 7
	mapMax                      = 7
)

// Buffer types of the ABI.
const (
	bufRequestBody          = 0
	bufResponseBody         = 1
	bufDownstreamData       = 2
	bufUpstreamData         = 3
	bufHTTPCallResponseBody = 4
	bufGrpcReceive          = 5
	bufVMConfiguration      = 6
	bufPluginConfiguration  = 7
	bufCallData             = 8
	bufMax                  = 8
)

// Stream types of proxy_continue_stream / proxy_close_stream.
const (
	streamRequest    = 0
	streamResponse   = 1
	streamDownstream = 2
	streamUpstream   = 3
)

// Response flags: the bit values of Envoy's legacy uint64 response-flags mask
// (StreamInfo::ResponseFlag, envoy/stream_info/stream_info.h; since Envoy 1.30
// CoreResponseFlag N maps to bit 1<<N in legacyResponseFlags(), which is what
// the `response.flags` attribute returns). The property is serialised as an
// 8-byte little-endian integer, as Envoy serialises CEL int64 values.
const (
	FlagFailedLocalHealthCheck           uint64 = 0x1       // LH
	FlagNoHealthyUpstream                uint64 = 0x2       // UH
	FlagUpstreamRequestTimeout           uint64 = 0x4       // UT
	FlagLocalReset                       uint64 = 0x8       // LR
	FlagUpstreamRemoteReset              uint64 = 0x10      // UR
	FlagUpstreamConnectionFailure        uint64 = 0x20      // UF
	FlagUpstreamConnectionTermination    uint64 = 0x40      // UC
	FlagUpstreamOverflow                 uint64 = 0x80      // UO
	FlagNoRouteFound                     uint64 = 0x100     // NR
	FlagDelayInjected                    uint64 = 0x200     // DI
	FlagFaultInjected                    uint64 = 0x400     // FI
	FlagRateLimited                      uint64 = 0x800     // RL
	FlagUnauthorizedExternalService      uint64 = 0x1000    // UAEX
	FlagRateLimitServiceError            uint64 = 0x2000    // RLSE
	FlagDownstreamConnectionTermination  uint64 = 0x4000    // DC
	FlagUpstreamRetryLimitExceeded       uint64 = 0x8000    // URX
	FlagStreamIdleTimeout                uint64 = 0x10000   // SI
	FlagInvalidEnvoyRequestHeaders       uint64 = 0x20000   // IH
	FlagDownstreamProtocolError          uint64 = 0x40000   // DPE
	FlagUpstreamMaxStreamDurationReached uint64 = 0x80000   // UMSDR
	FlagResponseFromCacheFilter          uint64 = 0x100000  // RFCF
	FlagNoFilterConfigFound              uint64 = 0x200000  // NFCF
	FlagDurationTimeout                  uint64 = 0x400000  // DT
	FlagUpstreamProtocolError            uint64 = 0x800000  // UPE
	FlagNoClusterFound                   uint64 = 0x1000000 // NC
	FlagOverloadManager                  uint64 = 0x2000000 // OM
	FlagDNSResolutionFailed              uint64 = 0x4000000 // DF
)

var flagNames = []struct {
	bit  uint64
	name string
}{
	{FlagFailedLocalHealthCheck, "LH"}, {FlagNoHealthyUpstream, "UH"}, {FlagUpstreamRequestTimeout, "UT"},
	{FlagLocalReset, "LR"}, {FlagUpstreamRemoteReset, "UR"}, {FlagUpstreamConnectionFailure, "UF"},
	{FlagUpstreamConnectionTermination, "UC"}, {FlagUpstreamOverflow, "UO"}, {FlagNoRouteFound, "NR"},
	{FlagDelayInjected, "DI"}, {FlagFaultInjected, "FI"}, {FlagRateLimited, "RL"},
	{FlagUnauthorizedExternalService, "UAEX"}, {FlagRateLimitServiceError, "RLSE"},
	{FlagDownstreamConnectionTermination, "DC"}, {FlagUpstreamRetryLimitExceeded, "URX"},
	{FlagStreamIdleTimeout, "SI"}, {FlagInvalidEnvoyRequestHeaders, "IH"},
	{FlagDownstreamProtocolError, "DPE"}, {FlagUpstreamMaxStreamDurationReached, "UMSDR"},
	{FlagResponseFromCacheFilter, "RFCF"}, {FlagNoFilterConfigFound, "NFCF"}, {FlagDurationTimeout, "DT"},
	{FlagUpstreamProtocolError, "UPE"}, {FlagNoClusterFound, "NC"}, {FlagOverloadManager, "OM"},
	{FlagDNSResolutionFailed, "DF"},
}

// FlagString renders a response-flags mask the way Envoy's access log
// %RESPONSE_FLAGS% does ("UF,URX"; "-" when empty).
func FlagString(flags uint64) string {
	out := ""
	for _, f := range flagNames {
		if flags&f.bit != 0 {
			if out != "" {
				out += ","
			}
			out += f.name
		}
	}
	if out == "" {
		return "-"
	}
	return out
}

// Response code details the host reports (Envoy's StreamInfo::ResponseCodeDetails values).
const (
	DetailsViaUpstream        = "via_upstream"
	DetailsUpstreamTimeout    = "upstream_response_timeout"
	DetailsPerTryTimeout      = "upstream_per_try_timeout"
	DetailsClusterNotFound    = "cluster_not_found"
	DetailsDownstreamReset    = "downstream_remote_disconnect"
	DetailsWasmFailStream     = "wasm_fail_stream"
	DetailsWasmCloseStream    = "wasm_close_stream"
	DetailsRequestTooLarge    = "request_payload_too_large"
	DetailsResponseTooLarge   = "response_payload_too_large"
	detailsResetBeforeStarted = "upstream_reset_before_response_started"
)
