package filter

import (
	"reflect"
	"testing"
)

// TestHttpContextReuse: a context the host deleted after its stream ended
// serves the next NewHttpContext, reset to a new context's state; one
// deleted before OnHttpStreamDone ran is not reused. (The .wasm build's
// bridge calls deleted at proxy_on_delete; the wasm scenarios run on reused
// contexts.)
func TestHttpContextReuse(t *testing.T) {
	p := newPluginContext(1)
	h := p.NewHttpContext(5).(*httpContext)
	h.deleted() // its stream never ended
	if p.NewHttpContext(6).(*httpContext) == h {
		t.Fatal("a context deleted before its stream ended was reused")
	}
	h.done, h.local, h.ended, h.step, h.retryGranted = true, true, true, 3, 2
	h.undo = make([]holdRec, 1)
	h.staleID = "x"
	h.deleted()
	h2 := p.NewHttpContext(7).(*httpContext)
	if h2 != h {
		t.Fatal("a deleted context was not reused")
	}
	if !reflect.DeepEqual(*h2, httpContext{id: 7, p: p}) {
		t.Fatalf("reused context not reset: %+v", *h2)
	}
	if p.NewHttpContext(8).(*httpContext) == h {
		t.Fatal("a context was handed out twice")
	}
}

// TestHttpContextReuseKeepsBlock: a reused context keeps its stream block
// (streamBufs) and is otherwise a new context's state; contexts come off
// the free list last in, first out, each once.
func TestHttpContextReuseKeepsBlock(t *testing.T) {
	p := newPluginContext(1)
	a := p.NewHttpContext(1).(*httpContext)
	b := p.NewHttpContext(2).(*httpContext)
	a.b, b.b = newStreamBufs(), newStreamBufs()
	ab, bb := a.b, b.b
	a.undo, a.onEnd = ab.undo[:1], ab.end[:0]
	a.OnHttpStreamDone()
	b.OnHttpStreamDone()
	a.deleted()
	b.deleted()
	if h := p.NewHttpContext(3).(*httpContext); h != b || h.b != bb || !reflect.DeepEqual(*h, httpContext{id: 3, p: p, b: bb}) {
		t.Fatalf("first reuse: %p (want %p) %+v", h, b, *h)
	}
	if h := p.NewHttpContext(4).(*httpContext); h != a || h.b != ab || !reflect.DeepEqual(*h, httpContext{id: 4, p: p, b: ab}) {
		t.Fatalf("second reuse: %p (want %p) %+v", h, a, *h)
	}
	if h := p.NewHttpContext(5).(*httpContext); h == a || h == b || h.b != nil {
		t.Fatal("the free list handed out a context twice or a new context has a block")
	}
}
