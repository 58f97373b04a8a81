package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/fnv"
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
	h := fnv.New64a()
	h.Write([]byte(key))
	return t.prefix + "/" + strconv.FormatUint(h.Sum64()%uint64(t.sets), 10)
}

func entryID(key string) string {
	if len(key) <= MaxIDLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x00" + string(sum[:16])
}

type entry struct {
	id    string
	last  int64
	state []byte
}

func decodeSet(v []byte) ([]entry, error) {
	var out []entry
	for len(v) > 0 {
		l := int(v[0])
		if len(v) < 1+l+8+2 {
			return nil, ErrCorrupt
		}
		e := entry{id: string(v[1 : 1+l])}
		v = v[1+l:]
		e.last = int64(binary.LittleEndian.Uint64(v))
		s := int(binary.LittleEndian.Uint16(v[8:]))
		v = v[10:]
		if len(v) < s {
			return nil, ErrCorrupt
		}
		e.state = v[:s:s]
		v = v[s:]
		out = append(out, e)
	}
	return out, nil
}

func encodeSet(dst []byte, es []entry) []byte {
	for _, e := range es {
		dst = append(dst, byte(len(e.id)))
		dst = append(dst, e.id...)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.last))
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(e.state)))
		dst = append(dst, e.state...)
	}
	return dst
}

// ErrStateTooLarge is returned by Update when fn returns a state over 65535 bytes.
var ErrStateTooLarge = errors.New("store: table state over 65535 bytes")

// Update applies fn to the state of key (nil when the key has no entry) and
// writes the set back through the package's one retry loop. now is the
// caller's clock in any unit that grows (it orders evictions). When fn
// returns write == false nothing is written.
func (t Table) Update(s Store, key string, now int64, fn func(cur []byte) (next []byte, write bool, err error)) error {
	id := entryID(key)
	return Update(s, t.StoreKey(key), func(cur []byte) ([]byte, bool, error) {
		es, err := decodeSet(cur)
		if err != nil {
			es = nil // a corrupt set is dropped: state restarts, never a failure
		}
		idx := -1
		for i := range es {
			if es[i].id == id {
				idx = i
				break
			}
		}
		var state []byte
		if idx >= 0 {
			state = es[idx].state
		}
		next, write, err := fn(state)
		if err != nil || !write {
			return nil, false, err
		}
		if len(next) > 0xffff {
			return nil, false, ErrStateTooLarge
		}
		e := entry{id: id, last: now, state: next}
		switch {
		case idx >= 0:
			es[idx] = e
		case len(es) < t.ways:
			es = append(es, e)
		default:
			oldest := 0
			for i := range es {
				if es[i].last < es[oldest].last {
					oldest = i
				}
			}
			es[oldest] = e
		}
		return encodeSet(make([]byte, 0, len(cur)+len(id)+len(next)+11), es), true, nil
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
	es, err := decodeSet(v)
	if err != nil {
		return nil, nil
	}
	id := entryID(key)
	for _, e := range es {
		if e.id == id {
			return e.state, nil
		}
	}
	return nil, nil
}
