package filter

import (
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// TestGuardRecovers: a panic inside OnHttpRequestHeaders (guarded by
// guard, which calls recover only when no return statement ran) is
// recovered: the request continues and one internal error is logged. A
// callback that returns normally returns its own action, never running.
func TestGuardRecovers(t *testing.T) {
	h, ok := startHarness(t, "native", `{"policies":[{"name":"api","match":{"path_prefix":"/api"}}]}`)
	if !ok {
		t.Fatal("plugin start failed")
	}
	c := &httpContext{} // no plugin context: its first use panics
	if a := c.OnHttpRequestHeaders(0, true); a != types.ActionContinue {
		t.Fatalf("after a panic: action %v, want continue", a)
	}
	n := 0
	for _, l := range h.host.GetErrorLogs() {
		if strings.Contains(l, "internal error") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d internal error lines, want 1: %q", n, h.host.GetErrorLogs())
	}
	for _, path := range []string{"/api/orders", "/other"} {
		if x := h.request("GET", path); x.action != types.ActionContinue {
			t.Fatalf("%s: action %v, want continue", path, x.action)
		}
	}
	if l := h.host.GetErrorLogs(); len(l) != 1 {
		t.Fatalf("error logs %q, want only the panic's", l)
	}
}
