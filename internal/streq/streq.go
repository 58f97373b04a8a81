// Package streq compares strings without Go's wasm memequal, which compares
// one byte at a time (about 25 wasm instructions a byte): Equal and
// FoldEqual load 8, 4, 2 or 1 bytes at once (wasm loads need no alignment),
// so a header name of 30 bytes costs a few loads instead of 750
// instructions. On other architectures Equal is ==.
package streq

import "unsafe"

// words says whether the n bytes at p and q are equal, where a byte of p
// is first OR-ed with the byte of f at the same offset (f: nil, no mask;
// else n bytes). The loads may overlap; n > 0.
func words(p, q, f unsafe.Pointer, n int) bool {
	if n >= 8 {
		for i := 0; ; i += 8 {
			if i > n-8 {
				i = n - 8
			}
			m := uint64(0)
			if f != nil {
				m = *(*uint64)(unsafe.Add(f, i))
			}
			if *(*uint64)(unsafe.Add(p, i))|m != *(*uint64)(unsafe.Add(q, i)) {
				return false
			}
			if i == n-8 {
				return true
			}
		}
	}
	if n >= 4 {
		var m0, m1 uint32
		if f != nil {
			m0, m1 = *(*uint32)(f), *(*uint32)(unsafe.Add(f, n-4))
		}
		return *(*uint32)(p)|m0 == *(*uint32)(q) && *(*uint32)(unsafe.Add(p, n-4))|m1 == *(*uint32)(unsafe.Add(q, n-4))
	}
	if n >= 2 {
		var m0, m1 uint16
		if f != nil {
			m0, m1 = *(*uint16)(f), *(*uint16)(unsafe.Add(f, n-2))
		}
		return *(*uint16)(p)|m0 == *(*uint16)(q) && *(*uint16)(unsafe.Add(p, n-2))|m1 == *(*uint16)(unsafe.Add(q, n-2))
	}
	m := byte(0)
	if f != nil {
		m = *(*byte)(f)
	}
	return *(*byte)(p)|m == *(*byte)(q)
}

// equalWords is Equal with word loads.
func equalWords(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	if n == 0 {
		return true
	}
	p, q := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	return p == q || words(p, q, nil, n)
}

// Fold is the case mask of a lower-case ASCII string (Mask): 0x20 where it
// holds a letter, 0 elsewhere.
type Fold struct {
	s, m string
	// For a string of 4 to 16 bytes, W0 and W1 are its first and last 8
	// bytes (4 for fewer than 8) and M0 and M1 their masks: EqualAt then
	// needs no loop, and a caller can inline the comparison (Short).
	W0, W1, M0, M1 uint64
}

// Mask returns the Fold of s, and false when s is not lower-case ASCII (no
// byte >= 0x80, none in A-Z).
func Mask(s string) (Fold, bool) {
	m := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return Fold{}, false
		}
		if 'a' <= c && c <= 'z' {
			m[i] = 0x20
		}
	}
	f := Fold{s: s, m: string(m)}
	n := len(s)
	switch {
	case n >= 8 && n <= 16:
		f.W0, f.M0 = le(s[:8]), le(string(m[:8]))
		f.W1, f.M1 = le(s[n-8:]), le(string(m[n-8:]))
	case n >= 4 && n < 8:
		f.W0, f.M0 = le(s[:4]), le(string(m[:4]))
		f.W1, f.M1 = le(s[n-4:]), le(string(m[n-4:]))
	}
	return f, true
}

// le is the little-endian value of up to 8 bytes.
func le(b string) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// String is the string f was made of.
func (f *Fold) String() string { return f.s }

// Len is its length.
func (f *Fold) Len() int { return len(f.s) }

// EqualAt says whether the f.Len() bytes at p equal f's string up to ASCII
// case: strings.EqualFold of the two, since for a lower-case ASCII string
// of the same length Unicode folding is ASCII folding (a multi-byte rune
// leaves fewer runes than bytes). p must have f.Len() readable bytes; f is
// not empty.
func (f *Fold) EqualAt(p unsafe.Pointer) bool {
	if n := len(f.s); n >= 8 && n <= 16 { // inlined: two loads
		return *(*uint64)(p)|f.M0 == f.W0 && *(*uint64)(unsafe.Add(p, n-8))|f.M1 == f.W1
	}
	return f.equalAt(p)
}

// equalAt is EqualAt for the other lengths.
func (f *Fold) equalAt(p unsafe.Pointer) bool {
	if n := len(f.s); n >= 4 && n < 8 {
		return uint64(*(*uint32)(p))|f.M0 == f.W0 && uint64(*(*uint32)(unsafe.Add(p, n-4)))|f.M1 == f.W1
	}
	return words(p, unsafe.Pointer(unsafe.StringData(f.s)), unsafe.Pointer(unsafe.StringData(f.m)), len(f.s))
}

// EqualFold is len(s) == f.Len() && strings.EqualFold(s, f.String()), the
// comparison of header names (see EqualAt).
func (f *Fold) EqualFold(s string) bool {
	return len(s) == len(f.s) && (len(s) == 0 || f.EqualAt(unsafe.Pointer(unsafe.StringData(s))))
}
