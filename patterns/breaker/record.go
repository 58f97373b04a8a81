package breaker

import (
	"encoding/binary"
	"math/bits"
)

// The state record of one breaker key; layout in doc.go.

const (
	recMagic  = 0xB1 // format byte: breaker record, version 1
	hdrLen    = 40
	countHdr  = 12 // N, filled, pos
	timeHdr   = 20 // B, bucket duration, head epoch
	bucketLen = 12 // calls, failures, slow
)

var le = binary.LittleEndian

// rec is the decoded header of a record.
type rec struct {
	state   State
	wtype   WindowType
	gen     uint32
	trip    uint32
	at      int64
	pending uint64 // half-open: probe slots admitted, outcome not reported yet
	done    uint64 // half-open: probe slots that succeeded
	consec  uint32
}

// taken is the number of probe slots in use (pending or succeeded).
func (r *rec) taken() int { return bits.OnesCount64(r.pending | r.done) }

// fresh is the state of a key without a (valid) record: closed, generation 1.
func fresh() rec { return rec{state: Closed, gen: 1} }

func (r *rec) put(b []byte) {
	b[0] = recMagic
	b[1] = byte(r.state)
	b[2] = byte(r.wtype)
	b[3] = 0
	le.PutUint32(b[4:], r.gen)
	le.PutUint32(b[8:], r.trip)
	le.PutUint64(b[12:], uint64(r.at))
	le.PutUint64(b[20:], r.pending)
	le.PutUint64(b[28:], r.done)
	le.PutUint32(b[36:], r.consec)
}

// decodeRecord parses v strictly. ok is false for anything that is not a
// canonical record (see doc.go); the caller then uses fresh(). win is the
// window section (shape fields included), aliasing v.
func decodeRecord(v []byte) (r rec, win []byte, ok bool) {
	// Every check that fails goes to bad: one copy of the fresh record.
	if len(v) < hdrLen || v[0] != recMagic || v[1] > byte(HalfOpen) || v[2] > byte(TimeWindow) || v[3] != 0 {
		goto bad
	}
	r = rec{
		state:   State(v[1]),
		wtype:   WindowType(v[2]),
		gen:     le.Uint32(v[4:]),
		trip:    le.Uint32(v[8:]),
		at:      int64(le.Uint64(v[12:])),
		pending: le.Uint64(v[20:]),
		done:    le.Uint64(v[28:]),
		consec:  le.Uint32(v[36:]),
	}
	if r.gen == 0 || r.pending&r.done != 0 {
		goto bad
	}
	switch r.state {
	case Closed:
		ok = r.trip == 0 && r.pending|r.done == 0
	case Open:
		ok = r.trip != 0 && r.pending|r.done == 0 && r.consec == 0
	case HalfOpen:
		ok = r.trip != 0 && r.consec == 0
	}
	if !ok {
		goto bad
	}
	win = v[hdrLen:]
	if r.wtype == CountWindow {
		ok = validCount(win)
	} else {
		ok = validTime(win)
	}
	if !ok {
		goto bad
	}
	return r, win, true
bad:
	return fresh(), nil, false
}

func bitBytes(n int) int { return (n + 7) / 8 }

func setBit(b []byte, i int, v bool) {
	if v {
		b[i>>3] |= 1 << (i & 7)
	} else {
		b[i>>3] &^= 1 << (i & 7)
	}
}

func popcount(b []byte) int {
	n, all := 0, b
	for len(b) >= 8 {
		n += bits.OnesCount64(le.Uint64(b))
		b = b[8:]
	}
	if r := len(b); r > 0 && len(all) >= 8 {
		// The last r < 8 bytes: the last 8 bytes of all, shifted past the
		// 8-r already counted (one load, one popcount).
		return n + bits.OnesCount64(le.Uint64(all[len(all)-8:])>>(64-8*r))
	}
	var tail uint64 // fewer than 8 bytes in all: one popcount
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return n + bits.OnesCount64(tail)
}

// validCount checks a count window section: [4]N [4]filled [4]pos
// [ceil(N/8)] failure bits [ceil(N/8)] slow bits, with filled <= N,
// pos < N, pos == filled while not full, and no bit set at an index >= filled.
func validCount(w []byte) bool {
	if len(w) < countHdr {
		return false
	}
	n, filled, pos := le.Uint32(w), le.Uint32(w[4:]), le.Uint32(w[8:])
	if n < 1 || n > MaxWindowSize || filled > n || pos >= n || (filled < n && pos != filled) {
		return false
	}
	nb := bitBytes(int(n))
	if len(w) != countHdr+2*nb {
		return false
	}
	fb, sb := w[countHdr:countHdr+nb], w[countHdr+nb:countHdr+2*nb]
	if i := int(filled >> 3); i < nb {
		// The bits >= filled: the high bits of byte filled/8, then the
		// whole bytes after it.
		if (fb[i]|sb[i])&(byte(0xff)<<(filled&7)) != 0 {
			return false
		}
		for i++; i < nb; i++ {
			if fb[i]|sb[i] != 0 {
				return false
			}
		}
	}
	return true
}

// validTime checks a time window section: [4]B [8]bucket duration ns
// [8]head epoch, then B buckets of [4]calls [4]failures [4]slow with
// failures <= calls and slow <= calls.
func validTime(w []byte) bool {
	if len(w) < timeHdr {
		return false
	}
	nb := le.Uint32(w)
	bd := int64(le.Uint64(w[4:]))
	if nb < 1 || nb > MaxBuckets || bd <= 0 || len(w) != timeHdr+int(nb)*bucketLen {
		return false
	}
	for i := timeHdr; i < len(w); i += bucketLen {
		c := le.Uint32(w[i:])
		if le.Uint32(w[i+4:]) > c || le.Uint32(w[i+8:]) > c {
			return false
		}
	}
	return true
}

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// shape is the window shape of the settings: the window section's length and
// its leading shape fields.
type shape struct {
	_     [0]func() // not comparable: no generated equality in the .wasm
	wtype WindowType
	n     int   // count: calls; time: buckets
	bd    int64 // time: bucket duration in ns
	size  int   // length of the window section
}

func shapeOf(s *Settings) shape {
	if s.Window == TimeWindow {
		b := s.Buckets
		return shape{wtype: TimeWindow, n: b, bd: int64(s.WindowDuration) / int64(b), size: timeHdr + b*bucketLen}
	}
	return shape{wtype: CountWindow, n: s.WindowSize, size: countHdr + 2*bitBytes(s.WindowSize)}
}

// matches reports whether a valid window section w has this shape.
func (sh *shape) matches(wtype WindowType, w []byte) bool {
	if wtype != sh.wtype || len(w) != sh.size || int(le.Uint32(w)) != sh.n {
		return false
	}
	return wtype == CountWindow || int64(le.Uint64(w[4:])) == sh.bd
}

// reset writes an empty window of this shape into w (len sh.size) at now.
func (sh *shape) reset(w []byte, now int64) {
	clear(w)
	le.PutUint32(w, uint32(sh.n))
	if sh.wtype == TimeWindow {
		le.PutUint64(w[4:], uint64(sh.bd))
		le.PutUint64(w[12:], uint64(floorDiv(now, sh.bd)))
	}
}

// add records one outcome in w (a window of this shape) at now.
func (sh *shape) add(w []byte, now int64, failure, slow bool) {
	if sh.wtype == CountWindow {
		n := uint32(sh.n)
		filled, pos := le.Uint32(w[4:]), le.Uint32(w[8:])
		nb := bitBytes(sh.n)
		setBit(w[countHdr:], int(pos), failure)
		setBit(w[countHdr+nb:], int(pos), slow)
		if filled < n {
			filled++
		}
		pos++
		if pos == n {
			pos = 0
		}
		le.PutUint32(w[4:], filled)
		le.PutUint32(w[8:], pos)
		return
	}
	b := int64(sh.n)
	head := int64(le.Uint64(w[12:]))
	cur := floorDiv(now, sh.bd)
	switch {
	case head <= cur-b || head >= cur+b:
		// A gap of a whole window or more (or a newest bucket a whole
		// window ahead: the clock went back): the window restarts at cur.
		// Comparisons written so that no subtraction of two epochs can
		// overflow whatever a record holds.
		clear(w[timeHdr:])
		head = cur
		le.PutUint64(w[12:], uint64(head))
	case cur > head:
		// Zero the buckets of the epochs head+1..cur (fewer than b).
		for e := head + 1; e <= cur; e++ {
			o := timeHdr + int(mod(e, b))*bucketLen
			clear(w[o : o+bucketLen])
		}
		head = cur
		le.PutUint64(w[12:], uint64(head))
	}
	// An outcome from an instant before the newest bucket (clocks of
	// workers a little apart) is counted in the newest bucket.
	o := timeHdr + int(mod(head, b))*bucketLen
	c := le.Uint32(w[o:])
	if c == ^uint32(0) {
		return // saturated bucket (4 billion calls): dropped, failures <= calls still holds
	}
	le.PutUint32(w[o:], c+1)
	if failure {
		le.PutUint32(w[o+4:], le.Uint32(w[o+4:])+1)
	}
	if slow {
		le.PutUint32(w[o+8:], le.Uint32(w[o+8:])+1)
	}
}

// counts returns the calls, failures and slow calls of a window section w
// of this shape as seen at now (nil w: empty).
func (sh *shape) counts(w []byte, now int64) (calls, fails, slow int) {
	if w == nil {
		return 0, 0, 0
	}
	if sh.wtype == CountWindow {
		nb := bitBytes(sh.n)
		return int(le.Uint32(w[4:])), popcount(w[countHdr : countHdr+nb]), popcount(w[countHdr+nb:])
	}
	b := int64(sh.n)
	head := int64(le.Uint64(w[12:]))
	cur := floorDiv(now, sh.bd)
	if head <= cur-b || head >= cur+b {
		return 0, 0, 0 // as add: too old, or a whole window ahead
	}
	cur = max(cur, head)
	// Slot i holds the epoch e <= head with e ≡ i (mod b); it is in the
	// window while cur-e < b.
	for i := int64(0); i < b; i++ {
		e := head - mod(head-i, b)
		if cur-e >= b {
			continue
		}
		o := timeHdr + int(i)*bucketLen
		calls += int(le.Uint32(w[o:]))
		fails += int(le.Uint32(w[o+4:]))
		slow += int(le.Uint32(w[o+8:]))
	}
	return calls, fails, slow
}
