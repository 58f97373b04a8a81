// Package fault decides, for one request, whether to inject an abort and
// whether to inject a delay (the "fault" block of the configuration).
//
// Algorithm: Decide draws exactly two numbers from the source it is given,
// u1 and u2, uniform in [0,1) (rand.Rand.Float64), in that order:
//
//	abort = u1 < AbortPercent/100
//	delay = Delay if u2 < DelayPercent/100, else 0
//
// The two draws are independent and always both made, so a seeded source
// gives a reproducible sequence of decisions whatever the settings. A
// request may be drawn for both a delay and an abort; Decide returns both
// and leaves the order to the caller. The plugin (filter/fault.go) answers
// such a request at once with AbortStatus, without the delay (unlike
// Envoy's fault filter, which delays first and then aborts). 0 percent never
// fires (u < 0 is impossible); 100 percent always fires (u < 1 always
// holds). The share of requests touched converges to the percent: after n
// decisions the count is Binomial(n, p).
//
// Zero value: Settings{} injects nothing. Normalize is the one place for
// defaults: AbortStatus 0 becomes 503. It rejects percents outside [0,100]
// (or NaN), a status outside 200..599, a negative delay or one above
// MaxDelay (87600h), and a positive DelayPercent with a zero Delay; its
// errors are *field.Error values naming the configuration field.
//
// Concurrency: Decide is a pure function of its arguments; the caller owns
// the source (a *rand.Rand is not safe for concurrent use). No state is
// shared, so nothing is kept in the store and there is no encoding; memory
// is constant.
//
// The package never reads the clock and draws randomness only from the
// source passed in.
package fault
