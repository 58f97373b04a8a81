// Package rls is the codec of envoyproxy/ratelimit's HTTP endpoint
// (POST /json): the RateLimitRequest the filter sends and the
// RateLimitResponse it reads back, in protobuf's JSON mapping. Pure Go, no
// host: the filter calls it around proxy_http_call, tests and the fuzzer
// call it directly.
//
// Request: {"domain": D, "descriptors": [{"entries": [{"key": K, "value": V}]}], "hitsAddend": N}.
// Response (HTTP 200 when OK, 429 when OVER_LIMIT, 500 when UNKNOWN):
// {"overallCode": "OK"|"OVER_LIMIT", "statuses": [{"code": ..., "currentLimit":
// {"requestsPerUnit": N, "unit": "SECOND"|"MINUTE"|"HOUR"|"DAY"|...},
// "limitRemaining": N, "durationUntilReset": "12s"}, ...]}, one status per
// descriptor in request order. Absent fields are zero (protobuf JSON omits
// zero values).
//
// Zero value: none of the types needs construction. Concurrency: pure
// functions. Memory: a decoded response holds at most MaxStatuses statuses.
package rls
