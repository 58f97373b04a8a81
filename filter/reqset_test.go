package filter

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/filter/config"
)

// TestReqSetEncode: a reqSet's encoding is the header map of its pairs
// after the map's count (what ReplaceRequestHeadersBlock appends to the
// request's map), also when it is made again in its own array.
func TestReqSetEncode(t *testing.T) {
	var s reqSet
	for _, pairs := range [][][2]string{
		{{"x-breakwater-policy", "api"}},
		{{"x-breakwater-policy", "a-longer-policy-name"}, {"x-envoy-upstream-rq-timeout-ms", "2000"}, {"e", ""}},
		{{"x-breakwater-policy", "p"}},
	} {
		s.pairs = pairs
		s.encode()
		if want := encodeHeaders(pairs)[4:]; !bytes.Equal(s.enc, want) {
			t.Fatalf("%q: encoding %q, want %q", pairs, s.enc, want)
		}
	}
}

// TestDirectiveSets: the directive stage's sets hold, for each timeout and
// retry grant, x-breakwater-policy, the timeout in each of its headers,
// then the retry directives, also after more combinations than it keeps
// (dirSets) replaced the older ones.
func TestDirectiveSets(t *testing.T) {
	p := newPluginContext(1)
	pol := &policy{name: "svc"}
	pc := &config.Policy{Name: "svc",
		Timeout: &config.Timeout{Request: 2 * time.Second, Deadline: &config.Deadline{Propagate: true}},
		Retry:   &config.Retry{MaxRetries: 2, RetryOn: []string{"5xx"}}}
	s, err := newDirectiveStage(p, "breakwater", pol, pc)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < 3*dirSets; i++ {
			d, granted := time.Duration(i+1)*time.Millisecond+time.Microsecond, i%3-1
			e := s.setFor(d, granted)
			ms := strconv.Itoa(i + 2) // rounded up
			want := [][2]string{{"x-breakwater-policy", "svc"},
				{"x-envoy-upstream-rq-timeout-ms", ms}, {"x-envoy-expected-rq-timeout-ms", ms}}
			if granted >= 0 {
				want = append(want, [2]string{"x-envoy-max-retries", strconv.Itoa(granted)})
			}
			if granted > 0 {
				want = append(want, [2]string{"x-envoy-retry-on", "5xx"})
			}
			if !slices.Equal(e.set.pairs, want) || !bytes.Equal(e.set.enc, encodeHeaders(want)[4:]) {
				t.Fatalf("round %d, %v %d: %q, want %q", round, d, granted, e.set.pairs, want)
			}
		}
	}
}
