package store

import (
	"encoding/binary"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/breakwater/breakwater/internal/sha256"
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
// entries, kept in Sets store keys ("<prefix>/<set index>"), plus one
// overflow state ("<prefix>/overflow"). A key hashes to one set (SipHash-1-3
// keyed by the table's HashKey, see WithHashKey); within a set, entries are
// kept with the key itself (to tell colliding keys apart) and the instant
// they were last written.
//
// Live state is never evicted. A new key in a full set replaces the idle
// entry (per the table's Idler, see WithIdle) written longest ago; when no
// entry of the set is idle, the key is decided by the overflow state
// instead: Update applies fn to it and Get returns it, for as long as the
// key finds no room in its set. The overflow state is one state of the
// pattern shared by every key that overflows (what that admits is in each
// pattern's doc.go); it is never evicted.
//
// Set value layout (all integers little-endian), entries back to back:
//
//	[1] id length L   [L] id   [8] last write (caller's clock, int64)   [2] state length S   [S] state
//
// The overflow value is the state itself.
type Table struct {
	prefix string
	// key0 is the name of set 0 ("<prefix>/0"), built once: the one key of
	// an unkeyed pattern or a one-set table, read on every request.
	key0 string
	// names caches the names of sets 1 .. len(names)-1 (at most
	// MaxNamedSets), each built on its first use and kept: a keyed table
	// names a set without building the string again. Shared by the copies
	// of the table (WithHashKey, WithIdle: same prefix, same sets).
	names []atomic.Pointer[string]
	sets  uint32
	ways  int
	key   HashKey
	idle  Idler
	// buf, when set (WithBuffer), is where UpdateAppend builds the set
	// value it writes.
	buf *[]byte
}

// Idler tells whether an entry may be replaced: state is its stored state,
// last the instant it was last written and now the caller's instant (both
// in the caller's clock, as given to Update).
type Idler interface {
	Idle(state []byte, last, now int64) bool
}

// NewTable returns a table of at least maxKeys entries (rounded up to a
// multiple of the ways) stored under prefix. maxKeys < 1 is taken as 1. The
// zero HashKey and no Idler (every entry idle: LRU eviction) until
// WithHashKey and WithIdle say otherwise.
func NewTable(prefix string, maxKeys int) Table {
	if maxKeys < 1 {
		maxKeys = 1
	}
	ways := min(DefaultWays, maxKeys)
	sets := (maxKeys + ways - 1) / ways
	t := Table{prefix: prefix, key0: prefix + "/0", sets: uint32(sets), ways: ways}
	if sets > 1 {
		t.names = make([]atomic.Pointer[string], min(sets, MaxNamedSets))
	}
	return t
}

// MaxNamedSets bounds the set names a Table keeps once built (StoreKey):
// the sets from MaxNamedSets on are named anew on every call. The cache
// costs 8 bytes per set up to the bound plus the names of the sets used.
const MaxNamedSets = 4096

// WithBuffer returns t building the set value UpdateAppend writes in *buf's
// array while it has room, and leaving in *buf the array last written
// (grown by fn, or new when *buf was short), instead of a new buffer on
// every call. It is for a caller that makes one call at a time with the
// table (one worker), on a Store whose Set copies the value it is given
// (Envoy's shared data does). The overflow state is built as without it.
func (t Table) WithBuffer(buf *[]byte) Table { t.buf = buf; return t }

// WithHashKey returns t hashing keys onto sets under k.
func (t Table) WithHashKey(k HashKey) Table { t.key = k; return t }

// WithIdle returns t replacing only entries that i says are idle.
func (t Table) WithIdle(i Idler) Table { t.idle = i; return t }

// Capacity is the number of entries the table can hold.
func (t Table) Capacity() int { return int(t.sets) * t.ways }

// Sets is the number of store keys the table can write (the overflow key
// not counted).
func (t Table) Sets() int { return int(t.sets) }

// Ways is the number of entries of one set.
func (t Table) Ways() int { return t.ways }

// MaxValueBytes is the largest set value the table writes when every state
// is at most maxState bytes: Ways entries of (1 + MaxIDLen + 8 + 2 +
// maxState) bytes.
func (t Table) MaxValueBytes(maxState int) int64 {
	return int64(t.ways) * int64(1+MaxIDLen+8+2+maxState)
}

// MaxBytes bounds the bytes of all the table's values (keys not counted):
// Sets × MaxValueBytes + the overflow state.
func (t Table) MaxBytes(maxState int) int64 {
	return int64(t.sets)*t.MaxValueBytes(maxState) + int64(maxState)
}

// MaxSharedBytes bounds what the table writes to the store, keys' names
// included (as Envoy and the dev host count shared data): Sets × (the
// longest set key's name + MaxValueBytes) + the overflow key's name and
// state.
func (t Table) MaxSharedBytes(maxState int) int64 {
	name := len(t.prefix) + 1 + len(strconv.FormatUint(uint64(t.sets-1), 10))
	return int64(t.sets)*(int64(name)+t.MaxValueBytes(maxState)) + int64(len(t.OverflowKey())+maxState)
}

// StoreKey is the store key of the set that key belongs to. The empty key
// (an unkeyed pattern's one key, never a client's: descriptor keys are
// netstrings) and a table of one set need no hash: set 0.
func (t Table) StoreKey(key string) string {
	var set uint64
	if key != "" && t.sets > 1 {
		set = t.key.Sum(key) % uint64(t.sets)
	}
	if set == 0 && t.key0 != "" {
		return t.key0
	}
	if set < uint64(len(t.names)) {
		p := &t.names[set]
		if n := p.Load(); n != nil {
			return *n
		}
		n := t.setName(set)
		p.Store(&n) // two callers at once store equal names: either is right
		return n
	}
	return t.setName(set)
}

// setName builds the store key of the set numbered set.
func (t Table) setName(set uint64) string {
	var buf [96]byte
	b := append(buf[:0], t.prefix...)
	b = append(b, '/')
	b = strconv.AppendUint(b, set, 10)
	return string(b)
}

// OverflowKey is the store key of the overflow state.
func (t Table) OverflowKey() string { return t.prefix + "/overflow" }

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
// caller's clock in any unit that grows (it orders replacements and is
// handed to the Idler). When fn returns write == false nothing is written.
// A key without an entry whose set holds no idle entry is decided by the
// overflow state: fn is applied to it instead (Overflowed tells). The set is
// read in place (no decoding copy); one buffer is allocated for the value
// written.
func (t Table) Update(s Store, key string, now int64, fn func(cur []byte) (next []byte, write bool, err error)) error {
	_, err := t.UpdateWhere(s, key, now, fn)
	return err
}

// UpdateWhere is Update that also says whether fn was applied to the
// overflow state.
func (t Table) UpdateWhere(s Store, key string, now int64, fn func(cur []byte) (next []byte, write bool, err error)) (overflowed bool, err error) {
	id := entryID(key)
	full := false
	err = Update(s, t.StoreKey(key), func(cur []byte) ([]byte, bool, error) {
		full = false
		var ps [maxEntries]pos
		n, ok := scan(cur, &ps)
		if !ok {
			cur, n = nil, 0 // a corrupt set is dropped: state restarts, never a failure
		}
		idx := t.find(cur, ps[:n], id)
		// The entry replaced: the key's own, else none while the set has
		// room, else the idle one written longest ago. Extra entries
		// beyond the ways (a table read with fewer ways) are dropped
		// oldest first.
		drop := idx
		if drop < 0 && n >= t.ways {
			drop = t.victim(cur, ps[:n], now)
			if drop < 0 {
				full = true
				return nil, false, nil
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
	if err != nil || !full {
		return false, err
	}
	return true, t.UpdateOverflow(s, fn)
}

// UpdateAppend is UpdateWhere for an fn that appends the key's next state
// to dst and returns the extended slice, leaving dst's own bytes as they
// are: the set value written is built in one buffer (the set's other
// entries, the key's entry header, then the state fn appends), with no
// buffer of fn's own and no copy of the state. The buffer has room for a
// state of room bytes or of the current state's length plus 16, whichever
// is more (a hint; fn may append more). When fn is applied to the overflow
// state its dst is empty and the value written is what it returns. The
// bytes fn appended (next[len(dst):]) are the key's state as written. A
// table WithBuffer builds the set value in the buffer it was given.
func (t Table) UpdateAppend(s Store, key string, now int64, room int, fn func(dst, cur []byte) (next []byte, write bool, err error)) (overflowed bool, err error) {
	id := entryID(key)
	full := false
	err = Update(s, t.StoreKey(key), func(cur []byte) ([]byte, bool, error) {
		full = false
		var ps [maxEntries]pos
		n, ok := scan(cur, &ps)
		if !ok {
			cur, n = nil, 0 // a corrupt set is dropped: state restarts, never a failure
		}
		idx := t.find(cur, ps[:n], id)
		// The entry replaced, as in UpdateWhere.
		drop := idx
		if drop < 0 && n >= t.ways {
			drop = t.victim(cur, ps[:n], now)
			if drop < 0 {
				full = true
				return nil, false, nil
			}
		}
		var state []byte
		if idx >= 0 {
			state = cur[ps[idx].state:ps[idx].end:ps[idx].end]
		}
		need := len(cur) + len(id) + 11 + max(room, len(state)+16)
		var out []byte
		if t.buf != nil && cap(*t.buf) >= need { // see WithBuffer
			out = (*t.buf)[:0]
		} else {
			out = make([]byte, 0, need)
		}
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
		out = append(out, byte(len(id)))
		out = append(out, id...)
		out = binary.LittleEndian.AppendUint64(out, uint64(now))
		out = append(out, 0, 0) // the state's length, set below
		head := len(out)
		next, write, err := fn(out, state)
		if err != nil || !write {
			return nil, false, err
		}
		if len(next) < head || len(next)-head > 0xffff { // (the former: an fn that cut dst)
			return nil, false, ErrStateTooLarge
		}
		binary.LittleEndian.PutUint16(next[head-2:], uint16(len(next)-head))
		if t.buf != nil {
			*t.buf = next[:0]
		}
		return next, true, nil
	})
	if err != nil || !full {
		return false, err
	}
	return true, t.UpdateOverflow(s, func(cur []byte) ([]byte, bool, error) {
		return fn(nil, cur)
	})
}

// UpdateOverflow applies fn to the overflow state (nil when it has none),
// as Update does for a key that finds its set full of live entries. A
// pattern calls it to reach state an earlier overflowing call left there
// (a lease, a waiter) once the key has found room in its set.
func (t Table) UpdateOverflow(s Store, fn func(cur []byte) (next []byte, write bool, err error)) error {
	return Update(s, t.OverflowKey(), func(cur []byte) ([]byte, bool, error) {
		next, write, err := fn(cur)
		if err == nil && write && len(next) > 0xffff {
			return nil, false, ErrStateTooLarge
		}
		return next, write, err
	})
}

// find is the index of the entry of id, -1 when there is none.
func (t Table) find(v []byte, ps []pos, id string) int {
	for i, p := range ps {
		if string(v[p.id:p.id+int(v[p.start])]) == id {
			return i
		}
	}
	return -1
}

// victim is the idle entry written longest ago, -1 when none is idle.
func (t Table) victim(v []byte, ps []pos, now int64) int {
	drop := -1
	for i, p := range ps {
		if t.idle != nil && !t.idle.Idle(v[p.state:p.end:p.end], p.last, now) {
			continue
		}
		if drop < 0 || p.last < ps[drop].last {
			drop = i
		}
	}
	return drop
}

// Get returns the state of key without writing, nil when it has no entry
// and its set has room or an idle entry; a key without an entry in a set
// full of live entries gets the overflow state (what Update would apply fn
// to). now is the caller's clock, as for Update.
func (t Table) Get(s Store, key string, now int64) ([]byte, error) {
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
	if i := t.find(v, ps[:n], entryID(key)); i >= 0 {
		return v[ps[i].state:ps[i].end:ps[i].end], nil
	}
	if n < t.ways || t.victim(v, ps[:n], now) >= 0 {
		return nil, nil
	}
	o, _, err := s.Get(t.OverflowKey())
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return o, err
}
