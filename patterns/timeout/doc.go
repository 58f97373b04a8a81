// Package timeout holds the timeout pieces of the filter: parsing the
// caller's deadline headers, combining a configured timeout with the
// caller's remaining budget, and an adaptive timeout that follows the
// latency of successful calls, estimated across all workers with bounded
// memory.
//
// # Deadlines
//
// ParseGRPCTimeout reads grpc-timeout (1 to 8 digits and a unit among H M S
// m u n; nothing else), ParseExpectedMs reads x-envoy-expected-rq-timeout-ms
// (decimal milliseconds). Both clamp values beyond time.Duration's range to
// MaxDuration. Remaining(budget, arrived, now) is what is left of such a
// budget measured from when the request arrived; Effective(configured,
// remaining, haveRemaining) is min(configured, remaining), where a
// configured value <= 0 means none (Envoy's 0 disables a timeout). The
// caller compares the remaining budget with min_remaining before going
// upstream, and never hands Envoy a 0 (see Effective). Upstream(configured,
// ceiling, remaining, ok) is what the filter writes: a caller only ever
// shortens, so without a configured timeout the caller's budget is bounded
// by ceiling (deadline.max, DefaultDeadlineMax 15s) and a clamped
// MaxDuration budget never reaches the router.
//
// # Adaptive estimator
//
// A log-bucketed histogram (the DDSketch mapping) with relative accuracy
// Alpha = 2%: with γ = (1+α)/(1−α) ≈ 1.0408, bucket i >= 1 holds latencies
// in (Lo·γ^(i−1), Lo·γ^i] and reports 2·Lo·γ^i/(γ+1); bucket 0 holds
// everything up to Lo = 100µs and reports Lo; the last of the 347 buckets
// reaches Hi = Lo·γ^346 ≈ 102.7s and also takes everything above. The
// q-quantile is the reported value of the bucket holding the
// ceil(q·n)-th smallest of the n latencies in the window, so for latencies
// within [Lo, Hi]:
//
//	|estimate − x| <= α·x,   α = (γ−1)/(γ+1) = 0.02
//
// where x is the exact q-quantile (the ceil(q·n)-th order statistic) of the
// same latencies. Below Lo the estimate is Lo (an overestimate), above Hi it
// is about Hi. The bound does not depend on n or on the distribution; the
// tests check it against the exact quantile of random samples (uniform,
// exponential, lognormal, bimodal, Pareto, constant).
//
// Sliding by generations: the record holds two generations, the current
// one and the previous one, and the estimate uses both. Before an
// observation is added, the current generation retires (becomes the
// previous one, the old previous one is dropped) when it already holds
// Window latencies or began Period ago; after 2·Period of silence both are
// dropped. A read at t (Timeout) ignores the previous generation when the
// current one began Period before t, and both after 2·Period. So the
// estimate always covers the latest Window to 2·Window latencies, none older
// than 2·Period, and follows a change of latency within two generations.
//
// Timeout returns clamp(estimate × Multiplier + Extra, Min, Max), or the
// static timeout while fewer than MinSamples latencies are in the window.
//
// # Zero value
//
// Adaptive.Normalize is the one place for defaults: Quantile 0.95,
// Multiplier 1, Extra 0, Min 1ms (never 0: a 0 timeout disables Envoy's),
// Max 0 = no upper clamp, MinSamples 20, Window max(1000, MinSamples),
// Period 60s. Observe and Timeout normalize on each call and return the
// error of invalid settings (Timeout then returns the static value).
//
// # Concurrency
//
// The estimator of a policy is one store key, given by the caller, shared
// by every worker; Observe is one store.Update (atomic across workers),
// Timeout one Get (no write). An Adaptive holds only settings and is safe
// for concurrent use. The key's creation is a CAS too
// (store.CreateCAS): no observation is lost to a racing creator.
//
// # Memory
//
// Record (little-endian), sparse (only non-empty buckets):
//
//	[1] version = 1
//	[8] start of the current generation (Unix ns, int64; never 0)
//	[2] K, non-empty buckets of the current generation (uint16)
//	K × ([2] bucket index (uint16, < 347) [4] count (uint32)), indices increasing, counts > 0
//	[2] K', non-empty buckets of the previous generation (uint16)
//	K' × (same)
//
// At most 13 + 2·6·347 = 4177 bytes per key whatever the traffic (1000
// lognormal latencies with σ = 1 fill about 130 buckets: 787 bytes). Any input
// that breaks these rules (length, version, order, zero count, start 0) is
// corrupt and decodes as a fresh, empty estimator.
package timeout
