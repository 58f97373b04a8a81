package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	setting "github.com/breakwater/breakwater/patterns/field"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// FuzzParseConfig: parse never panics (it is called without Parse's
// recover), its error is one clean line, and a configuration it accepts
// satisfies every invariant the contract promises (checked independently
// of the decoders by checkInvariants) and explains (Explain) to a document
// that parses to the same configuration. Seeds: the committed corpus in
// testdata/fuzz/FuzzParseConfig plus every table case of this package.
func FuzzParseConfig(f *testing.F) {
	for _, tc := range invalidCases {
		if len(tc.in) < 1<<16 {
			f.Add([]byte(tc.in))
		}
	}
	for _, fc := range blockSeeds {
		f.Add([]byte(twoPolicies(fc.fields)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			line := err.Error()
			if !strings.HasPrefix(line, "breakwater: config: ") || err.Path == "" || err.Reason == "" {
				t.Fatalf("malformed error %q", line)
			}
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("error is not one line: %q", line)
			}
			if len(line) > 4096 {
				t.Fatalf("error line of %d bytes", len(line))
			}
			if _, again := parse(data); again == nil || again.Error() != line {
				t.Fatalf("not deterministic: %q then %v", line, again)
			}
			return
		}
		if ierr := checkInvariants(c); ierr != nil {
			t.Fatalf("accepted config breaks an invariant: %v\ninput: %q", ierr, data)
		}
		// Explain's output (validate --explain) is the same configuration.
		out, xerr := c.Explain()
		if xerr != nil {
			t.Fatalf("Explain: %v\ninput: %q", xerr, data)
		}
		if c2, perr := parse(out); perr != nil {
			t.Fatalf("Explain output refused: %v\ninput: %q\noutput: %s", perr, data, out)
		} else if !reflect.DeepEqual(c, c2) {
			t.Fatalf("Explain output is another configuration\ninput: %q\noutput: %s", data, out)
		}
		_ = c.Warnings()
		// Load is Parse.
		if _, lerr := Load(data); lerr != nil {
			t.Fatalf("Load after a successful Parse: %v", lerr)
		}
	})
}

const tb = `{"name":"t","requests":1,"per":"1s"}`

// blockSeeds: a configuration using each block and sub-block (as a second
// policy, so paths carry an index), seeds of the fuzzer.
var blockSeeds = []struct {
	name, fields string
}{
	{"rate_limit.algorithm.token_bucket", `"rate_limit":{"limits":[` + tb + `],"headers":false}`},
	{"rate_limit.algorithm.gcra", `"rate_limit":{"limits":[` + tb + `,{"name":"g","algorithm":"gcra","requests":1,"per":"1s"}],"headers":false}`},
	{"rate_limit.algorithm.fixed_window", `"rate_limit":{"limits":[{"name":"g","algorithm":"fixed_window","requests":1,"per":"1s"}],"headers":false}`},
	{"rate_limit.algorithm.sliding_window", `"rate_limit":{"limits":[{"name":"g","algorithm":"sliding_window","requests":1,"per":"1s"}],"headers":false}`},
	{"rate_limit.algorithm.leaky_bucket", `"rate_limit":{"limits":[{"name":"g","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"1s"}],"headers":false}`},
	{"rate_limit.tier", `"rate_limit":{"limits":[{"name":"g","requests":1,"per":"1s","tier":{"from":"path","default":"a","limits":{"b":{"requests":2,"per":"1s"}}}}],"headers":false}`},
	{"rate_limit.scope.global", `"rate_limit":{"limits":[{"name":"g","scope":"global","key":["path"],"descriptor_key":"p"}],"service":{"cluster":"c","domain":"d"},"headers":false}`},
	{"rate_limit.failure_mode.local", `"rate_limit":{"limits":[{"name":"g","scope":"global","key":["path"],"descriptor_key":"p","requests":1,"per":"1s"}],"service":{"cluster":"c","domain":"d","failure_mode":"local"},"headers":false}`},
	{"rate_limit.headers", `"rate_limit":{"limits":[` + tb + `]}`},
	{"circuit_breaker", `"circuit_breaker":{}`},
	{"circuit_breaker.window.time", `"circuit_breaker":{"window":{"type":"time","size":"10s"}}`},
	{"bulkhead", `"bulkhead":{"max_concurrent":1}`},
	{"bulkhead.queue", `"bulkhead":{"max_concurrent":1,"queue":{"max_size":1,"max_wait":"1s"}}`},
	{"retry", `"retry":{}`},
	{"retry.budget", `"retry":{"budget":{}}`},
	{"timeout", `"timeout":{"request":"1s"}`},
	{"timeout.deadline", `"timeout":{"deadline":{}}`},
	{"timeout.adaptive", `"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s"}}`},
	{"fallback", `"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"body":"x"}`},
	{"fallback.stale", `"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"stale":{"max_age":"1s"}}`},
	{"fault", `"fault":{"abort":{"percent":1}}`},
}

func twoPolicies(fields string) string {
	return `{"policies":[{"name":"first","match":{"path_prefix":"/first"}},{"name":"p",` + fields + `}]}`
}

// checkInvariants re-validates a parsed configuration from the outside.
func checkInvariants(c *Config) error {
	if !isName(c.Namespace) {
		return fmt.Errorf("namespace %q", c.Namespace)
	}
	if len(c.Policies) == 0 {
		return errors.New("no policies")
	}
	names := map[string]bool{}
	for i, p := range c.Policies {
		if p == nil || !isName(p.Name) || names[p.Name] {
			return fmt.Errorf("policy %d: bad or duplicate name", i)
		}
		names[p.Name] = true
		if i > 0 && c.Policies[i-1].Match == nil {
			return fmt.Errorf("policy %d unreachable", i)
		}
		if err := checkPolicy(p); err != nil {
			return fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	return nil
}

func positive(ds ...time.Duration) bool {
	for _, d := range ds {
		if d <= 0 {
			return false
		}
	}
	return true
}

func checkKey(parts []KeyPart) error {
	if len(parts) > MaxKeyParts {
		return errors.New("too many key parts")
	}
	for i, k := range parts {
		back, err := ParseKeyPart(k.String())
		if err != nil || back != k {
			return fmt.Errorf("key part %v does not round-trip", k)
		}
		if slices.Contains(parts[:i], k) {
			return fmt.Errorf("duplicate key part %v", k)
		}
	}
	return nil
}

func statusOK(s int) bool { return s >= 200 && s <= 599 }

func lowerToken(s string) bool { return setting.IsToken(s) && s == strings.ToLower(s) }

func methodsOK(ms []string) bool {
	if len(ms) == 0 {
		return false
	}
	for i, m := range ms {
		if !setting.IsToken(m) || m != strings.ToUpper(m) || slices.Contains(ms[:i], m) {
			return false
		}
	}
	return true
}

func checkPolicy(p *Policy) error {
	if m := p.Match; m != nil {
		n := 0
		for _, set := range []bool{m.PathPrefix != "", m.PathExact != "", m.PathRegex != nil} {
			if set {
				n++
			}
		}
		if n > 1 {
			return errors.New("two path conditions")
		}
		if m.PathRegex != nil {
			s := m.PathRegex.String()
			if !strings.HasPrefix(s, "^(?:") || !strings.HasSuffix(s, ")$") {
				return fmt.Errorf("regex %q not anchored", s)
			}
		}
		if m.Methods != nil && !methodsOK(m.Methods) {
			return errors.New("match methods")
		}
		if m.Authority != strings.ToLower(m.Authority) {
			return errors.New("authority not lower case")
		}
		for _, h := range m.Headers {
			if !lowerToken(h.Name) || h.Kind < HeaderExact || h.Kind > HeaderPresent || strings.ContainsAny(h.Value, "\r\n\x00") {
				return fmt.Errorf("header match %+v", h)
			}
		}
	}
	if r := p.RateLimit; r != nil {
		if len(r.Limits) == 0 || !statusOK(r.Status) {
			return errors.New("rate_limit")
		}
		names := map[string]bool{}
		global := false
		for _, l := range r.Limits {
			if !isName(l.Name) || names[l.Name] || l.MaxKeys < 1 || l.MaxKeys > 1_000_000 {
				return fmt.Errorf("limit %q", l.Name)
			}
			names[l.Name] = true
			if err := checkKey(l.Key); err != nil {
				return err
			}
			local := true
			switch l.Scope {
			case ScopeGlobal:
				global = true
				if r.Service == nil || l.DescriptorKey == "" || len(l.Key) == 0 || l.Tier != nil {
					return fmt.Errorf("global limit %q", l.Name)
				}
				local = r.Service.FailureMode == FailLocal
				if !local && l.Settings != (ratelimit.Settings{}) {
					return fmt.Errorf("global limit %q has local parameters", l.Name)
				}
			case ScopeLocal:
				if l.DescriptorKey != "" {
					return fmt.Errorf("local limit %q has a descriptor key", l.Name)
				}
			default:
				return fmt.Errorf("scope %q", l.Scope)
			}
			if !local {
				continue
			}
			if err := checkRate(l.Algorithm, l.Settings); err != nil {
				return fmt.Errorf("limit %q: %w", l.Name, err)
			}
			if t := l.Tier; t != nil {
				if t.Default == "" || len(t.Limits) == 0 || len(t.Names) != len(t.Limits) {
					return errors.New("tier shape")
				}
				if _, ok := t.Limits[t.Default]; ok {
					return errors.New("default tier listed")
				}
				if err := checkKey([]KeyPart{t.From}); err != nil {
					return err
				}
				for _, n := range t.Names {
					tr, ok := t.Limits[n]
					if !ok {
						return errors.New("tier names")
					}
					if err := checkRate(l.Algorithm, tr); err != nil {
						return fmt.Errorf("tier %q: %w", n, err)
					}
				}
			}
		}
		if (r.Service != nil) != global {
			return errors.New("service without global limit or the reverse")
		}
		if s := r.Service; s != nil && (s.Cluster == "" || s.Authority == "" || s.Domain == "" || !positive(s.Timeout) ||
			!slices.Contains([]FailureMode{FailOpen, FailClosed, FailLocal}, s.FailureMode)) {
			return errors.New("service")
		}
	}
	if cb := p.CircuitBreaker; cb != nil {
		if err := checkKey(cb.Key); err != nil {
			return err
		}
		if n, err := cb.Settings.Normalize(); err != nil || n != cb.Settings {
			return fmt.Errorf("breaker settings not normalized: %+v: %v", cb.Settings, err)
		}
		if cb.MaxKeys < 1 || cb.HalfOpenMaxWait < cb.OpenDuration || !bounded(cb.WindowDuration, cb.SlowCallDuration,
			cb.OpenDuration, cb.MaxOpenDuration, cb.HalfOpenMaxWait) {
			return fmt.Errorf("breaker %+v", cb)
		}
		for i, s := range cb.FailureOn.Statuses {
			if !statusOK(s) || slices.Contains(cb.FailureOn.Statuses[:i], s) {
				return errors.New("failure statuses")
			}
		}
	}
	if b := p.Bulkhead; b != nil {
		if err := checkKey(b.Key); err != nil {
			return err
		}
		if n, err := b.Settings.Normalize(); err != nil || n != b.Settings {
			return fmt.Errorf("bulkhead settings not normalized: %+v: %v", b.Settings, err)
		}
		if b.LeaseTTL < time.Second || b.MaxKeys < 1 || !bounded(b.LeaseTTL, b.MaxWait) {
			return fmt.Errorf("bulkhead %+v", b)
		}
	}
	if r := p.Retry; r != nil {
		if r.MaxRetries < 0 || r.MaxRetries > 10 || len(r.RetryOn) == 0 || !methodsOK(r.Methods) || r.PerTryTimeout < 0 {
			return fmt.Errorf("retry %+v", r)
		}
		for i, v := range r.RetryOn {
			if !slices.Contains(retryOnValues, v) || slices.Contains(r.RetryOn[:i], v) {
				return fmt.Errorf("retry_on %q", v)
			}
		}
		if slices.Contains(r.RetryOn, "retriable-status-codes") != (len(r.RetriableStatusCodes) > 0) {
			return errors.New("retriable status codes")
		}
		if b := r.Budget; b != nil {
			n, err := b.Normalize()
			nr, nm := n.Values()
			br, bm := b.Values()
			if err != nil || b.Ratio == nil || b.MinPerSecond == nil || nr != br || nm != bm {
				return fmt.Errorf("budget not normalized: %v", err)
			}
		}
		if p.Timeout != nil && p.Timeout.Request > 0 && r.PerTryTimeout > p.Timeout.Request {
			return errors.New("per try timeout over request timeout")
		}
	}
	if t := p.Timeout; t != nil {
		if t.Request == 0 && t.Deadline == nil && t.Adaptive == nil || t.Request < 0 {
			return errors.New("empty timeout")
		}
		if d := t.Deadline; d != nil && d.MinRemaining < 0 {
			return errors.New("deadline")
		}
		if !bounded(t.Request) {
			return errors.New("request timeout")
		}
		if a := t.Adaptive; a != nil {
			if n, err := a.Normalize(); err != nil || n != *a || t.Request <= 0 || !positive(a.Min, a.Max) {
				return fmt.Errorf("adaptive %+v: %v", a, err)
			}
		}
	}
	if f := p.Fallback; f != nil {
		if len(f.On) == 0 || f.Status != 0 && !statusOK(f.Status) {
			return errors.New("fallback")
		}
		for i, r := range f.On {
			if !slices.Contains(Reasons, r) || slices.Contains(f.On[:i], r) || reasonNeeds(p, r) != "" {
				return fmt.Errorf("fallback reason %q", r)
			}
		}
		for i, h := range f.Headers {
			if !lowerToken(h.Name) || reservedResponseHeader(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") ||
				slices.ContainsFunc(f.Headers[:i], func(x Header) bool { return x.Name == h.Name }) {
				return fmt.Errorf("fallback header %q", h.Name)
			}
		}
		if s := f.Stale; s != nil && (!positive(s.MaxAge) || s.MaxBodyBytes < 1) {
			return errors.New("stale")
		}
	}
	if ft := p.Fault; ft != nil {
		if !ft.HasAbort && !ft.HasDelay {
			return errors.New("empty fault")
		}
		if n, err := ft.Settings.Normalize(); err != nil || n != ft.Settings {
			return fmt.Errorf("fault settings not normalized: %+v: %v", ft.Settings, err)
		}
		if !ft.HasAbort && ft.AbortPercent != 0 || !ft.HasDelay && (ft.DelayPercent != 0 || ft.Delay != 0) ||
			ft.HasDelay && !positive(ft.Delay) {
			return errors.New("fault blocks")
		}
		if ft.OnlyWithHeader != "" && !lowerToken(ft.OnlyWithHeader) {
			return errors.New("only_with_header")
		}
	}
	for _, r := range Reasons {
		if s := p.RejectStatus(r); !statusOK(s) {
			return fmt.Errorf("reject status %d for %s", s, r)
		}
	}
	return nil
}

func checkRate(alg ratelimit.Algorithm, r ratelimit.Settings) error {
	if r.Algorithm != alg {
		return fmt.Errorf("algorithm %v, limit's %v", r.Algorithm, alg)
	}
	if n, err := r.Normalize(); err != nil || n != r {
		return fmt.Errorf("rate not normalized: %+v: %v", r, err)
	}
	if (alg == ratelimit.LeakyBucket) != (r.MaxDelay > 0) || !bounded(r.Per, r.MaxDelay) {
		return fmt.Errorf("max_delay %+v with %s", r, alg)
	}
	return nil
}

// bounded says whether every duration is at most MaxDuration.
func bounded(ds ...time.Duration) bool {
	for _, d := range ds {
		if d < 0 || d > MaxDuration {
			return false
		}
	}
	return true
}

// TestSeedCorpus keeps the committed corpus meaningful: the seeds named
// here parse (so the fuzzer starts from configurations that reach every
// block), the others are refused; every one satisfies the fuzz property.
func TestSeedCorpus(t *testing.T) {
	valid := []string{"full_example", "minimal", "token_bucket", "tiers_leaky", "global_local", "breaker_time",
		"breaker_count", "bulkhead_queue", "retry_timeout", "fallback_fault", "regex_match"}
	dir := "testdata/fuzz/FuzzParseConfig"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 15 {
		t.Fatalf("only %d seeds", len(entries))
	}
	for _, e := range entries {
		raw, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		header, lit, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
		if !ok || header != "go test fuzz v1" || !strings.HasPrefix(lit, "[]byte(") || !strings.HasSuffix(lit, ")") {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		data, err := strconv.Unquote(lit[len("[]byte(") : len(lit)-1])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		c, perr := parse([]byte(data))
		wantOK := slices.Contains(valid, e.Name())
		if (perr == nil) != wantOK {
			t.Errorf("%s: parse error %v, want valid=%v", e.Name(), perr, wantOK)
			continue
		}
		if c != nil {
			if err := checkInvariants(c); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
	}
}
