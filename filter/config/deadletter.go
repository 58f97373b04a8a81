package config

import (
	"math"

	"github.com/breakwater/breakwater/patterns/deadletter"
)

// deadLetter decodes the "dead_letter" block straight into the pattern's
// Settings: this function only reads JSON types; defaults, bounds and
// cross-field rules are deadletter.Settings.Normalize's, whose error is
// reported at the JSON path of the field it names.
func (p *parser) deadLetter(o object) *deadletter.Settings {
	p.allow(o, "cluster", "on", "methods", "max_body_bytes", "redact_headers", "timeout")
	var s deadletter.Settings
	if v, ok := p.str(o, "cluster"); ok {
		s.Cluster = v
	} else if p.ok() {
		p.required(o, "cluster")
	}
	s.On = p.stringList(o, "on")
	s.Methods = p.stringList(o, "methods")
	if n, ok := p.integer(o, "max_body_bytes", math.MinInt32, math.MaxInt32); ok {
		if n == 0 {
			// 0 means "the default" to Settings: an explicit 0 is refused
			// here rather than silently replaced.
			p.failf(field(o.path, "max_body_bytes"), "must be in [1,%d], got 0", deadletter.MaxMaxBodyBytes)
		}
		s.MaxBodyBytes = int(n)
	}
	s.RedactHeaders = p.stringList(o, "redact_headers")
	p.duration(o, "timeout", false, &s.Timeout)
	if !p.ok() {
		return nil
	}
	n, err := s.Normalize()
	if !p.settle(o.path, err) {
		return nil
	}
	return &n
}

// stringList reads an array of strings; nil when absent, non-nil (maybe
// empty) when present. At most maxListLen entries.
func (p *parser) stringList(o object, key string) []string {
	elems, path, ok := p.array(o, key)
	if !ok {
		return nil
	}
	if len(elems) > maxListLen {
		p.failf(path, "at most %d entries, got %d", maxListLen, len(elems))
		return nil
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		if !p.want(e, index(path, i), jString, "a string") {
			return nil
		}
		out = append(out, e.text)
	}
	return out
}
