package bulkhead

import "encoding/binary"

// Record layout (little-endian), the state of one key in a store.Table:
//
//	offset  size  field
//	0       1     version, 1
//	1       2     L: number of leases (uint16)
//	3       2     W: number of waiters (uint16)
//	5       16×L  leases:  [8] holder id (uint64), [8] expiry (Unix ns, int64)
//	5+16L   24×W  waiters: [8] waiter id (uint64), [8] enqueued (Unix ns, int64),
//	                       [8] last seen (Unix ns, int64); FIFO order, head first
//
// Any other length, version or count is corrupt and decodes as a fresh
// (empty) record.
const (
	version   = 1
	headerLen = 5
	leaseLen  = 16
	waiterLen = 24
)

type lease struct {
	holder uint64
	expiry int64
}

type waiterRec struct {
	id        uint64
	enq, seen int64
}

type record struct {
	leases  []lease
	waiters []waiterRec
}

// decode returns the record in b; a nil, short or corrupt b is a fresh record.
func decode(b []byte) record {
	r, ok := decodeStrict(b)
	if !ok {
		return record{}
	}
	return r
}

func decodeStrict(b []byte) (record, bool) {
	if len(b) < headerLen || b[0] != version {
		return record{}, false
	}
	l := int(binary.LittleEndian.Uint16(b[1:]))
	w := int(binary.LittleEndian.Uint16(b[3:]))
	if len(b) != headerLen+leaseLen*l+waiterLen*w {
		return record{}, false
	}
	r := record{}
	if l > 0 {
		r.leases = make([]lease, l)
	}
	if w > 0 {
		r.waiters = make([]waiterRec, w)
	}
	p := b[headerLen:]
	for i := range r.leases {
		r.leases[i] = lease{holder: binary.LittleEndian.Uint64(p), expiry: int64(binary.LittleEndian.Uint64(p[8:]))}
		p = p[leaseLen:]
	}
	for i := range r.waiters {
		r.waiters[i] = waiterRec{
			id:   binary.LittleEndian.Uint64(p),
			enq:  int64(binary.LittleEndian.Uint64(p[8:])),
			seen: int64(binary.LittleEndian.Uint64(p[16:])),
		}
		p = p[waiterLen:]
	}
	return r, true
}

func (r *record) encode() []byte {
	b := make([]byte, headerLen, headerLen+leaseLen*len(r.leases)+waiterLen*len(r.waiters))
	b[0] = version
	binary.LittleEndian.PutUint16(b[1:], uint16(len(r.leases)))
	binary.LittleEndian.PutUint16(b[3:], uint16(len(r.waiters)))
	for _, l := range r.leases {
		b = binary.LittleEndian.AppendUint64(b, l.holder)
		b = binary.LittleEndian.AppendUint64(b, uint64(l.expiry))
	}
	for _, w := range r.waiters {
		b = binary.LittleEndian.AppendUint64(b, w.id)
		b = binary.LittleEndian.AppendUint64(b, uint64(w.enq))
		b = binary.LittleEndian.AppendUint64(b, uint64(w.seen))
	}
	return b
}

// prune drops expired leases (expiry <= now) and expired waiters (queued at
// least MaxWait ago or not seen for WaiterTTL), keeping the order of the rest.
func (r *record) prune(now int64, s Settings) {
	n := 0
	for _, l := range r.leases {
		if l.expiry > now {
			r.leases[n] = l
			n++
		}
	}
	r.leases = r.leases[:n]
	n = 0
	for _, w := range r.waiters {
		if now-w.enq < int64(s.MaxWait) && now-w.seen < int64(s.WaiterTTL) {
			r.waiters[n] = w
			n++
		}
	}
	r.waiters = r.waiters[:n]
}

func (r *record) findLease(holder uint64) int {
	for i, l := range r.leases {
		if l.holder == holder {
			return i
		}
	}
	return -1
}

func (r *record) findWaiter(id uint64) int {
	for i, w := range r.waiters {
		if w.id == id {
			return i
		}
	}
	return -1
}

// RecordBytes is the largest record of one key under s (normalized):
// MaxConcurrent leases and QueueSize waiters.
func (s Settings) RecordBytes() int {
	return headerLen + leaseLen*s.MaxConcurrent + waiterLen*s.QueueSize
}

// Acquire, Release and Renew (editBytes) work on the encoded record
// directly: they scan it once and append the next record to the table's
// buffer, with no decoded copy and no buffer of their own. The result is
// byte for byte what decode, prune, the edit and encode give
// (TestBytesOpsMatchRecord).

// view is an encoded record checked once: its bytes and counts; the zero
// view is a fresh (empty) record (nil, short or corrupt bytes).
type view struct {
	b    []byte
	l, w int
}

func viewOf(b []byte) view {
	if len(b) < headerLen || b[0] != version {
		return view{}
	}
	l := int(binary.LittleEndian.Uint16(b[1:]))
	w := int(binary.LittleEndian.Uint16(b[3:]))
	if len(b) != headerLen+leaseLen*l+waiterLen*w {
		return view{}
	}
	return view{b: b, l: l, w: w}
}

func (v view) leaseAt(i int) (holder uint64, expiry int64) {
	p := v.b[headerLen+leaseLen*i:]
	return binary.LittleEndian.Uint64(p), int64(binary.LittleEndian.Uint64(p[8:]))
}

func (v view) waiterLive(i int, now int64, s Settings) bool {
	p := v.b[headerLen+leaseLen*v.l+waiterLen*i:]
	enq, seen := int64(binary.LittleEndian.Uint64(p[8:])), int64(binary.LittleEndian.Uint64(p[16:]))
	return now-enq < int64(s.MaxWait) && now-seen < int64(s.WaiterTTL)
}

// scan counts the live leases and waiters at now and finds the first live
// lease of holder (its index in v, -1 when there is none).
func (v view) scan(holder uint64, now int64, s Settings) (leases, waiters, at int) {
	at = -1
	for i := 0; i < v.l; i++ {
		h, exp := v.leaseAt(i)
		if exp <= now {
			continue
		}
		if h == holder && at < 0 {
			at = i
		}
		leases++
	}
	for i := 0; i < v.w; i++ {
		if v.waiterLive(i, now, s) {
			waiters++
		}
	}
	return leases, waiters, at
}

// Edits of appendPruned on the lease at index at.
const (
	keepLease  = iota // leave it as it is
	renewLease        // set its expiry to exp
	dropLease         // remove it
	addLease          // (at is -1) append a lease of holder expiring at exp
)

// appendPruned appends to dst the record of v pruned at now, with one edit,
// holding leases live leases and waiters live waiters (as scan counted them,
// after the edit).
func (v view) appendPruned(dst []byte, now int64, s Settings, leases, waiters, edit, at int, holder uint64, exp int64) []byte {
	dst = append(dst, version)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(leases))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(waiters))
	for i := 0; i < v.l; i++ {
		h, e := v.leaseAt(i)
		if e <= now {
			continue
		}
		if i == at {
			switch edit {
			case dropLease:
				continue
			case renewLease:
				e = exp
			}
		}
		dst = binary.LittleEndian.AppendUint64(dst, h)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e))
	}
	if edit == addLease {
		dst = binary.LittleEndian.AppendUint64(dst, holder)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(exp))
	}
	if waiters > 0 {
		base := headerLen + leaseLen*v.l
		for i := 0; i < v.w; i++ {
			if v.waiterLive(i, now, s) {
				dst = append(dst, v.b[base+waiterLen*i:base+waiterLen*(i+1)]...)
			}
		}
	}
	return dst
}

// The operations of editBytes.
const (
	acquireOp = iota
	releaseOp
	renewOp
)

// editBytes is the edit of Acquire, Release or Renew (op) on the record
// cur: ok says whether it acquired, or found holder's live lease (release,
// renew); next, appended to dst, is to be written when write; active and
// queued are the live counts it leaves.
func editBytes(dst, cur []byte, op int, holder uint64, now, exp int64, s Settings) (next []byte, ok, write bool, active, queued int) {
	v := viewOf(cur)
	l, w, at := v.scan(holder, now, s)
	switch {
	case at >= 0 && op == releaseOp:
		return v.appendPruned(dst, now, s, l-1, w, dropLease, at, 0, 0), true, true, l - 1, w
	case at >= 0: // Acquire by a holder of a live lease renews it
		return v.appendPruned(dst, now, s, l, w, renewLease, at, 0, exp), true, true, l, w
	case op != acquireOp || l+w >= s.MaxConcurrent:
		return nil, false, false, l, w
	}
	return v.appendPruned(dst, now, s, l+1, w, addLease, -1, holder, exp), true, true, l + 1, w
}
