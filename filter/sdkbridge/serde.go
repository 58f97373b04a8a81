//go:build wasip1 && breakwater_bridge

// This file replaces the SDK's internal/serde.go in the build copy
// (scripts/build-wasm.sh copies it over build/sdk/proxywasm/internal/serde.go).
// Same functions, same wire format (proxy-wasm header maps: a count, then a
// key length and a value length per pair, then each key and value followed
// by a NUL byte), but:
//   - DeserializeMap reads the lengths with whole-word loads after one check
//     of the total, and DeserializeMapInto decodes into a caller's slice;
//   - SerializeMap copies the bytes with copy (one memmove per string, not
//     the SDK's loop of one byte at a time), and pairs that already lie in
//     memory in the wire layout (views of a map the host wrote, in order:
//     the filter writes back the headers it read) in one memmove per run.
package internal

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// strHdr is the layout of a string header.
type strHdr struct {
	p unsafe.Pointer
	n int
}

func view(p unsafe.Pointer, n uintptr) string {
	return *(*string)(unsafe.Pointer(&strHdr{p, int(n)}))
}

func strPtr(s string) unsafe.Pointer { return (*strHdr)(unsafe.Pointer(&s)).p }

// DeserializeMap decodes a header map the host wrote. The strings are views
// into bs (no copies), as in the SDK.
func DeserializeMap(bs []byte) [][2]string { return DeserializeMapInto(nil, bs) }

// DeserializeMapInto is DeserializeMap decoding into dst's array when it has
// room for the map (else, or when dst is nil, into a new slice). The strings
// are views into bs.
func DeserializeMapInto(dst [][2]string, bs []byte) [][2]string {
	ret, _ := DeserializeMapWire(dst, bs)
	return ret
}

// DeserializeMapWire is DeserializeMapInto that also returns the map's
// encoding: bs up to the last pair's NUL, the wire SerializeWire accepts.
func DeserializeMapWire(dst [][2]string, bs []byte) ([][2]string, []byte) {
	if len(bs) < 4 {
		return deserializeChecked(bs), nil // malformed: fails as the SDK's would
	}
	base := unsafe.Pointer(&bs[0])
	n := uintptr(*(*uint32)(base))
	size := uintptr(len(bs))
	if n > (size-4)/10 { // each pair takes at least 10 bytes
		return deserializeChecked(bs), nil
	}
	var ret [][2]string
	if dst != nil && uintptr(cap(dst)) >= n {
		ret = dst[:n]
	} else {
		ret = make([][2]string, n)
	}
	sizes := uintptr(4)
	data := 4 + 8*n
	for i := range ret {
		kl := uintptr(*(*uint32)(unsafe.Add(base, sizes)))
		vl := uintptr(*(*uint32)(unsafe.Add(base, sizes+4)))
		sizes += 8
		if kl > size || vl > size || data+kl+vl+2 > size {
			return deserializeChecked(bs), nil
		}
		ret[i] = [2]string{view(unsafe.Add(base, data), kl), view(unsafe.Add(base, data+kl+1), vl)}
		data += kl + vl + 2
	}
	return ret, bs[:data]
}

// deserializeChecked is the decoder with a bounds check on every slice: a
// malformed map panics here, as in the SDK.
func deserializeChecked(bs []byte) [][2]string {
	n := int(binary.LittleEndian.Uint32(bs[0:4]))
	sizes := 4
	data := 4 + 8*n
	ret := make([][2]string, n)
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(bs[sizes : sizes+4]))
		vl := int(binary.LittleEndian.Uint32(bs[sizes+4 : sizes+8]))
		sizes += 8
		k := bs[data : data+kl]
		data += kl + 1
		v := bs[data : data+vl]
		data += vl + 1
		ret[i] = [2]string{*(*string)(unsafe.Pointer(&k)), *(*string)(unsafe.Pointer(&v))}
	}
	return ret
}

// serBufs are SerializeMap's reused buffers, used in turn. Every caller in
// the SDK (setMap, SendHttpResponse, DispatchHttpCall) passes the result
// to the host call that follows at once and never keeps it; a host reads a
// call's arguments before anything else, so a buffer is free again by the
// next SerializeMap. Two, because DispatchHttpCall serialises its headers
// and trailers before its one host call. Maps larger than serBufMax get a
// buffer of their own (a VM keeps at most 2 × serBufMax).
var (
	serBufs [2][]byte
	serNext int
)

const serBufMax = 4096

// SerializeMap encodes a header map for the host. The lengths are stored
// as whole little-endian words (wasm memory is little-endian and allows
// unaligned stores).
//
// The data part of consecutive pairs is copied in one memmove when the
// pairs already lie in memory as they are encoded: each value starts one
// byte after its key, each key one byte after the previous value, and the
// bytes in between are NUL (as in a map the host wrote, which
// DeserializeMap's views point into). Only bytes between two strings of a
// run are read (inside linear memory); a run's last NUL is written, not
// read. Other pairs (and pairs with an empty key or value) are copied
// string by string.
func SerializeMap(ms [][2]string) []byte {
	size := 4
	for i := range ms {
		size += len(ms[i][0]) + len(ms[i][1]) + 10 // two lengths, two NULs
	}
	ret := serBuf(size)
	base := unsafe.Pointer(&ret[0])
	*(*uint32)(base) = uint32(len(ms))
	sizes := uintptr(4)
	data := 4 + 8*len(ms)
	// The current run: source bytes [run, end) go to ret[runAt:]; end is
	// one past the run's last value (its NUL is not read).
	var run, end unsafe.Pointer
	runAt := 0
	for i := range ms {
		k, v := ms[i][0], ms[i][1]
		*(*uint32)(unsafe.Add(base, sizes)) = uint32(len(k))
		*(*uint32)(unsafe.Add(base, sizes+4)) = uint32(len(v))
		sizes += 8
		kp, vp := strPtr(k), strPtr(v)
		inPlace := len(k) > 0 && len(v) > 0 && vp == unsafe.Add(kp, len(k)+1) && *(*byte)(unsafe.Add(kp, len(k))) == 0
		if inPlace && run != nil && kp == unsafe.Add(end, 1) && *(*byte)(end) == 0 {
			end = unsafe.Add(vp, len(v)) // joins the run
			continue
		}
		if run != nil { // close the run
			n := int(uintptr(end) - uintptr(run))
			runAt += copy(ret[runAt:runAt+n], unsafe.Slice((*byte)(run), n))
			ret[runAt] = 0
			data = runAt + 1
			run = nil
		}
		if inPlace {
			run, end, runAt = kp, unsafe.Add(vp, len(v)), data
			continue
		}
		data += copy(ret[data:], k)
		ret[data] = 0
		data += copy(ret[data+1:], v) + 1
		ret[data] = 0
		data++
	}
	if run != nil {
		n := int(uintptr(end) - uintptr(run))
		runAt += copy(ret[runAt:runAt+n], unsafe.Slice((*byte)(run), n))
		ret[runAt] = 0
	}
	return ret
}

// serBuf returns the next reused buffer of size bytes (see serBufs).
func serBuf(size int) []byte {
	if size > serBufMax {
		return make([]byte, size)
	}
	b := serBufs[serNext]
	if cap(b) < size {
		b = make([]byte, serBufMax)
		serBufs[serNext] = b
	}
	serNext ^= 1
	return b[:size]
}

// SerializeWire encodes the map wire holds (an encoding DeserializeMapWire
// returned) without the pairs whose bit is set in skip (bit i: pair i; pairs
// from the 65th on are always kept), followed by extra. Kept pairs are
// copied from wire in runs: one memmove for the sizes and one for the data
// of consecutive kept pairs, the whole map in two when skip is 0.
func SerializeWire(wire []byte, skip uint64, extra [][2]string) []byte {
	var n uintptr
	if len(wire) >= 4 {
		n = uintptr(binary.LittleEndian.Uint32(wire))
	}
	hdr := 4 + 8*n
	if hdr > uintptr(len(wire)) {
		wire, n, hdr, skip = nil, 0, 4, 0 // not a map's encoding: only extra
	}
	// pairLen is the data of pair i: its key, its value and their NULs.
	pairLen := func(i uintptr) uintptr {
		p := unsafe.Add(unsafe.Pointer(&wire[0]), 4+8*i)
		return uintptr(*(*uint32)(p)) + uintptr(*(*uint32)(unsafe.Add(p, 4))) + 2
	}
	kept := n
	dataLen := uintptr(len(wire)) - hdr
	if len(wire) == 0 {
		dataLen = 0
	}
	for c := skip; c != 0; c &= c - 1 {
		i := uintptr(bits.TrailingZeros64(c))
		if i >= n {
			break
		}
		kept--
		dataLen -= pairLen(i)
	}
	size := 4 + 8*kept + dataLen
	for i := range extra {
		size += uintptr(len(extra[i][0]) + len(extra[i][1]) + 10)
	}
	ret := serBuf(int(size))
	base := unsafe.Pointer(&ret[0])
	*(*uint32)(base) = uint32(kept) + uint32(len(extra))
	sizes := uintptr(4)
	data := 4 + 8*(kept+uintptr(len(extra)))
	if skip == 0 {
		sizes += uintptr(copy(ret[4:], wire[4:hdr]))
		data += uintptr(copy(ret[data:], wire[hdr:]))
	} else {
		src := hdr
		for i := uintptr(0); i < n; {
			j, run := i, uintptr(0) // pairs [i, j) kept, run bytes of data
			for j < n && (j >= 64 || skip&(1<<j) == 0) {
				run += pairLen(j)
				j++
			}
			sizes += uintptr(copy(ret[sizes:], wire[4+8*i:4+8*j]))
			data += uintptr(copy(ret[data:], wire[src:src+run]))
			src += run
			if j < n { // pair j is skipped
				src += pairLen(j)
			}
			i = j + 1
		}
	}
	for i := range extra {
		k, v := extra[i][0], extra[i][1]
		*(*uint32)(unsafe.Add(base, sizes)) = uint32(len(k))
		*(*uint32)(unsafe.Add(base, sizes+4)) = uint32(len(v))
		sizes += 8
		data += uintptr(copy(ret[data:], k))
		ret[data] = 0
		data += uintptr(copy(ret[data+1:], v)) + 1
		ret[data] = 0
		data++
	}
	return ret
}

// SerializePropertyPath joins the segments of a property path with NULs.
func SerializePropertyPath(path []string) []byte {
	if len(path) == 0 {
		return []byte{}
	}
	size := len(path) - 1
	for _, p := range path {
		size += len(p)
	}
	ret := make([]byte, size)
	at := 0
	for i, p := range path {
		if i > 0 {
			at++ // NUL
		}
		at += copy(ret[at:], p)
	}
	return ret
}
