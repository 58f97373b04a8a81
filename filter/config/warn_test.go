package config

import "testing"

// matchOf parses a match block.
func matchOf(t *testing.T, m string) *Match {
	t.Helper()
	return mustParse(t, pol(`"match":`+m)).Policies[0].Match
}

func TestMatchCovers(t *testing.T) {
	for _, tc := range []struct {
		a, b   string
		covers bool
	}{
		{`{"path_prefix":"/api"}`, `{"path_prefix":"/api/v1"}`, true},
		{`{"path_prefix":"/api/v1"}`, `{"path_prefix":"/api"}`, false},
		{`{"path_prefix":"/api"}`, `{"path_exact":"/api"}`, true},
		{`{"path_prefix":"/api"}`, `{"path_regex":"/api/v[0-9]+"}`, true},
		{`{"path_prefix":"/api"}`, `{"path_regex":"/(api|web)"}`, false},
		{`{"path_prefix":"/api"}`, `{"methods":["GET"]}`, false},
		{`{"path_exact":"/a"}`, `{"path_exact":"/a","methods":["GET"]}`, true},
		{`{"path_exact":"/a"}`, `{"path_prefix":"/a"}`, false},
		{`{"path_regex":"/a/[0-9]+"}`, `{"path_exact":"/a/7"}`, true},
		{`{"path_regex":"/a/[0-9]+"}`, `{"path_exact":"/a/x"}`, false},
		{`{"path_regex":"/a/[0-9]+"}`, `{"path_regex":"/a/[0-9]+"}`, true},
		{`{"path_regex":"/a/[0-9]+"}`, `{"path_regex":"/a/1[0-9]"}`, false}, // conservative
		{`{"methods":["GET","PUT"]}`, `{"methods":["PUT"]}`, true},
		{`{"methods":["GET"]}`, `{"methods":["GET","PUT"]}`, false},
		{`{"authority":"a.com"}`, `{"authority":"a.com:81"}`, true},
		{`{"authority":"a.com:81"}`, `{"authority":"a.com"}`, false},
		{`{"authority":"[::1]"}`, `{"authority":"[::1]:80"}`, true},
		{`{"authority":"a.com"}`, `{"path_prefix":"/"}`, false},
		{`{"headers":[{"name":"x","present":true}]}`, `{"headers":[{"name":"x","exact":""}]}`, true},
		{`{"headers":[{"name":"x","prefix":"ab"}]}`, `{"headers":[{"name":"x","exact":"abc"}]}`, true},
		{`{"headers":[{"name":"x","exact":"abc"}]}`, `{"headers":[{"name":"x","prefix":"abc"}]}`, false},
		{`{"headers":[{"name":"x","present":true}]}`, `{"headers":[{"name":"y","present":true}]}`, false},
	} {
		a, b := matchOf(t, tc.a), matchOf(t, tc.b)
		if got := matchCovers(a, b); got != tc.covers {
			t.Errorf("matchCovers(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.covers)
		}
	}
	if !matchCovers(nil, matchOf(t, `{"path_prefix":"/"}`)) || matchCovers(matchOf(t, `{"path_prefix":"/"}`), nil) {
		t.Error("nil matches")
	}
}

func TestParseBOM(t *testing.T) {
	c := mustParse(t, "\xEF\xBB\xBF"+`{"namespace":"n","policies":[{"name":"p"}]}`)
	if c.Namespace != "n" {
		t.Fatal(c.Namespace)
	}
	// Only one mark, and only at the start.
	if _, err := Parse([]byte("\xEF\xBB\xBF\xEF\xBB\xBF{}")); err == nil {
		t.Fatal("two marks accepted")
	}
}
