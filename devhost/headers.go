package devhost

import (
	"encoding/binary"
	"errors"
	"strings"
)

// headerMap is an ordered multimap with lower-case keys, like Envoy's header
// maps as the ABI sees them.
type headerMap struct {
	kv []pair
}

type pair struct{ k, v string }

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// get returns the first value of k (Envoy returns entry[0]).
func (m *headerMap) get(k string) (string, bool) {
	k = lower(k)
	for _, p := range m.kv {
		if p.k == k {
			return p.v, true
		}
	}
	return "", false
}

// getBytes is get for a key read from guest memory, without allocating when
// the key is already lower case.
func (m *headerMap) getBytes(k []byte) (string, bool) {
	for _, p := range m.kv {
		if len(p.k) == len(k) && equalFoldLower(p.k, k) {
			return p.v, true
		}
	}
	return "", false
}

// equalFoldLower compares lower-case s with b, folding ASCII upper case in b.
func equalFoldLower(s string, b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if s[i] != c {
			return false
		}
	}
	return true
}

func (m *headerMap) add(k, v string) { m.kv = append(m.kv, pair{lower(k), v}) }

// replace is Envoy's setCopy: the first entry takes the value, later
// duplicates are removed; an absent key is appended.
func (m *headerMap) replace(k, v string) {
	k = lower(k)
	found := false
	out := m.kv[:0]
	for _, p := range m.kv {
		if p.k == k {
			if found {
				continue
			}
			found = true
			p.v = v
		}
		out = append(out, p)
	}
	m.kv = out
	if !found {
		m.kv = append(m.kv, pair{k, v})
	}
}

func (m *headerMap) remove(k string) {
	k = lower(k)
	out := m.kv[:0]
	for _, p := range m.kv {
		if p.k != k {
			out = append(out, p)
		}
	}
	m.kv = out
}

func (m *headerMap) len() int { return len(m.kv) }

// byteSize is Envoy's HeaderMap::byteSize: the sum of key and value lengths.
func (m *headerMap) byteSize() int {
	n := 0
	for _, p := range m.kv {
		n += len(p.k) + len(p.v)
	}
	return n
}

// encodePairs serialises pairs in the ABI's format (proxy-wasm-cpp-host
// PairsUtil, all integers little-endian u32):
//
//	count
//	count x (key length, value length)
//	count x (key bytes, 0x00, value bytes, 0x00)
func encodePairs(kv []pair) []byte {
	size := 4
	for _, p := range kv {
		size += 8 + len(p.k) + len(p.v) + 2
	}
	out := make([]byte, size)
	binary.LittleEndian.PutUint32(out, uint32(len(kv)))
	off := 4
	for _, p := range kv {
		binary.LittleEndian.PutUint32(out[off:], uint32(len(p.k)))
		binary.LittleEndian.PutUint32(out[off+4:], uint32(len(p.v)))
		off += 8
	}
	for _, p := range kv {
		off += copy(out[off:], p.k) + 1
		off += copy(out[off:], p.v) + 1
	}
	return out
}

var errBadPairs = errors.New("malformed header pairs")

// decodePairs parses the ABI's pairs format; keys are lower-cased as Envoy does.
// An empty input is an empty map.
func decodePairs(b []byte) ([]pair, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, errBadPairs
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 0 || n > (len(b)-4)/8 {
		return nil, errBadPairs
	}
	sizes := 4
	data := 4 + 8*n
	out := make([]pair, 0, n)
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[sizes:]))
		vl := int(binary.LittleEndian.Uint32(b[sizes+4:]))
		sizes += 8
		if kl < 0 || vl < 0 || data+kl+1+vl+1 > len(b) {
			return nil, errBadPairs
		}
		k := string(b[data : data+kl])
		data += kl + 1
		v := string(b[data : data+vl])
		data += vl + 1
		out = append(out, pair{lower(k), v})
	}
	return out, nil
}
