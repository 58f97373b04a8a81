package config

import (
	"strings"
	"testing"
)

// TestSharedBytesRefused: the configuration of issue 10 (a keyed time-window
// breaker of 600 buckets, max_keys 1e6: 7.4 GB at worst) is refused, naming
// its max_keys; raising max_shared_bytes accepts it.
func TestSharedBytesRefused(t *testing.T) {
	cb := `"circuit_breaker":{"key":["header:x-user"],"max_keys":1000000,"window":{"type":"time","size":"10m","buckets":600}}`
	_, err := Parse([]byte(`{"policies":[{"name":"p",` + cb + `}]}`))
	if err == nil || !strings.HasPrefix(err.Error(), "breakwater: config: policies[0].circuit_breaker.max_keys: worst-case shared data ") ||
		!strings.Contains(err.Error(), "exceeds max_shared_bytes 268435456 bytes (256.0 MiB)") {
		t.Fatalf("got %v", err)
	}
	c, err := Parse([]byte(`{"max_shared_bytes":1099511627776,"policies":[{"name":"p",` + cb + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// 250,000 sets of 4 records of 40+20+12×600 = 7260 bytes, each entry
	// with 75 bytes of table overhead, set names "breakwater/p/cb/<n>" of
	// at most 22 bytes, and the overflow record with its name.
	want := int64(250000)*(22+4*(75+7260)) + int64(len("breakwater/p/cb/overflow")+7260)
	u := c.SharedUses()[1]
	if u.Path != "policies[0].circuit_breaker" || u.RecordBytes != 7260 || u.Entries != 1000001 || u.Bytes != want {
		t.Fatalf("use %+v, want %d bytes", u, want)
	}
	if c.SharedBytes() != want+c.SharedUses()[0].Bytes {
		t.Fatalf("total %d", c.SharedBytes())
	}
}
