package breaker

import (
	"bytes"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

var fuzzSettings = []Settings{
	{WindowSize: 10, MinimumCalls: 2, ConsecutiveFailures: 2, SlowCallDuration: s1, OpenDuration: 10 * s1, HalfOpenCalls: 3},
	{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 2, OpenDuration: 10 * s1, HalfOpenCalls: 2},
}

// recordOf returns the stored record of key.
func recordOf(t testing.TB, b *Breaker, st store.Store, key string) []byte {
	v, err := b.Table().Get(st, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seedRecords drives both breakers through every state and returns the
// records seen.
func seedRecords(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range fuzzSettings {
		b := New("cb", 1, s)
		st := store.NewMem(0, 1)
		add := func() { out = append(out, bytes.Clone(recordOf(t, b, st, "k"))) }
		tok, _, _, _ := b.Allow(st, "k", t0)
		b.Report(st, "k", tok, t0, Outcome{Duration: 2 * s1})
		add() // closed with one slow call
		for range 3 {
			tok, _, _, _ := b.Allow(st, "k", t0)
			b.Report(st, "k", tok, t0, Outcome{Failure: true})
		}
		add() // open
		p, _, _, _ := b.Allow(st, "k", t0.Add(time.Minute))
		add() // half-open, one probe pending
		b.Report(st, "k", p, t0.Add(time.Minute), Outcome{})
		add() // half-open, one probe succeeded
	}
	return out
}

func TestSeedRecordsDecode(t *testing.T) {
	for i, v := range seedRecords(t) {
		r, win, ok := decodeRecord(v)
		if !ok {
			t.Fatalf("seed %d does not decode: %x", i, v)
		}
		buf := make([]byte, hdrLen, len(v))
		r.put(buf)
		if !bytes.Equal(append(buf, win...), v) {
			t.Fatalf("seed %d does not round-trip", i)
		}
	}
	if len(seedRecords(t)[0]) != 40+12+2*2 {
		t.Fatalf("count window of 10: %d bytes", len(seedRecords(t)[0]))
	}
}

// FuzzDecode: decoding never panics; a record that decodes re-encodes to the
// same bytes (the encoding is canonical); one that does not is a fresh
// closed state at generation 1; and whatever is stored, the breaker's
// operations never fail, and every record they write decodes.
func FuzzDecode(f *testing.F) {
	for _, v := range seedRecords(f) {
		f.Add(v)
		f.Add(v[:len(v)-1])
		f.Add(v[:hdrLen])
	}
	f.Add([]byte{})
	f.Add([]byte{0xB1})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, win, ok := decodeRecord(v)
		if ok {
			buf := make([]byte, hdrLen, len(v))
			r.put(buf)
			if !bytes.Equal(append(buf, win...), v) {
				t.Fatalf("decoded record does not re-encode to itself: %x", v)
			}
		} else if r != fresh() || win != nil {
			t.Fatalf("corrupt record decoded as %+v", r)
		}
		for _, s := range fuzzSettings {
			b := New("cb", 1, s)
			st := store.NewMem(0, 1)
			if err := b.Table().Update(st, "k", 0, func([]byte) ([]byte, bool, error) { return v, true, nil }); err != nil {
				t.Fatal(err)
			}
			if !ok {
				sn, err := b.Inspect(st, "k", t0)
				if err != nil || sn.State != Closed || sn.Generation != 1 || sn.Calls != 0 || sn.Trip != 0 {
					t.Fatalf("corrupt record: Inspect = %s, %v", snapString(sn), err)
				}
			}
			for i, at := range []time.Duration{0, time.Hour, 2 * time.Hour} {
				now := t0.Add(at)
				if _, err := b.State(st, "k", now); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Inspect(st, "k", now); err != nil {
					t.Fatal(err)
				}
				tok, _, _, err := b.Allow(st, "k", now)
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					err = b.Release(st, "k", tok, now)
				} else {
					_, err = b.Report(st, "k", tok, now, Outcome{Failure: i == 0, Duration: 3 * s1})
				}
				if err != nil {
					t.Fatal(err)
				}
				if w := recordOf(t, b, st, "k"); w != nil {
					if _, _, ok := decodeRecord(w); !ok {
						t.Fatalf("the breaker wrote a record that does not decode: %x (from %x)", w, v)
					}
				}
			}
		}
	})
}

// TestDecodeRejectsCorrupt mutates one field of valid records at a time:
// each mutation must make the record corrupt (fresh closed state).
func TestDecodeRejectsCorrupt(t *testing.T) {
	seeds := seedRecords(t)
	closedCount, openCount, halfCount, closedTime := seeds[0], seeds[1], seeds[2], seeds[4]
	u32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], v); return b }
	}
	u64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint64(b[off:], v); return b }
	}
	by := func(off int, v byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] = v; return b }
	}
	cases := []struct {
		name string
		rec  []byte
		mut  func([]byte) []byte
	}{
		{"format byte", closedCount, by(0, 0xB2)},
		{"state 3", closedCount, by(1, 3)},
		{"window type 2", closedCount, by(2, 2)},
		{"reserved", closedCount, by(3, 1)},
		{"generation 0", closedCount, u32(4, 0)},
		{"closed with trips", closedCount, u32(8, 1)},
		{"closed with probes", closedCount, u64(20, 1)},
		{"open without trips", openCount, u32(8, 0)},
		{"open with probes", openCount, u64(28, 1)},
		{"open with consecutive failures", openCount, u32(36, 2)},
		{"half-open without trips", halfCount, u32(8, 0)},
		{"half-open with consecutive failures", halfCount, u32(36, 1)},
		{"probe pending and succeeded", halfCount, u64(28, 1)},
		{"count: N 0", closedCount, u32(40, 0)},
		{"count: N too large", closedCount, u32(40, MaxWindowSize+1)},
		{"count: N does not match the length", closedCount, u32(40, 20)},
		{"count: filled > N", closedCount, u32(44, 11)},
		{"count: pos >= N", closedCount, u32(48, 10)},
		{"count: pos != filled while not full", closedCount, u32(48, 5)},
		{"count: failure bit beyond filled", closedCount, by(52, 0x02)},
		{"count: slow bit beyond filled", closedCount, by(54, 0x80)},
		{"time: B 0", closedTime, u32(40, 0)},
		{"time: B too large", closedTime, u32(40, MaxBuckets+1)},
		{"time: bucket duration 0", closedTime, u64(44, 0)},
		{"time: failures > calls", closedTime, func(b []byte) []byte {
			for o := 60; o < len(b); o += bucketLen {
				le.PutUint32(b[o+4:], le.Uint32(b[o:])+1)
			}
			return b
		}},
		{"time: slow > calls", closedTime, func(b []byte) []byte {
			for o := 60; o < len(b); o += bucketLen {
				le.PutUint32(b[o+8:], le.Uint32(b[o:])+1)
			}
			return b
		}},
		{"one byte more", closedCount, func(b []byte) []byte { return append(b, 0) }},
		{"one byte less", closedTime, func(b []byte) []byte { return b[:len(b)-1] }},
		{"header only", closedCount, func(b []byte) []byte { return b[:hdrLen] }},
	}
	for _, c := range cases {
		if _, _, ok := decodeRecord(c.rec); !ok {
			t.Fatalf("%s: the seed does not decode", c.name)
		}
		r, win, ok := decodeRecord(c.mut(bytes.Clone(c.rec)))
		if ok || r != fresh() || win != nil {
			t.Errorf("%s: decoded as valid %+v", c.name, r)
		}
	}
}
