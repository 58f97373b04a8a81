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
	if len(bs) < 4 {
		return deserializeChecked(bs) // malformed: fails as the SDK's would
	}
	base := unsafe.Pointer(&bs[0])
	n := uint64(*(*uint32)(base))
	// Every length is checked once against the buffer: the sizes, then all
	// the strings with their NULs.
	need := 4 + 8*n
	if need > uint64(len(bs)) {
		return deserializeChecked(bs)
	}
	for i := uint64(0); i < n; i++ {
		p := unsafe.Add(base, 4+8*i)
		need += uint64(*(*uint32)(p)) + uint64(*(*uint32)(unsafe.Add(p, 4))) + 2
	}
	if need > uint64(len(bs)) {
		return deserializeChecked(bs)
	}
	var ret [][2]string
	if dst != nil && uint64(cap(dst)) >= n {
		ret = dst[:n]
	} else {
		ret = make([][2]string, n)
	}
	sizes := uintptr(4)
	data := uintptr(4 + 8*n)
	for i := range ret {
		kl := uintptr(*(*uint32)(unsafe.Add(base, sizes)))
		vl := uintptr(*(*uint32)(unsafe.Add(base, sizes+4)))
		sizes += 8
		ret[i][0] = view(unsafe.Add(base, data), kl)
		data += kl + 1
		ret[i][1] = view(unsafe.Add(base, data), vl)
		data += vl + 1
	}
	return ret
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
	var ret []byte
	if size <= serBufMax {
		b := serBufs[serNext]
		if cap(b) < size {
			b = make([]byte, serBufMax)
			serBufs[serNext] = b
		}
		serNext ^= 1
		ret = b[:size]
	} else {
		ret = make([]byte, size)
	}
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
