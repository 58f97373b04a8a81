package timeout

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
	"github.com/breakwater/breakwater/patterns/store"
)

// Histogram geometry: bucket 0 holds latencies up to Lo; bucket i in
// 1..NumBuckets-1 holds (Lo·γ^(i-1), Lo·γ^i] with γ = (1+Alpha)/(1-Alpha),
// and reports the value 2·Lo·γ^i/(γ+1), within Alpha (relative) of every
// latency of the bucket. The last bucket also takes everything above Hi.
const (
	// Alpha is the relative error bound of the estimator (2%).
	Alpha = 0.02
	// Lo is the lower edge of the accurate range.
	Lo = 100 * time.Microsecond
	// NumBuckets makes Hi = Lo·γ^(NumBuckets-1) >= 100s.
	NumBuckets = 347
)

var (
	gamma    = (1 + Alpha) / (1 - Alpha)
	logGamma = math.Log(gamma)
	// Hi is the upper edge of the accurate range (≈ 101s).
	Hi = time.Duration(float64(Lo) * math.Pow(gamma, NumBuckets-1))
)

// Defaults applied by Adaptive.Normalize.
const (
	DefaultQuantile   = 0.95
	DefaultMultiplier = 1.0
	DefaultMin        = time.Millisecond
	DefaultMinSamples = 20
	DefaultWindow     = 1000
	DefaultPeriod     = 60 * time.Second
	// MaxWindow bounds Window (and MinSamples).
	MaxWindow = 1_000_000
)

// MaxSetting bounds Extra, Min, Max and Period (87600h, 10 years).
const MaxSetting = 87600 * time.Hour

// ErrInvalid is wrapped by every error Normalize returns (a *field.Error
// naming the configuration field of timeout.adaptive).
var ErrInvalid = errors.New("timeout: invalid adaptive settings")

func errf(name, format string, a ...any) error {
	return field.New("timeout", ErrInvalid, name, format, a...)
}

// Adaptive derives a timeout from the latency of successful calls:
// quantile × Multiplier + Extra, clamped to [Min, Max]; the static timeout
// applies until MinSamples latencies are in the window. Its zero value is
// usable (see Normalize). An Adaptive is read-only once configured and is
// safe for concurrent use.
type Adaptive struct {
	// Quantile in (0,1]; 0 = 0.95.
	Quantile float64
	// Multiplier in (0,100]; 0 = 1.
	Multiplier float64
	// Extra is added after the multiplication; >= 0.
	Extra time.Duration
	// Min is the lowest timeout. Derived default: min(1ms, Max) (a timeout
	// of 0 would disable Envoy's).
	Min time.Duration
	// Max is the highest timeout; 0 = no upper clamp. At least Min.
	Max time.Duration
	// MinSamples latencies must be in the window before the estimate
	// replaces the static timeout; 0 = 20; at most MaxWindow.
	MinSamples int
	// Window is the number of latencies per generation (the estimate uses
	// the current and the previous generation, Window to 2·Window latencies);
	// 0 = max(1000, MinSamples); at least MinSamples, at most MaxWindow.
	Window int
	// Period is the longest life of a generation, so that the estimate
	// follows recent latency when traffic is low; 0 = 60s.
	Period time.Duration
}

// Normalize returns a with defaults applied, or an error wrapping
// ErrInvalid. It is the one place where the estimator's defaults live.
func (a Adaptive) Normalize() (Adaptive, error) {
	if a.Quantile == 0 {
		a.Quantile = DefaultQuantile
	}
	if a.Multiplier == 0 {
		a.Multiplier = DefaultMultiplier
	}
	if a.Min == 0 {
		a.Min = DefaultMin
		if a.Max > 0 {
			a.Min = min(DefaultMin, a.Max)
		}
	}
	if a.MinSamples == 0 {
		a.MinSamples = DefaultMinSamples
	}
	if a.Window == 0 {
		a.Window = max(DefaultWindow, a.MinSamples)
	}
	if a.Period == 0 {
		a.Period = DefaultPeriod
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"extra", a.Extra}, {"min", a.Min}, {"max", a.Max}, {"period", a.Period}} {
		if d.d < 0 || d.d > MaxSetting {
			return a, errf(d.name, "must be in [0,%v], got %v", MaxSetting, d.d)
		}
	}
	switch {
	case math.IsNaN(a.Quantile) || a.Quantile <= 0 || a.Quantile > 1:
		return a, errf("quantile", "must be in (0,1], got %v", a.Quantile)
	case math.IsNaN(a.Multiplier) || a.Multiplier <= 0 || a.Multiplier > 100:
		return a, errf("multiplier", "must be in (0,100], got %v", a.Multiplier)
	case a.Max != 0 && a.Max < a.Min:
		return a, field.Conflict("timeout", ErrInvalid, "max", "min", "must be at least min (%v), got %v", a.Min, a.Max)
	case a.MinSamples < 0 || a.MinSamples > MaxWindow:
		return a, errf("min_samples", "must be in [1,%d], got %d", MaxWindow, a.MinSamples)
	case a.Window < a.MinSamples || a.Window > MaxWindow:
		return a, field.Conflict("timeout", ErrInvalid, "window", "min_samples", "must be in [min_samples,%d], got %d", MaxWindow, a.Window)
	}
	return a, nil
}

// Observe records the latency of a successful call in the estimator kept
// at store key key.
func (a *Adaptive) Observe(st store.Store, key string, latency time.Duration, now time.Time) error {
	s, err := a.Normalize()
	if err != nil {
		return err
	}
	i := bucketOf(latency)
	t := now.UnixNano()
	return store.Update(st, key, func(cur []byte) ([]byte, bool, error) {
		var h hist
		h.decode(cur)
		h.rotate(t, int64(s.Period), s.Window)
		h.cur[i]++
		h.curN++
		return h.encode(), true, nil
	})
}

// Timeout returns the adaptive timeout at now and the number of latencies
// in the window; static while that number is below MinSamples. It reads the
// store and writes nothing.
func (a *Adaptive) Timeout(st store.Store, key string, static time.Duration, now time.Time) (time.Duration, int, error) {
	s, err := a.Normalize()
	if err != nil {
		return static, 0, err
	}
	cur, _, err := st.Get(key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return static, 0, err
	}
	var h hist
	h.decode(cur)
	h.age(now.UnixNano(), int64(s.Period))
	n := h.curN + h.prevN
	if n < uint64(s.MinSamples) {
		return static, int(n), nil
	}
	q := h.quantile(s.Quantile)
	return s.clamp(float64(q)*s.Multiplier + float64(s.Extra)), int(n), nil
}

func (a Adaptive) clamp(ns float64) time.Duration {
	if a.Max > 0 && ns >= float64(a.Max) {
		return a.Max
	}
	if ns <= float64(a.Min) {
		return a.Min
	}
	if ns >= float64(MaxDuration) {
		return MaxDuration
	}
	return time.Duration(ns)
}

// bucketOf is the bucket of latency d.
func bucketOf(d time.Duration) int {
	if d <= Lo {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(Lo)) / logGamma))
	return min(max(i, 1), NumBuckets-1)
}

// valueOf is the latency a bucket reports.
func valueOf(i int) time.Duration {
	if i == 0 {
		return Lo
	}
	return time.Duration(math.Round(2 * float64(Lo) * math.Pow(gamma, float64(i)) / (gamma + 1)))
}

// hist is the decoded record: two generations of bucket counts.
type hist struct {
	start       int64 // Unix ns when the current generation began; 0 = fresh
	cur, prev   [NumBuckets]uint32
	curN, prevN uint64
}

// rotate prepares the current generation to take one more latency at t.
func (h *hist) rotate(t, period int64, window int) {
	switch {
	case h.start == 0 || t-h.start >= 2*period:
		*h = hist{start: t}
	case t-h.start >= period || h.curN >= uint64(window):
		h.prev, h.prevN = h.cur, h.curN
		h.cur, h.curN = [NumBuckets]uint32{}, 0
		h.start = t
	}
}

// age drops, for a read at t, the generations that time has retired.
func (h *hist) age(t, period int64) {
	switch {
	case h.start == 0 || t-h.start >= 2*period:
		*h = hist{}
	case t-h.start >= period:
		h.prev, h.prevN = [NumBuckets]uint32{}, 0
	}
}

// quantile returns the value of the bucket holding the ceil(q·n)-th
// smallest latency of both generations; 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	n := h.curN + h.prevN
	if n == 0 {
		return 0
	}
	r := uint64(math.Ceil(q * float64(n)))
	r = min(max(r, 1), n)
	var c uint64
	for i := range NumBuckets {
		c += uint64(h.cur[i]) + uint64(h.prev[i])
		if c >= r {
			return valueOf(i)
		}
	}
	return valueOf(NumBuckets - 1)
}

// Record layout (little-endian):
//
//	[1] version = 1
//	[8] start of the current generation (Unix ns, int64)
//	[2] K, non-empty buckets of the current generation (uint16)
//	K × ([2] bucket index (uint16) [4] count (uint32)), indices increasing, counts > 0
//	[2] K', non-empty buckets of the previous generation
//	K' × (same)
const version = 1

func (h *hist) encode() []byte {
	b := make([]byte, 0, 13+6*16)
	b = append(b, version)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.start))
	for _, g := range []*[NumBuckets]uint32{&h.cur, &h.prev} {
		k := 0
		for _, c := range g {
			if c > 0 {
				k++
			}
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(k))
		for i, c := range g {
			if c > 0 {
				b = binary.LittleEndian.AppendUint16(b, uint16(i))
				b = binary.LittleEndian.AppendUint32(b, c)
			}
		}
	}
	return b
}

// decode fills h from b; a nil, short or corrupt b leaves h fresh (empty).
func (h *hist) decode(b []byte) {
	if !h.decodeStrict(b) {
		*h = hist{}
	}
}

func (h *hist) decodeStrict(b []byte) bool {
	*h = hist{}
	if len(b) < 13 || b[0] != version {
		return false
	}
	h.start = int64(binary.LittleEndian.Uint64(b[1:]))
	p := b[9:]
	for _, g := range []struct {
		c *[NumBuckets]uint32
		n *uint64
	}{{&h.cur, &h.curN}, {&h.prev, &h.prevN}} {
		if len(p) < 2 {
			return false
		}
		k := int(binary.LittleEndian.Uint16(p))
		p = p[2:]
		if len(p) < 6*k {
			return false
		}
		last := -1
		for range k {
			i := int(binary.LittleEndian.Uint16(p))
			c := binary.LittleEndian.Uint32(p[2:])
			if i <= last || i >= NumBuckets || c == 0 {
				return false
			}
			g.c[i] = c
			*g.n += uint64(c)
			last = i
			p = p[6:]
		}
	}
	return len(p) == 0 && h.start != 0
}
