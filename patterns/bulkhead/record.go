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
