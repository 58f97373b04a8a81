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
