package deadletter

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// marshalWire is the encoding Encode replaced: encoding/json.Marshal of wire.
func marshalWire(e *Envelope) []byte {
	w := wire{Version: e.Version, ID: e.ID, Time: e.Time.UTC(), Policy: e.Policy, Reason: e.Reason,
		Status: e.Status, Attempts: e.Attempts, Method: e.Method, Authority: e.Authority, Path: e.Path,
		Headers: make([][]string, len(e.Headers)), Body: e.Body, Truncated: e.Truncated}
	for i, h := range e.Headers {
		w.Headers[i] = []string{h[0], h[1]}
	}
	if w.Body == nil {
		w.Body = []byte{}
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil
	}
	return b
}

// TestEncodeAsMarshal: Encode writes exactly what encoding/json.Marshal
// writes for the wire form, on random envelopes (escapes, invalid UTF-8,
// times with and without nanoseconds, in and out of years 0 to 9999).
func TestEncodeAsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("aZ09-_/ \"\\<>&\n\t\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xff")
	str := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	times := []time.Time{{}, time.Unix(0, 0), time.Unix(1700000000, 123456789),
		time.Unix(1700000000, 120000000).In(time.FixedZone("x", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	for n := 0; n < 3000; n++ {
		e := Envelope{Version: rng.IntN(3) - 1, ID: str(), Time: times[rng.IntN(len(times))], Policy: str(),
			Reason: str(), Status: rng.IntN(600), Attempts: rng.IntN(2000) - 1000, Method: str(),
			Authority: str(), Path: str(), Truncated: rng.IntN(2) == 0}
		if k := rng.IntN(4); k > 0 {
			e.Headers = make([][2]string, k-1)
			for i := range e.Headers {
				e.Headers[i] = [2]string{str(), str()}
			}
		}
		if rng.IntN(3) > 0 {
			e.Body = []byte(str())
		}
		got, want := e.Encode(), marshalWire(&e)
		if string(got) != string(want) || (got == nil) != (want == nil) {
			t.Fatalf("Encode(%+v)\n got %s\nwant %s", e, got, want)
		}
	}
}
