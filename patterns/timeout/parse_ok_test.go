package timeout

import (
	"testing"
	"time"
)

// TestParseOKForms: ExpectedMs and GRPCTimeout accept and reject exactly
// what the Parse functions do, with the same values, and allocate nothing
// (the filter reads caller budgets with them on every request).
func TestParseOKForms(t *testing.T) {
	for _, in := range []string{"", "S", "1", "100", "123456789S", "1s", "1h", "1x", "-1S", "+1S", " 1S", "1S ", "1.5S",
		"1SS", "1H", "2M", "3S", "250m", "7u", "9n", "0n", "00000000S", "99999999H", "2562048H", "１S"} {
		d, ok := GRPCTimeout(in)
		pd, err := ParseGRPCTimeout(in)
		if ok != (err == nil) || d != pd {
			t.Errorf("grpc-timeout %q: %v %v, Parse %v %v", in, d, ok, pd, err)
		}
	}
	for _, in := range []string{"", "  ", "-1", "+1", "1.5", "1ms", "0x10", "1 2", "0", "1", "1500", " 20\t", "000042",
		"9223372036855", "99999999999999999999999999", "99999999999999999999x"} {
		d, ok := ExpectedMs(in)
		pd, err := ParseExpectedMs(in)
		if ok != (err == nil) || d != pd {
			t.Errorf("expected-ms %q: %v %v, Parse %v %v", in, d, ok, pd, err)
		}
	}
	var sink time.Duration
	if n := testing.AllocsPerRun(100, func() {
		for _, s := range []string{"250m", "1x", "99999999H"} {
			d, _ := GRPCTimeout(s)
			sink += d
		}
		for _, s := range []string{" 1500 ", "-1", ""} {
			d, _ := ExpectedMs(s)
			sink += d
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
	_ = sink
}
