package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strconv"
)

// DefaultWays is the associativity of a Table: how many keys share one set.
const DefaultWays = 4

// MaxIDLen is the longest key stored verbatim in a Table entry; a longer key
// is stored as a 17-byte digest (0x00 followed by the first 16 bytes of its
// SHA-256).
const MaxIDLen = 64

// ErrCorrupt is returned when a set value cannot be decoded. Update treats a
// corrupt set as empty and overwrites it, so it is only returned by Decode.
var ErrCorrupt = errors.New("store: corrupt table set")

// Table maps an unbounded key space onto a bounded one: at most Sets×Ways
// entries, kept in Sets store keys ("<prefix>/<set index>"). A key hashes to
// one set (FNV-1a 64); within a set, entries are kept with the key itself (to
// tell colliding keys apart) and the instant they were last written. A new
// key in a full set evicts the entry written longest ago (LRU within the
// set); the evicted key starts from a fresh state if it comes back.
//
// Set value layout (all integers little-endian), entries back to back:
//
//	[1] id length L   [L] id   [8] last write (caller's clock, int64)   [2] state length S   [S] state
type Table struct {
	prefix string
	sets   uint32
	ways   int
}

// NewTable returns a table of at least maxKeys entries (rounded up to a
// multiple of the ways) stored under prefix. maxKeys < 1 is taken as 1.
func NewTable(prefix string, maxKeys int) Table {
	if maxKeys < 1 {
		maxKeys = 1
	}
	ways := min(DefaultWays, maxKeys)
	sets := (maxKeys + ways - 1) / ways
	return Table{prefix: prefix, sets: uint32(sets), ways: ways}
}

// Capacity is the number of entries the table can hold.
func (t Table) Capacity() int { return int(t.sets) * t.ways }

// Sets is the number of store keys the table can write.
func (t Table) Sets() int { return int(t.sets) }

// StoreKey is the store key of the set that key belongs to.
func (t Table) StoreKey(key string) string {
	var buf [96]byte
	b := append(buf[:0], t.prefix...)
	b = append(b, '/')
	b = strconv.AppendUint(b, fnv64a(key)%uint64(t.sets), 10)
	return string(b)
}

// fnv64a is FNV-1a 64 of s, without the allocation of hash/fnv.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func entryID(key string) string {
	if len(key) <= MaxIDLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00" + string(sum[:16])
}

// maxEntries bounds the entries read from one set value (a table written
// with more ways than this one reads is cut here, never a failure).
const maxEntries = 16

// pos locates one entry inside a set value.
type pos struct {
	start, end int // the whole entry
	id         int // offset of the id; its length is cur[start]
	last       int64
	state      int // offset of the state; it runs to end
}

// scan locates the entries of a set value without copying it. ok is false
// for a corrupt value.
func scan(v []byte, ps *[maxEntries]pos) (n int, ok bool) {
	off := 0
	for off < len(v) {
		if n == maxEntries {
			return n, false
		}
		l := int(v[off])
		if len(v)-off < 1+l+8+2 {
			return n, false
		}
		p := pos{start: off, id: off + 1}
		p.last = int64(binary.LittleEndian.Uint64(v[off+1+l:]))
		sl := int(binary.LittleEndian.Uint16(v[off+1+l+8:]))
		p.state = off + 1 + l + 10
		p.end = p.state + sl
		if p.end > len(v) {
			return n, false
		}
		ps[n] = p
		n++
		off = p.end
	}
	return n, true
}

type entry struct {
	id    string
	last  int64
	state []byte
}

// decodeSet decodes a whole set value (tests and tools).
func decodeSet(v []byte) ([]entry, error) {
	var ps [maxEntries]pos
	n, ok := scan(v, &ps)
	if !ok {
		return nil, ErrCorrupt
	}
	out := make([]entry, n)
	for i, p := range ps[:n] {
		out[i] = entry{id: string(v[p.id : p.id+int(v[p.start])]), last: p.last, state: v[p.state:p.end:p.end]}
	}
	return out, nil
}

func appendEntry(dst []byte, id string, last int64, state []byte) []byte {
	dst = append(dst, byte(len(id)))
	dst = append(dst, id...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(last))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(state)))
	return append(dst, state...)
}

func encodeSet(dst []byte, es []entry) []byte {
	for _, e := range es {
		dst = appendEntry(dst, e.id, e.last, e.state)
	}
	return dst
}

// ErrStateTooLarge is returned by Update when fn returns a state over 65535 bytes.
var ErrStateTooLarge = errors.New("store: table state over 65535 bytes")

// Update applies fn to the state of key (nil when the key has no entry) and
// writes the set back through the package's one retry loop. now is the
// caller's clock in any unit that grows (it orders evictions). When fn
// returns write == false nothing is written. The set is read in place (no
// decoding copy); one buffer is allocated for the value written.
func (t Table) Update(s Store, key string, now int64, fn func(cur []byte) (next []byte, write bool, err error)) error {
	id := entryID(key)
	return Update(s, t.StoreKey(key), func(cur []byte) ([]byte, bool, error) {
		var ps [maxEntries]pos
		n, ok := scan(cur, &ps)
		if !ok {
			cur, n = nil, 0 // a corrupt set is dropped: state restarts, never a failure
		}
		idx := -1
		for i := 0; i < n; i++ {
			p := ps[i]
			if string(cur[p.id:p.id+int(cur[p.start])]) == id {
				idx = i
				break
			}
		}
		var state []byte
		if idx >= 0 {
			state = cur[ps[idx].state:ps[idx].end:ps[idx].end]
		}
		next, write, err := fn(state)
		if err != nil || !write {
			return nil, false, err
		}
		if len(next) > 0xffff {
			return nil, false, ErrStateTooLarge
		}
		// The entry replaced: the key's own, else none while the set has
		// room, else the one written longest ago. Extra entries beyond the
		// ways (a table read with fewer ways) are dropped oldest first.
		drop := idx
		if drop < 0 && n >= t.ways {
			drop = 0
			for i := 1; i < n; i++ {
				if ps[i].last < ps[drop].last {
					drop = i
				}
			}
		}
		out := make([]byte, 0, len(cur)+len(id)+len(next)+11)
		kept := 0
		for i := 0; i < n; i++ {
			if i == drop {
				continue
			}
			if kept == t.ways-1 {
				break
			}
			out = append(out, cur[ps[i].start:ps[i].end]...)
			kept++
		}
		return appendEntry(out, id, now, next), true, nil
	})
}

// Get returns the state of key without writing, nil when it has no entry.
func (t Table) Get(s Store, key string) ([]byte, error) {
	v, _, err := s.Get(t.StoreKey(key))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps [maxEntries]pos
	n, ok := scan(v, &ps)
	if !ok {
		return nil, nil
	}
	id := entryID(key)
	for _, p := range ps[:n] {
		if string(v[p.id:p.id+int(v[p.start])]) == id {
			return v[p.state:p.end:p.end], nil
		}
	}
	return nil, nil
}
