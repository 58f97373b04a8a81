package store

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// sipRef is SipHash-c-d written plainly (the reference for Sum).
func sipRef(k HashKey, m []byte, c, d int) uint64 {
	v := [4]uint64{k[0] ^ 0x736f6d6570736575, k[1] ^ 0x646f72616e646f6d, k[0] ^ 0x6c7967656e657261, k[1] ^ 0x7465646279746573}
	round := func() { v[0], v[1], v[2], v[3] = sipRound(v[0], v[1], v[2], v[3]) }
	b := append(append([]byte(nil), m...), make([]byte, 8-len(m)%8)...)
	b[len(b)-1] = byte(len(m))
	for i := 0; i < len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		v[3] ^= w
		for range c {
			round()
		}
		v[0] ^= w
	}
	v[2] ^= 0xff
	for range d {
		round()
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

// TestSipVector: the reference gives the published SipHash-2-4 vectors
// (key 00..0f, messages 00..0e and empty), and Sum is its 1-3 variant.
func TestSipVector(t *testing.T) {
	var kb [16]byte
	for i := range kb {
		kb[i] = byte(i)
	}
	k := HashKey{binary.LittleEndian.Uint64(kb[:]), binary.LittleEndian.Uint64(kb[8:])}
	var m []byte
	for i := 0; i < 15; i++ {
		m = append(m, byte(i))
	}
	if got := sipRef(k, m, 2, 4); got != 0xa129ca6149be45e5 {
		t.Fatalf("reference 2-4: %x", got)
	}
	if got := sipRef(k, nil, 2, 4); got != 0x726fdb47dd0e0e31 {
		t.Fatalf("reference 2-4, empty: %x", got)
	}
	for n := 0; n < 40; n++ {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		if got, want := k.Sum(string(msg)), sipRef(k, msg, 1, 3); got != want {
			t.Fatalf("len %d: Sum %x, SipHash-1-3 %x", n, got, want)
		}
	}
}

// liveIdler: a state "L" is live, anything else idle.
type liveIdler struct{}

func (liveIdler) Idle(st []byte, _, _ int64) bool { return string(st) != "L" }

// TestTableNeverEvictsLive: a set full of live entries sends new keys to the
// overflow state; the live entries stay; an idle entry is replaced first.
func TestTableNeverEvictsLive(t *testing.T) {
	s := NewMem(0, 1)
	tb := NewTable("p", 4).WithIdle(liveIdler{}) // one set of four ways
	put := func(k, v string, now int64) bool {
		over, err := tb.UpdateWhere(s, k, now, func(cur []byte) ([]byte, bool, error) { return []byte(v), true, nil })
		if err != nil {
			t.Fatal(err)
		}
		return over
	}
	for i, k := range []string{"a", "b", "c"} {
		if put(k, "L", int64(i)) {
			t.Fatalf("%s overflowed with room", k)
		}
	}
	if put("d", "i", 3) { // idle
		t.Fatal("d overflowed with room")
	}
	if put("e", "L", 4) { // replaces d, the only idle entry
		t.Fatal("e overflowed though d was idle")
	}
	for i := 0; i < 10000; i++ {
		k := fmt.Sprintf("flood-%d", i)
		if !put(k, "F", int64(5+i)) {
			t.Fatalf("%s took a live entry's place", k)
		}
	}
	for _, k := range []string{"a", "b", "c", "e"} {
		if st, _ := tb.Get(s, k, 1e9); string(st) != "L" {
			t.Fatalf("live %s: %q", k, st)
		}
	}
	if st, _ := tb.Get(s, "someone-new", 1e9); string(st) != "F" {
		t.Fatalf("a new key in a full set reads %q, want the overflow state", st)
	}
	if s.Len() != 2 {
		t.Fatalf("%d store keys, want the set and the overflow", s.Len())
	}
}

// TestTableHashKeyed: the set of a key depends on the secret.
func TestTableHashKeyed(t *testing.T) {
	a := NewTable("p", 1024).WithHashKey(HashKey{1, 2})
	b := NewTable("p", 1024).WithHashKey(HashKey{3, 4})
	same := 0
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("k%d", i)
		if a.StoreKey(k) == b.StoreKey(k) {
			same++
		}
	}
	if same > 20 { // 1000/256 expected
		t.Fatalf("%d of 1000 keys in the same set under two secrets", same)
	}
	if n := testing.AllocsPerRun(100, func() { _ = HashKey{1, 2}.Sum("a-key-of-some-length/orders/1234") }); n != 0 {
		t.Fatalf("Sum allocates %v", n)
	}
}
