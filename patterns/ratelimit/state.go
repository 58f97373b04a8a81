package ratelimit

import "encoding/binary"

// State encodings (layouts in doc.go). Byte 0 of every state is a tag,
// stateVersion<<4 | algorithm; then one little-endian int64 instant; then
// unsigned LEB128 varints (encoding/binary's Uvarint). Anything that does not
// decode exactly, with every value in range, is corrupt and read as a fresh
// state.
const stateVersion = 1

func tagOf(a Algorithm) byte { return stateVersion<<4 | byte(a) }

// maxStateCount bounds every count held in a state.
const maxStateCount = uint64(MaxCount)

// header checks the tag and reads the instant after it.
func header(st []byte, a Algorithm) (int64, []byte, bool) {
	if len(st) < 9 || st[0] != tagOf(a) {
		return 0, nil, false
	}
	t := int64(binary.LittleEndian.Uint64(st[1:9]))
	if t < 0 || t > maxStateTime {
		return 0, nil, false
	}
	return t, st[9:], true
}

// uvarint reads one count in [0, limit].
func uvarint(b []byte, limit uint64) (uint64, []byte, bool) {
	v, k := binary.Uvarint(b)
	if k <= 0 || v > limit {
		return 0, nil, false
	}
	return v, b[k:], true
}

func appendHeader(dst []byte, a Algorithm, t int64) []byte {
	dst = append(dst, tagOf(a))
	return binary.LittleEndian.AppendUint64(dst, uint64(t))
}

// normRem folds a remainder read from a state written under another
// requests value (a tier switch) into [0, r): a remainder that does not fit
// rounds the instant up to the next nanosecond.
func (q *params) normRem(v vt) vt {
	if v.rem >= q.r {
		v.ns++
		v.rem = 0
	}
	return v
}

// decodeTB reads a token_bucket state: [tag][8: last][uvarint rem][uvarint tokens].
func (q *params) decodeTB(st []byte) (last vt, w uint64, ok bool) {
	ns, rest, ok := header(st, TokenBucket)
	if !ok {
		return vt{}, 0, false
	}
	rem, rest, ok := uvarint(rest, maxStateCount)
	if !ok {
		return vt{}, 0, false
	}
	w, rest, ok = uvarint(rest, maxStateCount)
	if !ok || len(rest) != 0 {
		return vt{}, 0, false
	}
	return q.normRem(vt{ns, rem}), min(w, q.b), true
}

func appendTB(dst []byte, last vt, w uint64) []byte {
	dst = appendHeader(dst, TokenBucket, last.ns)
	dst = binary.AppendUvarint(dst, last.rem)
	return binary.AppendUvarint(dst, w)
}

// decodeTAT reads a gcra or leaky_bucket state: [tag][8: tat][uvarint rem].
func (q *params) decodeTAT(st []byte) (vt, bool) {
	ns, rest, ok := header(st, q.alg)
	if !ok {
		return vt{}, false
	}
	rem, rest, ok := uvarint(rest, maxStateCount)
	if !ok || len(rest) != 0 {
		return vt{}, false
	}
	return q.normRem(vt{ns, rem}), true
}

func appendTAT(dst []byte, a Algorithm, tat vt) []byte {
	dst = appendHeader(dst, a, tat.ns)
	return binary.AppendUvarint(dst, tat.rem)
}

// decodeFixed reads a fixed_window state: [tag][8: window end][uvarint count].
func decodeFixed(st []byte) (end int64, count uint64, ok bool) {
	end, rest, ok := header(st, FixedWindow)
	if !ok {
		return 0, 0, false
	}
	count, rest, ok = uvarint(rest, maxStateCount)
	if !ok || len(rest) != 0 {
		return 0, 0, false
	}
	return end, count, true
}

func appendFixed(dst []byte, end int64, count uint64) []byte {
	dst = appendHeader(dst, FixedWindow, end)
	return binary.AppendUvarint(dst, count)
}

// ring is a decoded sliding_window state: c[i] counts the requests admitted
// in the sub-window starting at start - i×sw.
type ring struct {
	start int64
	sw    int64
	c     [SubWindows + 1]uint64
}

// decodeSliding reads [tag][8: start][uvarint sw][uvarint c0]...[uvarint ck],
// k <= SubWindows (trailing zero counters are not written).
func decodeSliding(st []byte) (r ring, ok bool) {
	start, rest, ok := header(st, SlidingWindow)
	if !ok {
		return r, false
	}
	sw, rest, ok := uvarint(rest, uint64(maxSub))
	if !ok || sw == 0 {
		return r, false
	}
	r.start, r.sw = start, int64(sw)
	for i := 0; len(rest) > 0; i++ {
		if i > SubWindows {
			return r, false
		}
		r.c[i], rest, ok = uvarint(rest, maxStateCount)
		if !ok {
			return r, false
		}
	}
	return r, true
}

func appendSliding(dst []byte, r *ring) []byte {
	dst = appendHeader(dst, SlidingWindow, r.start)
	dst = binary.AppendUvarint(dst, uint64(r.sw))
	k := len(r.c)
	for k > 0 && r.c[k-1] == 0 {
		k--
	}
	for _, c := range r.c[:k] {
		dst = binary.AppendUvarint(dst, c)
	}
	return dst
}
