package rls

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater/breakwater/internal/minijson"
)

// Entry is one descriptor entry.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type descriptor struct {
	Entries []Entry `json:"entries"`
}

type request struct {
	Domain      string       `json:"domain"`
	Descriptors []descriptor `json:"descriptors"`
	HitsAddend  uint32       `json:"hitsAddend,omitempty"`
}

// EncodeRequest renders the request body for domain with one descriptor per
// element of descriptors; hits is the number of hits the request counts for
// (0 lets the service count 1).
//
// The body is byte for byte what encoding/json's Marshal writes for request
// (HTML escaping on; a nil descriptor's entries are null), written without
// its reflective encoder.
func EncodeRequest(domain string, descriptors [][]Entry, hits uint32) []byte {
	n := 48 + len(domain)
	for _, d := range descriptors {
		n += 16
		for _, e := range d {
			n += 24 + len(e.Key) + len(e.Value)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"domain":`...)
	b = minijson.AppendString(b, domain)
	b = append(b, `,"descriptors":[`...)
	for i, d := range descriptors {
		if i > 0 {
			b = append(b, ',')
		}
		if d == nil {
			b = append(b, `{"entries":null}`...)
			continue
		}
		b = append(b, `{"entries":[`...)
		for j, e := range d {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = minijson.AppendString(b, e.Key)
			b = append(b, `,"value":`...)
			b = minijson.AppendString(b, e.Value)
			b = append(b, '}')
		}
		b = append(b, `]}`...)
	}
	b = append(b, ']')
	if hits != 0 {
		b = append(b, `,"hitsAddend":`...)
		b = strconv.AppendUint(b, uint64(hits), 10)
	}
	return append(b, '}')
}

// Codes of the service.
const (
	CodeOK        = "OK"
	CodeOverLimit = "OVER_LIMIT"
)

// Status is the answer for one descriptor.
type Status struct {
	Code string
	// Limit is currentLimit.requestsPerUnit (0 when the descriptor has no limit).
	Limit int64
	// Unit is currentLimit.unit ("SECOND", "MINUTE", ...).
	Unit      string
	Remaining int64
	// Reset is durationUntilReset.
	Reset time.Duration
}

// Response is a decoded RateLimitResponse.
type Response struct {
	Overall  string
	Statuses []Status
}

// OverLimit says whether the service rejects the request.
func (r *Response) OverLimit() bool { return r.Overall == CodeOverLimit }

type wireStatus struct {
	Code               string        `json:"code"`
	CurrentLimit       *currentLimit `json:"currentLimit"`
	LimitRemaining     int64         `json:"limitRemaining"`
	DurationUntilReset string        `json:"durationUntilReset"`
	_                  [0]func()     // not comparable (no code compares it): no generated equality
}

type currentLimit struct {
	RequestsPerUnit int64     `json:"requestsPerUnit"`
	Unit            string    `json:"unit"`
	_               [0]func() // not comparable (no code compares it): no generated equality
}

type wireResponse struct {
	OverallCode string       `json:"overallCode"`
	Statuses    []wireStatus `json:"statuses"`
}

// ErrBadResponse wraps every decoding error.
var ErrBadResponse = errors.New("rls: bad response")

// MaxStatuses bounds the statuses read from one response.
const MaxStatuses = 64

// DecodeResponse decodes a response body. The overall code must be OK or
// OVER_LIMIT; anything else (UNKNOWN, missing, not JSON) is an error, which
// the filter treats as a failure of the service.
func DecodeResponse(body []byte) (Response, error) {
	var w wireResponse
	if err := unmarshal(body, &w); err != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if w.OverallCode != CodeOK && w.OverallCode != CodeOverLimit {
		return Response{}, fmt.Errorf("%w: overall code %q", ErrBadResponse, w.OverallCode)
	}
	if len(w.Statuses) > MaxStatuses {
		return Response{}, fmt.Errorf("%w: %d statuses", ErrBadResponse, len(w.Statuses))
	}
	r := Response{Overall: w.OverallCode, Statuses: make([]Status, len(w.Statuses))}
	for i, s := range w.Statuses {
		st := Status{Code: s.Code, Remaining: max(s.LimitRemaining, 0)}
		if s.CurrentLimit != nil {
			st.Limit, st.Unit = max(s.CurrentLimit.RequestsPerUnit, 0), s.CurrentLimit.Unit
		}
		if s.DurationUntilReset != "" {
			d, err := parseDuration(s.DurationUntilReset)
			if err != nil {
				return Response{}, fmt.Errorf("%w: statuses[%d].durationUntilReset: %v", ErrBadResponse, i, err)
			}
			st.Reset = d
		}
		r.Statuses[i] = st
	}
	return r, nil
}

// parseDuration reads protobuf's JSON duration: decimal seconds with an "s"
// suffix ("12s", "0.250s").
func parseDuration(s string) (time.Duration, error) {
	if !strings.HasSuffix(s, "s") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q", s)
	}
	return d, nil
}
