package filter

import (
	"strconv"
	"strings"
	"unsafe"
)

// The upstream response's headers in the .wasm build are read and written
// as the host's encoding of the map (a count, then a key length and a value
// length per pair as 32-bit little-endian words, then each key and value
// followed by a NUL), without decoding it into a list: the response side
// reads only :status and x-envoy-attempt-count and appends the filter's
// headers (OnHttpResponseHeaders). The functions below are plain Go (tested
// natively); each is one small function without calls in its loop, which
// is what Go's wasm code runs fast.

// What scanWire found (respScan.has).
const (
	hasStatus  uint8 = 1 << iota // :status
	hasAttempt                   // x-envoy-attempt-count
)

// wantedLens has bit l set for the lengths of the names scanWire looks for.
const wantedLens = 1<<len(":status") | 1<<len("x-envoy-attempt-count")

// respScan is what scanWire read of a response's headers: the first
// :status, parsed (parseStatus), and where the first
// x-envoy-attempt-count's value is in the encoding (offsets, not strings:
// nothing for the GC to follow), and the map's size.
type respScan struct {
	_              [0]func() // never compared: no equality function generated (first: a trailing one pads)
	status         int
	attOff, attLen uint32
	has            uint8
	n              int // pairs
	end            int // bytes up to the last pair's NUL: the map's encoding
}

// scanWire walks the encoding of a header map bs, checks it (a map whose
// lengths run past the end of bs is malformed: ok false, as
// DeserializeMapWire decodes it as nil) and finds the first :status and
// x-envoy-attempt-count (names compared as lookup does: a name of another
// case matches too): scanInto into a new respScan.
func scanWire(bs []byte) (r respScan, ok bool) {
	ok = scanInto(&r, bs)
	return r, ok
}

// scanInto is scanWire writing into *r (zeroed first; zero again when bs is
// not a map), so a caller that keeps the result copies nothing. bs's length
// words are read at offsets 4+8i of bs, which the host's buffers (8-byte
// aligned) keep aligned. The loop has one branch a pair: the ends of the
// pairs only grow (lengths below 2^32, at most size/10 pairs: no overflow of
// a 64-bit uintptr; a 32-bit one checks each pair), so the map runs past bs
// exactly when the last pair's end does, checked once after it; a pair of a
// wanted length is looked at only when it is within bs.
func scanInto(r *respScan, bs []byte) bool {
	*r = respScan{}
	if len(bs) < 4 {
		return false
	}
	base := unsafe.Pointer(unsafe.SliceData(bs))
	size := uintptr(len(bs))
	n := uintptr(*(*uint32)(base))
	// Each pair takes at least 10 bytes (n < 2^32: 10n overflows only a
	// 32-bit uintptr, which divides).
	if 10*n > size-4 || unsafe.Sizeof(size) < 8 && n > (size-4)/10 {
		return false
	}
	data := 4 + 8*n
	for sizes := uintptr(4); sizes < 4+8*n; sizes += 8 {
		kl := uintptr(*(*uint32)(unsafe.Add(base, sizes)))
		vl := uintptr(*(*uint32)(unsafe.Add(base, sizes+4)))
		next := data + kl + vl + 2
		if unsafe.Sizeof(size) < 8 && next > size { // a 32-bit uintptr could overflow
			*r = respScan{}
			return false
		}
		// kl is a wanted length (checked exactly below) and the pair ends
		// within bs.
		if wantedLens>>(kl&63)&1 != 0 && next <= size {
			p := unsafe.Add(base, data)
			if vl == 3 && kl == uintptr(len(":status")) && r.has&hasStatus == 0 && statusAt(p) {
				// The first :status as Envoy writes it (found's first
				// case), of three bytes: parseStatus's digits, no call.
				v := unsafe.Add(p, len(":status")+1)
				d0, d1, d2 := *(*byte)(v)-'0', *(*byte)(unsafe.Add(v, 1))-'0', *(*byte)(unsafe.Add(v, 2))-'0'
				r.status, r.has = int(d0)*100+int(d1)*10+int(d2), r.has|hasStatus
				if max(d0, d1, d2) > 9 {
					r.status = parseStatus(v, vl)
				}
			} else if kl == uintptr(len("x-envoy-attempt-count")) && r.has&hasAttempt == 0 && attemptAt(p) {
				// The first x-envoy-attempt-count as Envoy writes it
				// (found's second case), without a call.
				r.attOff, r.attLen, r.has = uint32(data+kl+1), uint32(vl), r.has|hasAttempt
			} else {
				r.found(base, data, kl, vl)
			}
		}
		data = next
	}
	if data > size {
		*r = respScan{}
		return false
	}
	r.n, r.end = int(n), int(data)
	return true
}

// found notes the pair at base+off (key of kl bytes, a NUL, value of vl
// bytes) if it is the first :status or x-envoy-attempt-count. The names are
// ASCII: a key of their length in bytes that equals one of them under
// strings.EqualFold is ASCII too and starts with the same character folded
// (':' or 'x'), so only such a key that is not the name as Envoy writes it
// (lower case: statusAt, attemptAt) is compared with EqualFold.
func (r *respScan) found(base unsafe.Pointer, off, kl, vl uintptr) {
	p := unsafe.Add(base, off)
	c := *(*byte)(p)
	if kl == uintptr(len(":status")) {
		if r.has&hasStatus == 0 && (statusAt(p) || c == ':' && foldAt(p, kl, ":status")) {
			r.status, r.has = parseStatus(unsafe.Add(p, kl+1), vl), r.has|hasStatus
		}
		return
	}
	if kl == uintptr(len("x-envoy-attempt-count")) && r.has&hasAttempt == 0 &&
		(attemptAt(p) || c|0x20 == 'x' && foldAt(p, kl, "x-envoy-attempt-count")) {
		r.attOff, r.attLen, r.has = uint32(off+kl+1), uint32(vl), r.has|hasAttempt
	}
}

// foldAt says whether the kl bytes at p equal name under strings.EqualFold.
func foldAt(p unsafe.Pointer, kl uintptr, name string) bool {
	return strings.EqualFold(unsafe.String((*byte)(p), kl), name)
}

// parseStatus is strconv.Atoi of the vl bytes at p, 0 when they are not a
// number (as readOutcome has always read :status); three digits, what
// Envoy writes, without a call.
func parseStatus(p unsafe.Pointer, vl uintptr) int {
	if vl == 3 {
		d0, d1, d2 := *(*byte)(p)-'0', *(*byte)(unsafe.Add(p, 1))-'0', *(*byte)(unsafe.Add(p, 2))-'0'
		if d0 <= 9 && d1 <= 9 && d2 <= 9 {
			return int(d0)*100 + int(d1)*10 + int(d2)
		}
	}
	return atoiOr0(unsafe.String((*byte)(p), vl))
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// statusWords and attemptWords say whether the bytes at p are ":status"
// and "x-envoy-attempt-count", comparing little-endian words (overlapping
// at the end) instead of bytes: Go's wasm code compares strings byte by
// byte (memeqbody), and wasm loads may be unaligned (natively, checkptr of
// -race refuses them: the native build compares strings, resp_other.go).
func statusWords(p unsafe.Pointer) bool {
	return *(*uint32)(p) == 0x6174733a && *(*uint32)(unsafe.Add(p, 3)) == 0x73757461
}

func attemptWords(p unsafe.Pointer) bool {
	return *(*uint64)(p) == 0x2d796f766e652d78 && *(*uint64)(unsafe.Add(p, 8)) == 0x2d74706d65747461 &&
		*(*uint64)(unsafe.Add(p, 13)) == 0x746e756f632d7470
}

// encodeWire returns the encoding of the map wire holds (s: scanWire's
// result of it; its first s.end bytes are copied, the length words and the
// data in one memmove each), then the pair pre encodes (its key of preKey
// bytes, a NUL, its value, a NUL: prePolicy), then extra's pairs, written
// into buf when it is large enough (else into a new buffer, returned for
// reuse). The offsets are within the buffer sized first (wire holds s.end
// bytes): the copies are memmoves without bounds checks, which Go's wasm
// code would pay for in every branch of the function.
func encodeWire(buf, wire []byte, s *respScan, pre string, preKey int, extra [][2]string) []byte {
	hdr := 4 + 8*uintptr(s.n)
	end := uintptr(s.end)
	size := end + 8 + uintptr(len(pre))
	for i := range extra {
		size += uintptr(len(extra[i][0]) + len(extra[i][1]) + 10)
	}
	if uintptr(cap(buf)) < size {
		buf = make([]byte, max(size, 2*uintptr(cap(buf))))
	}
	out := buf[:size]
	o := unsafe.Pointer(unsafe.SliceData(out))
	w := unsafe.Pointer(unsafe.SliceData(wire))
	*(*uint32)(o) = uint32(s.n + 1 + len(extra))
	memmove(unsafe.Add(o, 4), unsafe.Add(w, 4), hdr-4)
	*(*uint32)(unsafe.Add(o, hdr)) = uint32(preKey)
	*(*uint32)(unsafe.Add(o, hdr+4)) = uint32(len(pre) - preKey - 2)
	sizes := hdr + 8
	data := sizes + 8*uintptr(len(extra))
	memmove(unsafe.Add(o, data), unsafe.Add(w, hdr), end-hdr)
	data += end - hdr
	memmove(unsafe.Add(o, data), unsafe.Pointer(unsafe.StringData(pre)), uintptr(len(pre)))
	data += uintptr(len(pre))
	for i := range extra {
		k, v := extra[i][0], extra[i][1]
		kl, vl := uintptr(len(k)), uintptr(len(v))
		*(*uint32)(unsafe.Add(o, sizes)) = uint32(kl)
		*(*uint32)(unsafe.Add(o, sizes+4)) = uint32(vl)
		sizes += 8
		p := unsafe.Add(o, data)
		memmove(p, unsafe.Pointer(unsafe.StringData(k)), kl)
		*(*byte)(unsafe.Add(p, kl)) = 0
		memmove(unsafe.Add(p, kl+1), unsafe.Pointer(unsafe.StringData(v)), vl)
		*(*byte)(unsafe.Add(p, kl+1+vl)) = 0
		data += kl + vl + 2
	}
	return out
}

// encodeWireBlock returns the encoding of the map wire holds (s: scanWire's
// result of it), then the pairs encoded ahead in blk (the rate limit's,
// x-breakwater-policy's pair first: rlWire), written into buf when it is
// large enough (else into a new buffer, returned for reuse): encodeWire
// with its pairs already encoded, four memmoves.
func encodeWireBlock(buf, wire []byte, s *respScan, blk *rlWire) []byte {
	hdr := 4 + 8*uintptr(s.n)
	end := uintptr(s.end)
	sizes := uintptr(len(blk.sizes))
	size := end + sizes + blk.n
	if uintptr(cap(buf)) < size {
		buf = make([]byte, max(size, 2*uintptr(cap(buf))))
	}
	out := buf[:size]
	o := unsafe.Pointer(unsafe.SliceData(out))
	w := unsafe.Pointer(unsafe.SliceData(wire))
	*(*uint32)(o) = uint32(s.n + rlWirePairs)
	memmove(unsafe.Add(o, 4), unsafe.Add(w, 4), hdr-4)
	memmove(unsafe.Add(o, hdr), unsafe.Pointer(&blk.sizes), sizes)
	at := hdr + sizes
	memmove(unsafe.Add(o, at), unsafe.Add(w, hdr), end-hdr)
	memmove(unsafe.Add(o, at+end-hdr), unsafe.Pointer(&blk.data), blk.n)
	return out
}

// prePolicy is x-breakwater-policy: name encoded for encodeWire (with
// preKey len("x-breakwater-policy")), once per policy.
func prePolicy(name string) string { return "x-breakwater-policy\x00" + name + "\x00" }

// memmove is the runtime's (what copy calls), without copy's bounds checks.
//
//go:linkname memmove runtime.memmove
//go:noescape
func memmove(to, from unsafe.Pointer, n uintptr)
