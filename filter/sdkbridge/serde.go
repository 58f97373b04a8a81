//go:build wasip1 && breakwater_bridge

// This file replaces the SDK's internal/serde.go in the build copy
// (scripts/build-wasm.sh copies it over build/sdk/proxywasm/internal/serde.go).
// Same functions, same wire format (proxy-wasm header maps: a count, then a
// key length and a value length per pair, then each key and value followed
// by a NUL byte), but the bytes are moved with copy (one memmove per string)
// instead of the SDK's loop of one byte at a time, which was the largest
// single function in the full policy's profile (the request-header rewrite
// through proxy_set_header_map_pairs).
package internal

import (
	"encoding/binary"
	"unsafe"
)

// DeserializeMap decodes a header map the host wrote. The strings are views
// into bs (no copies), as in the SDK.
func DeserializeMap(bs []byte) [][2]string {
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
// unaligned stores), the strings with copy.
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
	for i := range ms {
		k, v := ms[i][0], ms[i][1]
		*(*uint32)(unsafe.Add(base, sizes)) = uint32(len(k))
		*(*uint32)(unsafe.Add(base, sizes+4)) = uint32(len(v))
		sizes += 8
		data += copy(ret[data:], k)
		ret[data] = 0
		data += copy(ret[data+1:], v) + 1
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
