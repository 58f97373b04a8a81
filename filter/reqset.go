package filter

import "encoding/binary"

// reqSet is a list of request headers the filter sets (names of setNames)
// with its encoding, made once and reused: the policy's (x-breakwater-policy
// alone, policy.reqSet) and the directive stage's (that header and the
// router directives of one timeout and retry grant, directiveStage.setFor).
// A request points at one (httpContext.setReq) until flushRequestHeaders
// writes it: with the request's headers as read, the write copies enc in
// two memmoves (replaceHeadersBlock) instead of encoding the pairs.
type reqSet struct {
	pairs [][2]string
	// enc is the pairs as in a header map after its count: their sizes (a
	// key length and a value length each, little-endian uint32s), then
	// each key and value followed by a NUL.
	enc []byte
	_   [0]func() // not comparable: no generated equality
}

// encode makes enc from pairs, in enc's array when it has room.
func (s *reqSet) encode() {
	size := 8 * len(s.pairs)
	for _, kv := range s.pairs {
		size += len(kv[0]) + len(kv[1]) + 2
	}
	if cap(s.enc) < size {
		s.enc = make([]byte, size)
	}
	b := s.enc[:size]
	at := 8 * len(s.pairs)
	for i, kv := range s.pairs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(len(kv[0]))|uint64(len(kv[1]))<<32)
		at += copy(b[at:], kv[0]) + 1
		b[at-1] = 0
		at += copy(b[at:], kv[1]) + 1
		b[at-1] = 0
	}
	s.enc = b
}
