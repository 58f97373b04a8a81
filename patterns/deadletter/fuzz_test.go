package deadletter

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: any input decodes to a valid envelope or to an error, never a
// panic; a decoded envelope encodes and decodes back to itself.
func FuzzDecode(f *testing.F) {
	s := sample()
	f.Add(s.Encode())
	s.Body, s.Truncated, s.Headers = nil, true, nil
	f.Add(s.Encode())
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"id":"a","time":"2026-01-01T00:00:00Z","policy":"p","reason":"circuit_open","status":0,"attempts":0,"method":"PUT","authority":"","path":"/","headers":[],"body":"","truncated":false}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded but invalid: %v", err)
		}
		if !utf8.Valid(data) {
			return // encoding/json replaced invalid bytes: no exact round trip
		}
		b := e.Encode()
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, b)
		}
		if !equal(e, d) || !bytes.Equal(d.Encode(), b) {
			t.Fatalf("round trip:\n%+v\n%+v", e, d)
		}
	})
}
