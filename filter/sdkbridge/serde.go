//go:build wasip1 && breakwater_bridge

// This file replaces the SDK's internal/serde.go in the build copy
// (scripts/build-wasm.sh copies it over build/sdk/proxywasm/internal/serde.go).
// Same functions, same wire format (proxy-wasm header maps: a count, then a
// key length and a value length per pair, then each key and value followed
// by a NUL byte), but:
//   - DeserializeMapWire decodes into a caller's slice with whole-word loads
//     and returns the map's encoding too (DeserializeMap: into a new slice);
//   - SerializeMap copies the bytes with copy (one memmove per string, not
//     the SDK's loop of one byte at a time), into reused buffers;
//   - SerializeWire encodes a map read so with pairs appended (the filter's
//     request headers are written by ReplaceRequestHeadersBlock, ext.go,
//     from an encoding made beforehand), copying the
//     map's pairs from its encoding in two memmoves.
package internal

import (
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

// DeserializeMap decodes a header map the host wrote. The strings are views
// into bs (no copies), as in the SDK; a malformed map decodes as nil.
func DeserializeMap(bs []byte) [][2]string {
	ret, _ := DeserializeMapWire(nil, bs)
	return ret
}

// DeserializeMapWire decodes a header map the host wrote into dst's array
// when it has room for the map (else, or when dst is nil, into a new
// slice), and returns the map's encoding: bs up to the last pair's NUL, the
// wire SerializeWire accepts. The strings are views into bs. A malformed map
// (lengths past the end of bs) decodes as nil, nil.
func DeserializeMapWire(dst [][2]string, bs []byte) ([][2]string, []byte) {
	if len(bs) < 4 {
		return nil, nil
	}
	base := unsafe.Pointer(&bs[0])
	n := uintptr(*(*uint32)(base))
	size := uintptr(len(bs))
	if n > (size-4)/10 { // each pair takes at least 10 bytes
		return nil, nil
	}
	ret := dst
	if ret == nil || uintptr(cap(ret)) < n {
		ret = make([][2]string, n)
	}
	ret = ret[:n]
	sizes := uintptr(4)
	data := 4 + 8*n
	for i := range ret {
		kl := uintptr(*(*uint32)(unsafe.Add(base, sizes)))
		vl := uintptr(*(*uint32)(unsafe.Add(base, sizes+4)))
		sizes += 8
		if kl > size || vl > size || data+kl+vl+2 > size {
			return nil, nil
		}
		ret[i] = [2]string{view(unsafe.Add(base, data), kl), view(unsafe.Add(base, data+kl+1), vl)}
		data += kl + vl + 2
	}
	return ret, bs[:data]
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

// SerializeMap encodes a header map for the host.
func SerializeMap(ms [][2]string) []byte { return SerializeWire(nil, ms) }

// memmove is the runtime's (memory.copy in wasm): SerializeWire calls it
// on pointers, without the bounds checks and slice headers of copy.
//
//go:linkname memmove runtime.memmove
//go:noescape
func memmove(to, from unsafe.Pointer, n uintptr)

// SerializeWire encodes the map wire holds (an encoding DeserializeMapWire
// returned; nil: none) followed by extra: wire's pairs are copied in two
// memmoves (their sizes, their data), each pair of extra's lengths is one
// little-endian store (wasm memory is little-endian and allows unaligned
// stores), its strings are memmoved.
func SerializeWire(wire []byte, extra [][2]string) []byte {
	n, hdr, wl := uintptr(0), uintptr(4), uintptr(len(wire))
	var wp unsafe.Pointer
	if wl >= 4 {
		wp = unsafe.Pointer(&wire[0])
		n = uintptr(*(*uint32)(wp))
		hdr = 4 + 8*n
		if hdr > wl {
			wp, n, hdr = nil, 0, 4
		}
	}
	size := uintptr(4)
	if wp != nil {
		size = wl
	}
	ne := uintptr(len(extra))
	for i := range extra {
		size += uintptr(len(extra[i][0]) + len(extra[i][1]) + 10)
	}
	ret := serBuf(int(size))
	base := unsafe.Pointer(&ret[0])
	*(*uint32)(base) = uint32(n + ne)
	sizes := unsafe.Add(base, 4+8*n)
	data := unsafe.Add(base, 4+8*(n+ne))
	if wp != nil {
		memmove(unsafe.Add(base, 4), unsafe.Add(wp, 4), 8*n)
		memmove(data, unsafe.Add(wp, hdr), wl-hdr)
		data = unsafe.Add(data, wl-hdr)
	}
	for i := range extra {
		k, v := extra[i][0], extra[i][1]
		kh, vh := (*strHdr)(unsafe.Pointer(&k)), (*strHdr)(unsafe.Pointer(&v))
		*(*uint64)(sizes) = uint64(kh.n) | uint64(vh.n)<<32
		sizes = unsafe.Add(sizes, 8)
		memmove(data, kh.p, uintptr(kh.n))
		data = unsafe.Add(data, kh.n)
		*(*byte)(data) = 0
		memmove(unsafe.Add(data, 1), vh.p, uintptr(vh.n))
		data = unsafe.Add(data, vh.n+1)
		*(*byte)(data) = 0
		data = unsafe.Add(data, 1)
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
