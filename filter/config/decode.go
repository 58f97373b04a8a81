package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	setting "github.com/breakwater/breakwater/patterns/field"
)

// parser turns the JSON tree into typed values. It keeps only the first
// error: once err is set every method is a no-op that reports "absent", so
// the decoders read straight through without checking after each call, and
// the error reported is the first one met in a fixed walk of the document
// (document order for unknown keys, contract order for fields).
type parser struct {
	err *Error
}

func (p *parser) failf(path, format string, args ...any) {
	if p.err == nil {
		p.err = &Error{Path: displayPath(path), Reason: fmt.Sprintf(format, args...)}
	}
}

func (p *parser) ok() bool { return p.err == nil }

// object is a JSON object with its path.
type object struct {
	path string
	v    *jvalue
}

func (p *parser) asObject(v *jvalue, path string) (object, bool) {
	if !p.ok() {
		return object{}, false
	}
	if v.kind != jObject {
		p.failf(path, "must be an object, got %s", v.kind)
		return object{}, false
	}
	return object{path, v}, true
}

// traceAllow, when set (by tests only), is told the keys allowed in every
// object allow checks: the reference test derives the accepted keys from it.
var traceAllow func(path string, keys []string)

// allow reports the first key of o (in document order) that is not in keys.
func (p *parser) allow(o object, keys ...string) {
	if traceAllow != nil {
		traceAllow(o.path, keys)
	}
	if !p.ok() {
		return
	}
	for _, k := range o.v.keys {
		if !slices.Contains(keys, k) {
			if s := suggest(k, keys); s != "" {
				p.failf(field(o.path, k), "unknown key (did you mean %q?)", s)
			} else {
				p.failf(field(o.path, k), "unknown key")
			}
			return
		}
	}
}

// has says whether key is present in o.
func (o object) has(key string) bool {
	if o.v == nil {
		return false
	}
	_, ok := o.v.get(key)
	return ok
}

func (p *parser) lookup(o object, key string) (*jvalue, string, bool) {
	if !p.ok() || o.v == nil {
		return nil, "", false
	}
	v, ok := o.v.get(key)
	return v, field(o.path, key), ok
}

func (p *parser) want(v *jvalue, path string, k jkind, what string) bool {
	if !p.ok() {
		return false
	}
	if v.kind != k {
		p.failf(path, "must be %s, got %s", what, v.kind)
		return false
	}
	return true
}

func (p *parser) required(o object, key string) {
	p.failf(field(o.path, key), "required")
}

func (p *parser) str(o object, key string) (string, bool) {
	v, path, ok := p.lookup(o, key)
	if !ok || !p.want(v, path, jString, "a string") {
		return "", false
	}
	return v.text, true
}

func (p *parser) boolean(o object, key string) (bool, bool) {
	v, path, ok := p.lookup(o, key)
	if !ok || !p.want(v, path, jBool, "a boolean") {
		return false, false
	}
	return v.b, true
}

func (p *parser) intValue(v *jvalue, path string, min, max int64) (int64, bool) {
	if !p.want(v, path, jNumber, "an integer") {
		return 0, false
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	if err != nil && strings.ContainsAny(v.text, ".eE") {
		p.failf(path, "must be an integer, got %s", clip(v.text))
		return 0, false
	}
	if err != nil || n < min || n > max {
		switch {
		case max < math.MaxInt64:
			p.failf(path, "must be in [%d,%d], got %s", min, max, clip(v.text))
		case err != nil && !strings.HasPrefix(v.text, "-"):
			p.failf(path, "is too large (at most %d), got %s", max, clip(v.text))
		case min == 1:
			p.failf(path, "must be positive, got %s", clip(v.text))
		default:
			p.failf(path, "must not be negative, got %s", clip(v.text))
		}
		return 0, false
	}
	return n, true
}

func (p *parser) integer(o object, key string, min, max int64) (int64, bool) {
	v, path, ok := p.lookup(o, key)
	if !ok {
		return 0, false
	}
	return p.intValue(v, path, min, max)
}

// intField is integer for int-typed fields (every bound fits in an int).
func (p *parser) intField(o object, key string, min, max int64, dst *int) bool {
	n, ok := p.integer(o, key, min, max)
	if ok {
		*dst = int(n)
	}
	return ok
}

// count reads an integer of a pattern's Settings: positive (0 is the
// pattern's "default", so an explicit 0 is refused here), or non-negative
// when zero is allowed (the pattern's default is 0 too). The upper bound is
// the pattern's (its Normalize).
func (p *parser) count(o object, key string, allowZero bool, dst *int) bool {
	lo := int64(1)
	if allowZero {
		lo = 0
	}
	return p.intField(o, key, lo, math.MaxInt64, dst)
}

// number reads a float of a pattern's Settings: finite and positive (0 and
// -0 are the pattern's "default", so they are refused here), or
// non-negative when zero is allowed. The upper bound is the pattern's.
func (p *parser) number(o object, key string, allowZero bool, dst *float64) bool {
	v, path, ok := p.lookup(o, key)
	if !ok || !p.want(v, path, jNumber, "a number") {
		return false
	}
	f, err := strconv.ParseFloat(v.text, 64)
	switch {
	case err != nil || math.IsInf(f, 0):
		p.failf(path, "must be a finite number, got %s", clip(v.text))
		return false
	case f < 0 || f == 0 && !allowZero:
		if allowZero {
			p.failf(path, "must not be negative, got %s", clip(v.text))
		} else {
			p.failf(path, "must be positive, got %s", clip(v.text))
		}
		return false
	}
	*dst = f + 0 // -0 becomes 0
	return true
}

// MaxDuration bounds every duration of the configuration (87600h, 10
// years): instants computed from them (expiries in Unix nanoseconds, window
// indices, token arithmetic) stay far from int64 overflow. The patterns
// bound their own durations to the same value or more.
const MaxDuration = 87600 * time.Hour

// durValue reads a Go-syntax duration string, at most MaxDuration. Zero is
// refused unless allowZero; negative durations are always refused.
func (p *parser) durValue(v *jvalue, path string, allowZero bool) (time.Duration, bool) {
	if !p.ok() {
		return 0, false
	}
	if v.kind != jString {
		p.failf(path, "must be a duration string like \"250ms\", got %s", v.kind)
		return 0, false
	}
	d, err := time.ParseDuration(v.text)
	if err != nil {
		if durationSyntax(v.text) {
			p.failf(path, "must be at most %s, got %s", MaxDuration, quote(v.text))
		} else {
			p.failf(path, "must be a duration like \"250ms\" or \"2s\", got %s", quote(v.text))
		}
		return 0, false
	}
	if d < 0 || d == 0 && !allowZero {
		if allowZero {
			p.failf(path, "must not be negative, got %s", quote(v.text))
		} else {
			p.failf(path, "must be positive, got %s", quote(v.text))
		}
		return 0, false
	}
	if d > MaxDuration {
		p.failf(path, "must be at most %s, got %s", MaxDuration, quote(v.text))
		return 0, false
	}
	return d, true
}

// durationSyntax says whether s has the syntax of a Go duration (so that a
// ParseDuration error on it is an overflow): digits, at most one '.' per
// number, and units.
func durationSyntax(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || s[0] < '0' || s[0] > '9' && s[0] != '.' {
		return false
	}
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || strings.Count(s[:i], ".") > 1 {
			return false
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		switch s[:j] {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return false
		}
		s = s[j:]
	}
	return true
}

func (p *parser) duration(o object, key string, allowZero bool, dst *time.Duration) bool {
	v, path, ok := p.lookup(o, key)
	if !ok {
		return false
	}
	d, ok := p.durValue(v, path, allowZero)
	if ok {
		*dst = d
	}
	return ok
}

// settle reports the error of a pattern's Normalize for the block at
// path: a *field.Error is placed at the JSON path of its field, and the
// other field of a contradiction is named by its JSON path too.
func (p *parser) settle(path string, err error) bool {
	if err == nil || !p.ok() {
		return p.ok()
	}
	var fe *setting.Error
	if !errors.As(err, &fe) {
		p.failf(path, "%s", err.Error())
		return false
	}
	reason := fe.Reason
	if fe.With != "" {
		wp := path + "." + fe.With
		if i := wordIndex(reason, fe.With); i >= 0 {
			reason = reason[:i] + wp + reason[i+len(fe.With):]
		} else {
			reason += " (" + wp + ")"
		}
	}
	p.failf(path+"."+fe.Name, "%s", reason)
	return false
}

// wordIndex is the index of the first occurrence of w in s that is not
// part of a longer field name, or -1.
func wordIndex(s, w string) int {
	isName := func(c byte) bool { return c >= 'a' && c <= 'z' || c == '_' || c == '.' }
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], w)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(w)
		if (i == 0 || !isName(s[i-1])) && (end == len(s) || !isName(s[end]) || s[end] == '.' && (end+1 == len(s) || s[end+1] == ' ')) {
			return i
		}
		from = i + 1
	}
	return -1
}

func (p *parser) array(o object, key string) ([]*jvalue, string, bool) {
	v, path, ok := p.lookup(o, key)
	if !ok || !p.want(v, path, jArray, "an array") {
		return nil, path, false
	}
	return v.elems, path, true
}

func (p *parser) sub(o object, key string) (object, bool) {
	v, path, ok := p.lookup(o, key)
	if !ok {
		return object{}, false
	}
	return p.asObject(v, path)
}

// status reads an HTTP status code of a local response or of an upstream
// outcome: an integer in [200,599].
func (p *parser) status(o object, key string, dst *int) bool {
	n, ok := p.integer(o, key, 200, 599)
	if ok {
		*dst = int(n)
	}
	return ok
}

// statusList reads a list of status codes, no duplicates. It returns a
// non-nil slice when present (possibly empty).
func (p *parser) statusList(o object, key string) ([]int, bool) {
	elems, path, ok := p.array(o, key)
	if !ok {
		return nil, false
	}
	out := make([]int, 0, len(elems))
	for i, e := range elems {
		n, ok := p.intValue(e, index(path, i), 200, 599)
		if !ok {
			return nil, false
		}
		if slices.Contains(out, int(n)) {
			p.failf(index(path, i), "duplicate status %d", n)
			return nil, false
		}
		out = append(out, int(n))
	}
	return out, true
}

// nameString checks the syntax of policy, limit and namespace names.
func (p *parser) nameString(path, s string) bool {
	if !p.ok() {
		return false
	}
	if !isName(s) {
		p.failf(path, "must match [a-z0-9_-]+ (at most 64 bytes), got %s", quote(s))
		return false
	}
	return true
}

func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// headerName reads and lower-cases a header name.
func (p *parser) headerName(path, s string) (string, bool) {
	if !p.ok() {
		return "", false
	}
	if !setting.IsToken(s) || len(s) > 256 {
		p.failf(path, "must be a header name (an RFC 9110 token, at most 256 bytes), got %s", quote(s))
		return "", false
	}
	return strings.ToLower(s), true
}

// headerValueOK: no byte that an HTTP header value cannot carry.
func headerValueOK(s string) bool {
	return !strings.ContainsAny(s, "\x00\r\n")
}

// methods reads a list of HTTP methods: tokens, upper-cased, no duplicates,
// not empty.
func (p *parser) methods(o object, key string) ([]string, bool) {
	elems, path, ok := p.array(o, key)
	if !ok {
		return nil, false
	}
	if len(elems) == 0 {
		p.failf(path, "must not be empty")
		return nil, false
	}
	if len(elems) > maxListLen {
		p.failf(path, "at most %d methods, got %d", maxListLen, len(elems))
		return nil, false
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		ep := index(path, i)
		if !p.want(e, ep, jString, "a string") {
			return nil, false
		}
		if !setting.IsToken(e.text) || len(e.text) > 32 {
			p.failf(ep, "must be an HTTP method, got %s", quote(e.text))
			return nil, false
		}
		m := strings.ToUpper(e.text)
		if slices.Contains(out, m) {
			p.failf(ep, "duplicate method %s", quote(m))
			return nil, false
		}
		out = append(out, m)
	}
	return out, true
}

// maxListLen bounds the lists whose entries are checked against each
// other (methods, match.headers, fallback.headers): real configurations
// hold a handful, and the bound keeps the checks cheap on any input.
const maxListLen = 64

// keyParts reads a "key" array: nil when absent or empty.
func (p *parser) keyParts(o object, key string) []KeyPart {
	elems, path, ok := p.array(o, key)
	if !ok {
		return nil
	}
	if len(elems) > MaxKeyParts {
		p.failf(path, "at most %d parts, got %d", MaxKeyParts, len(elems))
		return nil
	}
	var out []KeyPart
	for i, e := range elems {
		ep := index(path, i)
		if !p.want(e, ep, jString, "a string") {
			return nil
		}
		kp, reason := parseKeyPart(e.text)
		if reason != "" {
			p.failf(ep, "%s", reason)
			return nil
		}
		if slices.Contains(out, kp) {
			p.failf(ep, "duplicate key part %s", quote(e.text))
			return nil
		}
		out = append(out, kp)
	}
	return out
}

// enum reads a string that must be one of values.
func (p *parser) enum(o object, key string, values ...string) (string, bool) {
	s, ok := p.str(o, key)
	if !ok {
		return "", false
	}
	if !slices.Contains(values, s) {
		p.failf(field(o.path, key), "must be one of %s, got %s", strings.Join(values, ", "), quote(s))
		return "", false
	}
	return s, true
}

// nonEmpty reads a string that must be non-empty, at most max bytes, free
// of control characters.
func (p *parser) nonEmpty(o object, key string, max int) (string, bool) {
	s, ok := p.str(o, key)
	if !ok {
		return "", false
	}
	path := field(o.path, key)
	switch {
	case s == "":
		p.failf(path, "must not be empty")
		return "", false
	case len(s) > max:
		p.failf(path, "must be at most %d bytes, got %d", max, len(s))
		return "", false
	case hasControl(s):
		p.failf(path, "must not contain control characters, got %s", quote(s))
		return "", false
	}
	return s, true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// suggest returns the allowed key closest to k (edit distance at most 2),
// or "".
func suggest(k string, allowed []string) string {
	if len(k) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(k, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
