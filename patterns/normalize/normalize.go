package normalize

import (
	"strings"
	"unsafe"
)

// Path returns the normal form of a request path (see the package doc) and
// whether the path holds an encoded separator (%2F or %5C, any case).
func Path(raw string) (p string, encodedSlash bool) {
	// The fast path: one pass over the bytes, one table lookup each; only
	// '/', '.', '%', ';', '?' and '#' need a closer look. Whole words of 8
	// bytes that this loop would pass over are skipped first: none of the
	// 8 bytes is '%', ';', '?' or '#', and none is '/' or '.' right after
	// a '/' (prev is the 8 bytes one byte earlier: each byte's
	// predecessor in the same position). The test is exact per byte
	// (nonzero), and '.'|1 == '/'|1, ';'|4 == '?'|4, no other byte giving
	// those two values. Any other word ends the skip, and the byte loop
	// goes on from its first byte, as it does after the last whole word.
	if raw == "" || raw[0] != '/' {
		return slow(cutQuery(raw))
	}
	i := 1
	for base := unsafe.Pointer(unsafe.StringData(raw)); i+8 <= len(raw); i += 8 {
		const ones, high = 0x0101010101010101, 0x8080808080808080
		w, prev := *(*uint64)(unsafe.Add(base, i)), *(*uint64)(unsafe.Add(base, i-1))
		a := nonzero(w^'#'*ones) & nonzero(w^'%'*ones) & nonzero((w|4*ones)^'?'*ones)
		if a&(nonzero((w|ones)^'/'*ones)|nonzero(prev^'/'*ones))&high != high {
			break
		}
	}
	for ; i < len(raw); i++ {
		c := raw[i]
		if !special[c] {
			continue
		}
		switch c {
		case '?', '#':
			return trimSlash(raw[:i]), false
		case '%', ';':
			return slow(cutQuery(raw))
		case '/':
			if raw[i-1] == '/' {
				return slow(cutQuery(raw))
			}
		case '.':
			if raw[i-1] == '/' && dotSegment(raw[i:]) {
				return slow(cutQuery(raw))
			}
		}
	}
	return trimSlash(raw), false
}

// nonzero sets the high bit of each byte of x that is not zero (and of no
// other): the low 7 bits plus 0x7F carry into bit 7 exactly when one of
// them is set, and never out of the byte.
func nonzero(x uint64) uint64 {
	const low = 0x7F7F7F7F7F7F7F7F
	return (x&low + low) | x
}

// special marks the bytes the fast path of Path looks at.
var special = [256]bool{'/': true, '.': true, '%': true, ';': true, '?': true, '#': true}

// dotSegment says whether s (starting at a segment's first byte, a '.')
// begins with the segment "." or "..".
func dotSegment(s string) bool {
	if len(s) == 1 || s[1] == '/' || s[1] == '?' || s[1] == '#' {
		return true
	}
	return s[1] == '.' && (len(s) == 2 || s[2] == '/' || s[2] == '?' || s[2] == '#')
}

func cutQuery(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '?' || s[i] == '#' {
			return s[:i]
		}
	}
	return s
}

// trimSlash drops the one trailing slash of an otherwise normal path.
func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// slow builds the normal form in one buffer: each segment (params cut,
// empty and "." skipped) is appended after a '/', and ".." truncates the
// buffer to the start of the last segment kept.
func slow(raw string) (string, bool) {
	dec, enc := decode(raw)
	b := make([]byte, 0, len(dec)+1)
	for len(dec) > 0 {
		var s string
		if i := strings.IndexByte(dec, '/'); i >= 0 {
			s, dec = dec[:i], dec[i+1:]
		} else {
			s, dec = dec, ""
		}
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		switch s {
		case "", ".":
			continue
		case "..":
			if i := lastSlash(b); i >= 0 {
				b = b[:i]
			}
			continue
		}
		b = append(b, '/')
		b = append(b, s...)
	}
	if len(b) == 0 {
		return "/", enc
	}
	if string(b) == raw { // no allocation for the comparison
		return raw, enc
	}
	return string(b), enc
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// decode decodes the percent-encodings of unreserved characters and
// upper-cases the hex digits of the others; enc reports %2F or %5C. A '%'
// not followed by two hex digits is the data byte '%', written %25 (so a
// second pass cannot read it as the start of an encoding).
func decode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, false
	}
	enc := false
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			b = append(b, "%25"...)
			continue
		}
		h, l := unhex(s[i+1]), unhex(s[i+2])
		if h < 0 || l < 0 {
			b = append(b, "%25"...) // a stray '%' is the data byte '%'
			continue
		}
		v := byte(h<<4 | l)
		if unreserved(v) {
			b = append(b, v)
		} else {
			if v == '/' || v == '\\' {
				enc = true
			}
			b = append(b, '%', upper(s[i+1]), upper(s[i+2]))
		}
		i += 2
	}
	return string(b), enc
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Authority returns the normal form of an :authority (see the package doc).
// scheme is the request's :scheme ("" is taken as http).
func Authority(raw, scheme string) string {
	// The fast path: one pass; a lower-case host without a trailing dot
	// and without a port (the common case) is returned as is.
	upper, colon := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if 'A' <= c && c <= 'Z' {
			upper = true
		} else if c == ':' {
			colon = true
		}
	}
	if !colon && !upper && (len(raw) < 2 || raw[len(raw)-1] != '.') {
		return raw
	}
	host, port := splitHostPort(raw)
	h := host
	if len(h) > 1 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if port == "80" && (scheme == "" || scheme == "http") || port == "443" && scheme == "https" {
		port = ""
	}
	a := raw
	switch {
	case port == "":
		a = h
	case len(h) != len(host):
		a = h + ":" + port
	}
	if upper {
		return strings.ToLower(a)
	}
	return a
}

// splitHostPort splits "host:port" and "[v6]:port"; a bare IPv6 address
// (several ':') and "[v6]" have no port.
func splitHostPort(a string) (host, port string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, ""
	}
	if a[0] == '[' {
		if i == 0 || a[i-1] != ']' {
			return a, ""
		}
		return a[:i], a[i+1:]
	}
	if strings.IndexByte(a, ':') != i {
		return a, ""
	}
	return a[:i], a[i+1:]
}
