package timeout

import (
	"errors"
	"testing"
	"time"
)

func TestParseGRPCTimeout(t *testing.T) {
	ok := []struct {
		in   string
		want time.Duration
	}{
		{"1H", time.Hour}, {"2M", 2 * time.Minute}, {"3S", 3 * time.Second}, {"250m", 250 * time.Millisecond},
		{"7u", 7 * time.Microsecond}, {"9n", 9}, {"0n", 0}, {"00000000S", 0}, {"99999999n", 99999999},
		{"99999999m", 99999999 * time.Millisecond}, {"99999999S", 99999999 * time.Second},
		{"99999999M", 99999999 * time.Minute}, {"99999999H", MaxDuration}, {"2562047H", 2562047 * time.Hour}, {"2562048H", MaxDuration},
	}
	for _, c := range ok {
		got, err := ParseGRPCTimeout(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: got %v %v, want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "S", "1", "100", "123456789S", "1s", "1h", "1x", "-1S", "+1S", " 1S", "1S ", "1.5S", "1 S", "1SS", "１S"} {
		if _, err := ParseGRPCTimeout(in); !errors.Is(err, ErrGRPCTimeout) {
			t.Errorf("%q: got %v, want ErrGRPCTimeout", in, err)
		}
	}
}

func TestParseExpectedMs(t *testing.T) {
	ok := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0}, {"1", time.Millisecond}, {"1500", 1500 * time.Millisecond}, {" 20\t", 20 * time.Millisecond},
		{"000042", 42 * time.Millisecond}, {"9223372036854", 9223372036854 * time.Millisecond},
		{"9223372036855", MaxDuration}, {"99999999999999999999999999", MaxDuration},
	}
	for _, c := range ok {
		got, err := ParseExpectedMs(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: got %v %v, want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "  ", "-1", "+1", "1.5", "1ms", "0x10", "1 2", "99999999999999999999x"} {
		if _, err := ParseExpectedMs(in); !errors.Is(err, ErrExpectedMs) {
			t.Errorf("%q: got %v, want ErrExpectedMs", in, err)
		}
	}
}

func TestRemainingAndEffective(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	rem := []struct {
		budget time.Duration
		ms     int
		want   time.Duration
	}{
		{time.Second, 0, time.Second}, {time.Second, 300, 700 * time.Millisecond}, {time.Second, 1000, 0},
		{time.Second, 5000, 0}, {time.Second, -10, time.Second}, {0, 0, 0},
	}
	for _, c := range rem {
		if got := Remaining(c.budget, t0, t0.Add(time.Duration(c.ms)*time.Millisecond)); got != c.want {
			t.Errorf("Remaining(%v, +%dms) = %v, want %v", c.budget, c.ms, got, c.want)
		}
	}
	eff := []struct {
		conf, rem time.Duration
		have      bool
		want      time.Duration
	}{
		{2 * time.Second, 0, false, 2 * time.Second},
		{2 * time.Second, 500 * time.Millisecond, true, 500 * time.Millisecond},
		{2 * time.Second, 3 * time.Second, true, 2 * time.Second},
		{2 * time.Second, 2 * time.Second, true, 2 * time.Second},
		{0, 700 * time.Millisecond, true, 700 * time.Millisecond},
		{0, 0, false, 0},
		{-1, 0, false, 0},
		{time.Second, -5, true, 0},
		{time.Second, 0, true, 0},
	}
	for _, c := range eff {
		if got := Effective(c.conf, c.rem, c.have); got != c.want {
			t.Errorf("Effective(%v, %v, %v) = %v, want %v", c.conf, c.rem, c.have, got, c.want)
		}
	}
}

func FuzzParseGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1H", "99999999H", "0n", "1x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseGRPCTimeout(s)
		if err != nil {
			return
		}
		if d < 0 || len(s) < 2 || len(s) > 9 {
			t.Fatalf("%q accepted as %v", s, d)
		}
	})
}
