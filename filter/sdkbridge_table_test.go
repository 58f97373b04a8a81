package filter_test

import (
	"os"
	"strings"
	"testing"
)

// TestBridgeContextTable checks the bridge's table of HTTP contexts
// (filter/sdkbridge/bridge.go, section "HTTP contexts"), which replaces the
// SDK's maps in the .wasm build: the section is compiled natively in a
// scratch module (with stand-ins for the SDK's types and state) and driven
// against a map: ids in sequence with gaps, up to 3,000 live at once (the
// table grows), deleted in random order, the probe runs wrapping around the
// end of the array, lookups of live, deleted and never-seen ids, and the
// roots and liveness the SDK's callout code asks for (bwRootID, bwAlive),
// and httpActive's last-context shortcut forgetting a deleted context.
func TestBridgeContextTable(t *testing.T) {
	src, err := os.ReadFile("sdkbridge/bridge.go")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	start := strings.Index(code, "// ---- HTTP contexts ----")
	end := strings.Index(code, "// ---- callbacks (host -> plugin) ----")
	if start < 0 || end < start {
		t.Fatal("bridge.go: no HTTP contexts section")
	}
	section := "package internal\n\nimport \"tablecheck/types\"\n\n" + code[start:end]
	goTestScratch(t, "the context table", map[string]string{
		"go.mod":         "module tablecheck\n\ngo 1.21\n",
		"types/types.go": "package types\n\ntype HttpContext interface{ ID() uint32 }\n",
		"table.go":       section,
		"state.go":       tableState,
		"table_test.go":  tableCheck,
	})
}

const tableState = `package internal

// Stand-ins for the SDK's state (vmstate.go).
type state struct {
	contextIDToRootID map[uint32]uint32
	activeContextID   uint32
}

func (s *state) setActiveContextID(id uint32) { s.activeContextID = id }

var currentState = &state{contextIDToRootID: map[uint32]uint32{}}
`

const tableCheck = `package internal

import (
	"math/rand/v2"
	"testing"
)

type ctx uint32

func (c ctx) ID() uint32 { return uint32(c) }

func TestTable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	currentState.contextIDToRootID[7] = 7 // a plugin context, the SDK's
	ref := map[uint32]uint32{} // live id -> root
	var live []uint32
	next := uint32(1)
	check := func(id uint32) {
		root, ok := ref[id]
		e := httpFind(id)
		if ok != (e != nil) || ok && (e.root != root || e.ctx.ID() != id) {
			t.Fatalf("httpFind(%d) = %v, want live %v root %d", id, e, ok, root)
		}
		if bwAlive(id) != (ok || id == 7) {
			t.Fatalf("bwAlive(%d) = %v", id, bwAlive(id))
		}
		if ok && bwRootID(id) != root {
			t.Fatalf("bwRootID(%d) = %d, want %d", id, bwRootID(id), root)
		}
	}
	for step := 0; step < 200000; step++ {
		target := 3000
		if step/20000%2 == 1 {
			target = 5
		}
		if len(live) < target && r.IntN(3) > 0 || len(live) == 0 {
			next += 1 + uint32(r.IntN(3))
			if next == 7 {
				next++
			}
			root := 100 + uint32(r.IntN(3))
			httpPut(next, root, ctx(next))
			ref[next] = root
			live = append(live, next)
		} else {
			i := r.IntN(len(live))
			id := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			if r.IntN(2) == 0 && httpActive(id) == nil { // the last context found, sometimes
				t.Fatalf("httpActive(%d) = nil", id)
			}
			c := httpDelete(id)
			if c == nil || c.ID() != id {
				t.Fatalf("httpDelete(%d) = %v", id, c)
			}
			delete(ref, id)
			if httpDelete(id) != nil {
				t.Fatalf("httpDelete(%d) twice", id)
			}
			check(id)
			if httpActive(id) != nil {
				t.Fatalf("httpActive(%d) after delete", id)
			}
		}
		if httpTab.n != len(ref) {
			t.Fatalf("n = %d, want %d", httpTab.n, len(ref))
		}
		if step%997 == 0 {
			for id := range ref {
				check(id)
			}
			for i := 0; i < 50; i++ {
				check(uint32(r.IntN(int(next) + 10)))
			}
			if 2*httpTab.n > len(httpTab.slots) {
				t.Fatalf("table more than half full: %d of %d", httpTab.n, len(httpTab.slots))
			}
		}
		if a := httpActive(next); (a != nil) != (ref[next] != 0) || a != nil && currentState.activeContextID != next {
			t.Fatalf("httpActive(%d) = %v", next, a)
		}
	}
	if httpFind(0) != nil || httpIndex(0) != -1 {
		t.Fatal("id 0 found")
	}
}
`
