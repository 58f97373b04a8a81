package deadletter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater/breakwater/internal/minijson"
	"github.com/breakwater/breakwater/patterns/field"
)

// Version is the envelope version this package writes and reads.
const Version = 1

// RedactedValue replaces the value of a redacted header in a record.
const RedactedValue = "[redacted]"

// Bounds checked by Validate (and so by Decode).
const (
	MaxIDLen        = 128
	MaxPolicyLen    = 64
	MaxAuthorityLen = 1024
	MaxPathLen      = 16 << 10
	MaxHeaders      = 256
	MaxHeaderValue  = 16 << 10
	MaxAttempts     = 1000
	// MaxEnvelopeBytes bounds an encoded envelope: a body of
	// MaxMaxBodyBytes in base64 (4/3) plus headers and fields.
	MaxEnvelopeBytes = 2 << 20
)

// Envelope is one dead letter: the request that failed for good and why.
// Its JSON form (version 1) is
//
//	{"version":1,"id":"…","time":"RFC 3339","policy":"…","reason":"…",
//	 "status":503,"attempts":2,"method":"POST","authority":"…","path":"/…",
//	 "headers":[["name","value"],…],"body":"base64","truncated":false}
//
// Every field is present in an encoded envelope; Decode refuses unknown
// fields and a version other than Version.
type Envelope struct {
	// Version is Version.
	Version int
	// ID is unique across VMs and proxies (see IDs): 1 to MaxIDLen bytes
	// of [A-Za-z0-9_-].
	ID string
	// Time the request ended, UTC.
	Time time.Time
	// Policy is the name of the policy that recorded it.
	Policy string
	// Reason is one of Reasons.
	Reason string
	// Status is the final status the client got (0: none, e.g. a reset).
	Status int
	// Attempts is the number of upstream attempts (0 when the filter
	// rejected the request before it went upstream).
	Attempts int
	// Method, Authority and Path of the request as it arrived.
	Method, Authority, Path string
	// Headers of the request, pseudo-headers excluded, in arrival order;
	// a redacted header keeps its name and has the value RedactedValue.
	Headers [][2]string
	// Body is the request body; empty when Truncated.
	Body []byte
	// Truncated: the body is not in the record (it was longer than
	// max_body_bytes, or it had not arrived when the filter rejected the
	// request).
	Truncated bool
}

// wire is the JSON form; headers are decoded as plain arrays so that a pair
// of the wrong length is an error rather than silently padded or cut.
type wire struct {
	Version   int        `json:"version"`
	ID        string     `json:"id"`
	Time      time.Time  `json:"time"`
	Policy    string     `json:"policy"`
	Reason    string     `json:"reason"`
	Status    int        `json:"status"`
	Attempts  int        `json:"attempts"`
	Method    string     `json:"method"`
	Authority string     `json:"authority"`
	Path      string     `json:"path"`
	Headers   [][]string `json:"headers"`
	Body      []byte     `json:"body"`
	Truncated bool       `json:"truncated"`
}

// Encode returns the JSON form of e, byte for byte what encoding/json's
// Marshal writes for wire (HTML escaping on, invalid UTF-8 as U+FFFD), without
// its reflective encoder. It does not validate e (Validate does); a time
// outside years 0 to 9999, which RFC 3339 cannot write, gives nil.
func (e *Envelope) Encode() []byte {
	t := e.Time.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil
	}
	n := 160 + len(e.ID) + len(e.Policy) + len(e.Reason) + len(e.Method) + len(e.Authority) +
		len(e.Path) + base64.StdEncoding.EncodedLen(len(e.Body))
	for _, h := range e.Headers {
		n += 8 + len(h[0]) + len(h[1])
	}
	b := make([]byte, 0, n)
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	b = append(b, `,"id":`...)
	b = minijson.AppendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","policy":`...)
	b = minijson.AppendString(b, e.Policy)
	b = append(b, `,"reason":`...)
	b = minijson.AppendString(b, e.Reason)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(e.Attempts), 10)
	b = append(b, `,"method":`...)
	b = minijson.AppendString(b, e.Method)
	b = append(b, `,"authority":`...)
	b = minijson.AppendString(b, e.Authority)
	b = append(b, `,"path":`...)
	b = minijson.AppendString(b, e.Path)
	b = append(b, `,"headers":[`...)
	for i, h := range e.Headers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = minijson.AppendString(b, h[0])
		b = append(b, ',')
		b = minijson.AppendString(b, h[1])
		b = append(b, ']')
	}
	b = append(b, `],"body":"`...)
	b = base64.StdEncoding.AppendEncode(b, e.Body)
	b = append(b, `","truncated":`...)
	b = strconv.AppendBool(b, e.Truncated)
	return append(b, '}')
}

// Decode parses and validates one encoded envelope.
func Decode(data []byte) (Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return Envelope{}, errf("envelope: %d bytes, at most %d", len(data), MaxEnvelopeBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return Envelope{}, errf("envelope: %v", clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Envelope{}, errf("envelope: data after the JSON object")
	}
	if w.Version != Version {
		return Envelope{}, errf("envelope: version: must be %d, got %d", Version, w.Version)
	}
	e := Envelope{Version: w.Version, ID: w.ID, Time: w.Time, Policy: w.Policy, Reason: w.Reason,
		Status: w.Status, Attempts: w.Attempts, Method: w.Method, Authority: w.Authority, Path: w.Path,
		Body: w.Body, Truncated: w.Truncated}
	if len(w.Headers) > MaxHeaders {
		return Envelope{}, errf("envelope: headers: at most %d, got %d", MaxHeaders, len(w.Headers))
	}
	e.Headers = make([][2]string, len(w.Headers))
	for i, h := range w.Headers {
		if len(h) != 2 {
			return Envelope{}, errf("envelope: headers[%d]: must be a [name, value] pair", i)
		}
		e.Headers[i] = [2]string{h[0], h[1]}
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// Validate checks every field of e against the bounds of version 1.
func (e *Envelope) Validate() error {
	switch {
	case e.Version != Version:
		return errf("envelope: version: must be %d, got %d", Version, e.Version)
	case !validID(e.ID):
		return errf("envelope: id: must be 1 to %d bytes of [A-Za-z0-9_-], got %q", MaxIDLen, clip(e.ID))
	case e.Time.IsZero():
		return errf("envelope: time: required")
	case !validName(e.Policy):
		return errf("envelope: policy: must match [a-z0-9_-]+ (at most %d bytes), got %q", MaxPolicyLen, clip(e.Policy))
	case !slices.Contains(Reasons, e.Reason):
		return errf("envelope: reason: must be one of %s, got %q", strings.Join(Reasons, ", "), clip(e.Reason))
	case e.Status != 0 && (e.Status < 100 || e.Status > 599):
		return errf("envelope: status: must be 0 or in [100,599], got %d", e.Status)
	case e.Attempts < 0 || e.Attempts > MaxAttempts:
		return errf("envelope: attempts: must be in [0,%d], got %d", MaxAttempts, e.Attempts)
	case !field.IsToken(e.Method) || len(e.Method) > MaxMethodLen:
		return errf("envelope: method: must be an HTTP method, got %q", clip(e.Method))
	case len(e.Authority) > MaxAuthorityLen || hasControl(e.Authority) || strings.ContainsAny(e.Authority, " /?#"):
		return errf("envelope: authority: must be a host[:port] of at most %d bytes, got %q", MaxAuthorityLen, clip(e.Authority))
	case !validPath(e.Path):
		return errf("envelope: path: must start with \"/\", at most %d bytes, no spaces or control characters, got %q", MaxPathLen, clip(e.Path))
	case len(e.Headers) > MaxHeaders:
		return errf("envelope: headers: at most %d, got %d", MaxHeaders, len(e.Headers))
	case len(e.Body) > MaxMaxBodyBytes:
		return errf("envelope: body: at most %d bytes, got %d", MaxMaxBodyBytes, len(e.Body))
	case e.Truncated && len(e.Body) > 0:
		return errf("envelope: body: must be empty when truncated")
	}
	for i, h := range e.Headers {
		if !field.IsToken(h[0]) || len(h[0]) > MaxNameLen || strings.ToLower(h[0]) != h[0] {
			return errf("envelope: headers[%d]: name must be a lower-case RFC 9110 token of at most %d bytes, got %q", i, MaxNameLen, clip(h[0]))
		}
		if len(h[1]) > MaxHeaderValue || strings.ContainsAny(h[1], "\x00\r\n") {
			return errf("envelope: headers[%d]: value must be at most %d bytes without CR, LF or NUL", i, MaxHeaderValue)
		}
	}
	return nil
}

// Header returns the first value of a recorded header (name in lower case).
func (e *Envelope) Header(name string) (string, bool) {
	for _, h := range e.Headers {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

func validID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" || len(s) > MaxPolicyLen {
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

func validPath(s string) bool {
	if !strings.HasPrefix(s, "/") || len(s) > MaxPathLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// clip shortens a string quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// String is a one-line summary for logs.
func (e *Envelope) String() string {
	return fmt.Sprintf("%s %s %s %s%s %d", e.ID, e.Policy, e.Reason, e.Method, e.Path, e.Status)
}

// Sanitize makes e valid whatever the request carried (the downstream is
// untrusted, and a record the sink refuses is a record lost): bytes of Path
// and Authority that a record cannot carry (controls, space, non-ASCII, and
// "/?#" in the authority) are percent-encoded and each is cut to its bound,
// a path gets its leading "/", header names are lower-cased, a header whose
// name is not a token or whose value is too long or carries CR, LF or NUL is
// left out (as are headers beyond MaxHeaders), a status outside [100,599]
// becomes 0, attempts are clamped, and a body beyond MaxMaxBodyBytes is
// dropped (Truncated). Fields the caller controls (Version, ID, Time,
// Policy, Reason, Method) are left as they are.
func (e *Envelope) Sanitize() {
	e.Path = escape(e.Path, MaxPathLen, "")
	if !strings.HasPrefix(e.Path, "/") {
		e.Path = escape("/"+e.Path, MaxPathLen, "")
	}
	e.Authority = escape(e.Authority, MaxAuthorityLen, " /?#")
	if e.Status != 0 && (e.Status < 100 || e.Status > 599) {
		e.Status = 0
	}
	e.Attempts = min(max(e.Attempts, 0), MaxAttempts)
	hs := e.Headers[:0]
	for _, h := range e.Headers {
		if len(hs) == MaxHeaders {
			break
		}
		name := strings.ToLower(h[0])
		if !field.IsToken(name) || len(name) > MaxNameLen || len(h[1]) > MaxHeaderValue || strings.ContainsAny(h[1], "\x00\r\n") {
			continue
		}
		hs = append(hs, [2]string{name, h[1]})
	}
	e.Headers = hs
	if len(e.Body) > MaxMaxBodyBytes {
		e.Body, e.Truncated = nil, true
	}
	if e.Truncated {
		e.Body = nil
	}
}

// escape percent-encodes the bytes of s that are controls, space, DEL,
// non-ASCII or in extra, and cuts the result to at most max bytes (never
// inside an escape).
func escape(s string, max int, extra string) string {
	bad := func(c byte) bool { return c <= ' ' || c >= 0x7f || strings.IndexByte(extra, c) >= 0 }
	clean := len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		clean = !bad(s[i])
	}
	if clean {
		return s
	}
	const hexd = "0123456789ABCDEF"
	b := make([]byte, 0, min(len(s)+16, max))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if bad(c) {
			if len(b)+3 > max {
				break
			}
			b = append(b, '%', hexd[c>>4], hexd[c&0xf])
			continue
		}
		if len(b)+1 > max {
			break
		}
		b = append(b, c)
	}
	return string(b)
}
