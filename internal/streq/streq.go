// Package streq compares header names without Go's wasm memequal, which
// compares one byte at a time (about 25 wasm instructions a byte): a Fold
// holds a lower-case ASCII name's first and last bytes as words, so a name
// of 4 to 16 bytes is compared up to ASCII case with two loads (wasm loads
// need no alignment), inline where the caller copies EqualAt's first case.
package streq

import "unsafe"

// Fold is a lower-case ASCII string prepared for comparisons (Mask).
type Fold struct {
	s string
	// For a string of 4 to 16 bytes, W0 and W1 are its first and last 8
	// bytes (4 for fewer than 8), little-endian, and M0 and M1 their case
	// masks: 0x20 in each byte that is a letter, so a byte OR-ed with its
	// mask equals the string's byte exactly when it is that byte in either
	// case.
	W0, W1, M0, M1 uint64
	_              [0]func() // not comparable: no generated equality
}

// Mask returns the Fold of s, and false when s is not lower-case ASCII (no
// byte >= 0x80, none in A-Z) or is empty.
func Mask(s string) (Fold, bool) {
	n := len(s)
	f := Fold{s: s}
	w := 8 // the window of W0 and W1
	if n < 8 {
		w = 4
	}
	for i := n - 1; i >= 0; i-- {
		c := s[i]
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return Fold{}, false
		}
		m := uint64(0)
		if 'a' <= c && c <= 'z' {
			m = 0x20
		}
		if n >= 4 && n <= 16 {
			if i < w {
				f.W0, f.M0 = f.W0<<8|uint64(c), f.M0<<8|m
			}
			if i >= n-w {
				f.W1, f.M1 = f.W1<<8|uint64(c), f.M1<<8|m
			}
		}
	}
	return f, n > 0
}

// String is the string f was made of.
func (f *Fold) String() string { return f.s }

// Len is its length.
func (f *Fold) Len() int { return len(f.s) }

// EqualAt says whether the f.Len() bytes at p equal f's string up to ASCII
// case: strings.EqualFold of the two, since for a lower-case ASCII string
// of the same length Unicode folding is ASCII folding (a multi-byte rune
// leaves fewer runes than bytes). p must have f.Len() readable bytes.
func (f *Fold) EqualAt(p unsafe.Pointer) bool {
	switch n := len(f.s); {
	case n >= 8 && n <= 16:
		return *(*uint64)(p)|f.M0 == f.W0 && *(*uint64)(unsafe.Add(p, n-8))|f.M1 == f.W1
	case n >= 4 && n < 8:
		return uint64(*(*uint32)(p))|f.M0 == f.W0 && uint64(*(*uint32)(unsafe.Add(p, n-4)))|f.M1 == f.W1
	}
	return LowerAt(f.s, p, uintptr(len(f.s))) // the other lengths: a byte at a time
}

// LowerAt says whether the n bytes at p are e up to ASCII case (e
// lower-case ASCII; false when n is not its length), compared a byte at a
// time: EqualAt for the lengths it does not take in words, small enough to
// be inlined in a caller's loop. p must have n readable bytes.
func LowerAt(e string, p unsafe.Pointer, n uintptr) bool {
	if uintptr(len(e)) != n {
		return false
	}
	for i := 0; i < len(e); i++ {
		c, w := *(*byte)(unsafe.Add(p, i)), e[i]
		if 'a' <= w && w <= 'z' {
			c |= 0x20
		}
		if c != w {
			return false
		}
	}
	return true
}

// EqualFold is len(s) == f.Len() && strings.EqualFold(s, f.String()), the
// comparison of header names (see EqualAt).
func (f *Fold) EqualFold(s string) bool {
	return len(s) == len(f.s) && f.EqualAt(unsafe.Pointer(unsafe.StringData(s)))
}

// Equal is a == b. Strings of 4 to 8 bytes are compared with two 4-byte
// loads (the second ending at the last byte), inline where it is called;
// the others with ==, i.e. Go's memequal (about 25 wasm instructions a
// byte, behind a call).
func Equal(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	if n < 4 || n > 8 {
		return a == b
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	return *(*uint32)(pa) == *(*uint32)(pb) && *(*uint32)(unsafe.Add(pa, n-4)) == *(*uint32)(unsafe.Add(pb, n-4))
}

// Words is a == b, compared 8 bytes a step (4 for 4 to 7 bytes; == below
// 4 or for the same bytes): for values of any length, such as the rate
// limit's cached keys. Every load reads bytes of the strings only (the last
// word of a string overlaps the one before it).
func Words(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	if n < 4 || pa == pb {
		return a == b
	}
	if n < 8 {
		return *(*uint32)(pa) == *(*uint32)(pb) && *(*uint32)(unsafe.Add(pa, n-4)) == *(*uint32)(unsafe.Add(pb, n-4))
	}
	for i := 0; i < n-8; i += 8 {
		if *(*uint64)(unsafe.Add(pa, i)) != *(*uint64)(unsafe.Add(pb, i)) {
			return false
		}
	}
	return *(*uint64)(unsafe.Add(pa, n-8)) == *(*uint64)(unsafe.Add(pb, n-8))
}
