package rls

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEncodeRequest(t *testing.T) {
	got := string(EncodeRequest("breakwater", [][]Entry{{{Key: "user", Value: `al"ice`}}, {{Key: "path", Value: "/x"}}}, 1))
	want := `{"domain":"breakwater","descriptors":[{"entries":[{"key":"user","value":"al\"ice"}]},{"entries":[{"key":"path","value":"/x"}]}],"hitsAddend":1}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestDecodeResponse(t *testing.T) {
	r, err := DecodeResponse([]byte(`{"overallCode":"OVER_LIMIT","statuses":[
		{"code":"OK","currentLimit":{"requestsPerUnit":10,"unit":"MINUTE"},"limitRemaining":3,"durationUntilReset":"12s"},
		{"code":"OVER_LIMIT","currentLimit":{"requestsPerUnit":2,"unit":"SECOND"},"durationUntilReset":"0.250s"},
		{"code":"OK"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OverLimit() || len(r.Statuses) != 3 {
		t.Fatalf("%+v", r)
	}
	if s := r.Statuses[0]; s.Limit != 10 || s.Unit != "MINUTE" || s.Remaining != 3 || s.Reset != 12*time.Second {
		t.Fatalf("status 0: %+v", s)
	}
	if s := r.Statuses[1]; s.Code != CodeOverLimit || s.Remaining != 0 || s.Reset != 250*time.Millisecond {
		t.Fatalf("status 1: %+v", s)
	}
	if s := r.Statuses[2]; s.Limit != 0 || s.Reset != 0 {
		t.Fatalf("status 2: %+v", s)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, body := range []string{
		``, `not json`, `{}`, `{"overallCode":"UNKNOWN"}`, `{"overallCode":"OK","statuses":[{"durationUntilReset":"-1s"}]}`,
		`{"overallCode":"OK","statuses":[{"durationUntilReset":"5m"}]}`, `{"overallCode":"OK","statuses":"x"}`,
		`<html>503</html>`,
	} {
		if _, err := DecodeResponse([]byte(body)); err == nil {
			t.Errorf("%q decoded", body)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"overallCode":"OK","statuses":[{"code":"OK","currentLimit":{"requestsPerUnit":10,"unit":"MINUTE"},"limitRemaining":3,"durationUntilReset":"12s"}]}`))
	f.Add([]byte(`{"overallCode":"OVER_LIMIT","statuses":[{"code":"OVER_LIMIT"}]}`))
	f.Add([]byte(`{"overallCode":"OK","statuses":[{"limitRemaining":-5,"currentLimit":{"requestsPerUnit":-1}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if r.Overall != CodeOK && r.Overall != CodeOverLimit {
			t.Fatalf("overall %q accepted", r.Overall)
		}
		for _, s := range r.Statuses {
			if s.Limit < 0 || s.Remaining < 0 || s.Reset < 0 {
				t.Fatalf("negative field: %+v", s)
			}
		}
	})
}

func FuzzEncodeRequest(f *testing.F) {
	f.Add("breakwater", "user", "alice")
	f.Add("d", "k\x00", "\xff\xfe")
	f.Fuzz(func(t *testing.T, domain, key, value string) {
		b := EncodeRequest(domain, [][]Entry{{{Key: key, Value: value}}}, 1)
		var r request
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		if len(r.Descriptors) != 1 || len(r.Descriptors[0].Entries) != 1 {
			t.Fatalf("shape lost: %s", b)
		}
	})
}
