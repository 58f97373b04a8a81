package store

import (
	"bytes"
	"testing"
)

// TestUpdateAppendWithBufferReuses: a table WithBuffer writes exactly what
// one without writes, builds the value in the caller's array while it has
// room (the same array on the next call), and keeps the grown one.
func TestUpdateAppendWithBufferReuses(t *testing.T) {
	a, b := NewMem(0, 1), NewMem(0, 1)
	var buf []byte
	ta, tb := NewTable("t", 8), NewTable("t", 8).WithBuffer(&buf)
	var first *byte
	for i := 0; i < 40; i++ {
		key := []string{"x", "y", "z"}[i%3]
		grow := bytes.Repeat([]byte{byte(i)}, i) // a longer state every call
		fn := func(dst, cur []byte) ([]byte, bool, error) { return append(dst, grow...), true, nil }
		if _, err := ta.UpdateAppend(a, key, int64(i), 0, fn); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.UpdateAppend(b, key, int64(i), 0, fn); err != nil {
			t.Fatal(err)
		}
		va, _, _ := a.Get(ta.StoreKey(key))
		vb, _, _ := b.Get(tb.StoreKey(key))
		if !bytes.Equal(va, vb) {
			t.Fatalf("call %d: wrote\n%x\nwant\n%x", i, vb, va)
		}
		if i == 0 {
			first = &buf[:1][0]
		}
	}
	if cap(buf) == 0 || &buf[:1][0] == first {
		t.Fatalf("the buffer did not grow (cap %d, first %p)", cap(buf), first)
	}
	// With room, the next call builds in the same array.
	kept := &buf[:1][0]
	small := func(dst, cur []byte) ([]byte, bool, error) { return append(dst, 1), true, nil }
	if _, err := NewTable("u", 8).WithBuffer(&buf).UpdateAppend(NewMem(0, 1), "x", 99, 0, small); err != nil {
		t.Fatal(err)
	}
	if &buf[:1][0] != kept {
		t.Fatal("a call with room allocated a new buffer")
	}
}
