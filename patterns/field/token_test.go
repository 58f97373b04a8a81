package field

import "testing"

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"GET": true, "x-user-id": true, "!#$%&'*+-.^_`|~09az": true,
		"": false, "a b": false, "a:b": false, "é": false, "a\x00": false, "(x)": false,
	} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
}
