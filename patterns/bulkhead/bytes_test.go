package bulkhead

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// refAcquire, refRelease and refRenew are the edits of Acquire, Release and Renew done on the
// decoded record, as the package did them before it edited the bytes.
func refAcquire(cur []byte, holder uint64, now, exp int64, s Settings) (next []byte, ok, write bool, active, queued int) {
	r := decode(cur)
	r.prune(now, s)
	if i := r.findLease(holder); i >= 0 {
		r.leases[i].expiry = exp
		return r.encode(), true, true, len(r.leases), len(r.waiters)
	}
	if len(r.leases)+len(r.waiters) >= s.MaxConcurrent {
		return nil, false, false, len(r.leases), len(r.waiters)
	}
	r.leases = append(r.leases, lease{holder: holder, expiry: exp})
	return r.encode(), true, true, len(r.leases), len(r.waiters)
}

func refRelease(cur []byte, holder uint64, now int64, s Settings) (next []byte, found bool, active, queued int) {
	r := decode(cur)
	r.prune(now, s)
	i := r.findLease(holder)
	if i < 0 {
		return nil, false, len(r.leases), len(r.waiters)
	}
	r.leases = append(r.leases[:i], r.leases[i+1:]...)
	return r.encode(), true, len(r.leases), len(r.waiters)
}

func refRenew(cur []byte, holder uint64, now, exp int64, s Settings) (next []byte, found bool, active, queued int) {
	r := decode(cur)
	r.prune(now, s)
	i := r.findLease(holder)
	if i < 0 {
		return nil, false, len(r.leases), len(r.waiters)
	}
	r.leases[i].expiry = exp
	return r.encode(), true, len(r.leases), len(r.waiters)
}

// TestBytesOpsMatchRecord: the byte edits of Acquire, Release and Renew give
// exactly the record, the decision and the counts of the decoded edits,
// over random records (expired and live leases, duplicate holders, live
// and expired waiters, corrupt bytes), and leave dst's own bytes alone.
func TestBytesOpsMatchRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const now = int64(1_000_000_000_000)
	for n := 0; n < 20000; n++ {
		s, err := Settings{MaxConcurrent: 1 + rng.IntN(6), QueueSize: rng.IntN(4), MaxWait: time.Duration(1 + rng.IntN(100)), WaiterTTL: time.Duration(rng.IntN(120))}.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		var r record
		for i := rng.IntN(8); i > 0; i-- {
			r.leases = append(r.leases, lease{holder: uint64(1 + rng.IntN(5)), expiry: now - 50 + int64(rng.IntN(100))})
		}
		for i := rng.IntN(5); i > 0; i-- {
			r.waiters = append(r.waiters, waiterRec{id: uint64(1 + rng.IntN(5)), enq: now - int64(rng.IntN(150)), seen: now - int64(rng.IntN(150))})
		}
		cur := r.encode()
		switch rng.IntN(10) {
		case 0:
			cur = nil
		case 1:
			cur = cur[:len(cur)-1] // corrupt: a fresh record
		case 2:
			cur[0] = 9
		}
		holder, exp := uint64(1+rng.IntN(6)), now+int64(rng.IntN(1000))
		prefix := []byte("entry-header")
		dst := append(make([]byte, 0, 64), prefix...)

		wn, wok, wwrite, wa, wq := refAcquire(bytes.Clone(cur), holder, now, exp, s)
		gn, gok, gwrite, ga, gq := editBytes(dst, cur, acquireOp, holder, now, exp, s)
		if gok != wok || gwrite != wwrite || ga != wa || gq != wq {
			t.Fatalf("case %d acquire: got ok %v write %v counts %d/%d, want %v %v %d/%d", n, gok, gwrite, ga, gq, wok, wwrite, wa, wq)
		}
		if gwrite && (!bytes.Equal(gn[:len(prefix)], prefix) || !bytes.Equal(gn[len(prefix):], wn)) {
			t.Fatalf("case %d acquire: record\n got %x\nwant %x", n, gn, wn)
		}

		rn, rfound, ra, rq := refRelease(bytes.Clone(cur), holder, now, s)
		fn, ffound, fwrite, fa, fq := editBytes(dst[:len(prefix)], cur, releaseOp, holder, now, 0, s)
		if ffound != rfound || fwrite != rfound || fa != ra || fq != rq {
			t.Fatalf("case %d release: got found %v counts %d/%d, want %v %d/%d", n, ffound, fa, fq, rfound, ra, rq)
		}
		if ffound && (!bytes.Equal(fn[:len(prefix)], prefix) || !bytes.Equal(fn[len(prefix):], rn)) {
			t.Fatalf("case %d release: record\n got %x\nwant %x", n, fn, rn)
		}

		nn, nfound, na, nq := refRenew(bytes.Clone(cur), holder, now, exp, s)
		en, efound, ewrite, ea, eq := editBytes(dst[:len(prefix)], cur, renewOp, holder, now, exp, s)
		if efound != nfound || ewrite != nfound || ea != na || eq != nq {
			t.Fatalf("case %d renew: got found %v counts %d/%d, want %v %d/%d", n, efound, ea, eq, nfound, na, nq)
		}
		if efound && (!bytes.Equal(en[:len(prefix)], prefix) || !bytes.Equal(en[len(prefix):], nn)) {
			t.Fatalf("case %d renew: record\n got %x\nwant %x", n, en, nn)
		}
	}
}
