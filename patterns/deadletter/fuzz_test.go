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

// FuzzSanitize: whatever a request carries, a sanitised envelope validates.
func FuzzSanitize(f *testing.F) {
	f.Add("/orders", "svc.local", "Content-Type", "a", 503, []byte("x"))
	f.Add("\x00\xff", "[::1]:80/x y", "a b", "x\r\n", 999, []byte(nil))
	f.Add("", "", "", "", -1, []byte{})
	f.Fuzz(func(t *testing.T, path, authority, name, value string, status int, body []byte) {
		e := sample()
		e.Path, e.Authority, e.Status, e.Body = path, authority, status, body
		e.Headers = [][2]string{{name, value}, {"ok", "v"}}
		e.Sanitize()
		if err := e.Validate(); err != nil {
			t.Fatalf("sanitised envelope invalid: %v\n%+v", err, e)
		}
		if _, err := Decode(e.Encode()); err != nil {
			t.Fatalf("sanitised envelope not decodable: %v", err)
		}
	})
}
