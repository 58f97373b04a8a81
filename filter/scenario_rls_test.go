package filter

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// TestGlobalLimitAgainstRealRateLimitService sends the filter's callouts to
// the real envoyproxy/ratelimit (backed by a real Redis) over HTTP and feeds
// its real answers back: a limit of 3 per minute configured in the
// service's YAML is enforced exactly, per user.
func TestGlobalLimitAgainstRealRateLimitService(t *testing.T) {
	redis := testsvc.Redis(t)
	url := testsvc.RateLimit(t, redis, `domain: breakwater
descriptors:
  - key: user
    rate_limit:
      unit: minute
      requests_per_unit: 3
`)
	h, ok := startHarness(t, "native", `{"policies": [{"name": "api", "rate_limit": {
		"limits": [{"name": "mesh", "scope": "global", "key": ["header:x-user-id"], "descriptor_key": "user"}],
		"service": {"cluster": "ratelimit", "domain": "breakwater", "timeout": "1s", "failure_mode": "deny"}}}]}`)
	if !ok {
		t.Fatalf("start: %v", h.host.GetCriticalLogs())
	}
	send := func(user string) *exchange {
		x := h.request("GET", "/", "x-user-id", user)
		calls := h.host.GetCalloutAttributesFromContext(x.id)
		if len(calls) != 1 {
			t.Fatalf("%d callouts", len(calls))
		}
		c := calls[0]
		resp, err := http.Post(url+get(c.Headers, ":path"), get(c.Headers, "content-type"), bytes.NewReader(c.Body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", resp.Status[:3]}}, nil, body)
		return x
	}
	for i := 0; i < 3; i++ {
		x := send("alice")
		expectForwarded(t, x)
		x.respond("200")
		if got, want := x.responseHeader("ratelimit-remaining"), string(rune('2'-i)); got != want {
			t.Fatalf("request %d: remaining %q, want %q", i, got, want)
		}
	}
	for i := 0; i < 2; i++ {
		expectRejected(t, send("alice"), "api")
	}
	expectForwarded(t, send("bob"))
	if n := h.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "mesh")); n != 2 {
		t.Fatalf("limited_total %d", n)
	}
}
