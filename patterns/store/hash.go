package store

import (
	"encoding/binary"
	"math/bits"
)

// HashKey is the 128-bit secret that keys a Table's set hash (and any other
// hash of client-chosen keys). The filter draws it once per deployment from
// WASI random_get and keeps it in shared data, so every VM and every reload
// uses the same one; without it (the zero HashKey) anyone can compute which
// keys share a set.
type HashKey [2]uint64

// HashKeyFromBytes reads a HashKey from 16 bytes (little-endian); ok is
// false when b is not 16 bytes long.
func HashKeyFromBytes(b []byte) (HashKey, bool) {
	if len(b) != 16 {
		return HashKey{}, false
	}
	return HashKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, true
}

// Bytes is the 16-byte encoding read by HashKeyFromBytes.
func (k HashKey) Bytes() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, k[0])
	binary.LittleEndian.PutUint64(b[8:], k[1])
	return b
}

// Sum is SipHash-1-3 of s under k (one compression round per 8 bytes,
// three finalization rounds: the variant hash tables use, e.g. Rust's
// standard library): a keyed pseudo-random function, so without k finding
// keys that collide costs as much as guessing. It reads s in place and does
// not allocate.
func (k HashKey) Sum(s string) uint64 {
	v0 := k[0] ^ 0x736f6d6570736575
	v1 := k[1] ^ 0x646f72616e646f6d
	v2 := k[0] ^ 0x6c7967656e657261
	v3 := k[1] ^ 0x7465646279746573
	n := len(s)
	i := 0
	for ; i+8 <= n; i += 8 {
		m := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	last := uint64(n&0xff) << 56
	for j := 0; i+j < n; j++ {
		last |= uint64(s[i+j]) << (8 * j)
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipRound is one SipRound (small enough to be inlined).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
