package minijson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendStringAsMarshal compares AppendString with encoding/json.Marshal
// on every single byte and on random byte strings (valid and invalid UTF-8).
func TestAppendStringAsMarshal(t *testing.T) {
	cases := []string{"", "plain", "a\"b\\c", "<a href='x'>&amp;</a>", "\u2028\u2029\u2027\u202a",
		"\x00\x01\x1f\x7f", "\b\f\n\r\t", "é漢字🙂", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "\U0010ffff"}
	for b := 0; b < 256; b++ {
		cases = append(cases, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\<>&\n\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xa9\xf0\x9f\x99\x82\xff")
	for n := 0; n < 5000; n++ {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// trace renders the tokens read from data, with More before each and the
// offset after each, until the first error, whose class it renders.
func trace(data []byte, more func() bool, token func() (any, error), offset func() int64) string {
	var sb strings.Builder
	for n := 0; n < 1000; n++ {
		fmt.Fprintf(&sb, "more=%v ", more())
		tok, err := token()
		if err != nil {
			switch {
			case err == io.EOF:
				sb.WriteString("EOF")
			case errors.Is(err, io.ErrUnexpectedEOF):
				sb.WriteString("unexpected EOF")
			default:
				sb.WriteString("syntax")
			}
			return sb.String()
		}
		switch v := tok.(type) {
		case json.Delim:
			tok = Delim(v)
		case json.Number:
			tok = Number(v)
		}
		fmt.Fprintf(&sb, "%T(%q)@%d\n", tok, fmt.Sprint(tok), offset())
	}
	return sb.String()
}

func decoderTrace(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return trace(data, dec.More, func() (any, error) { return dec.Token() }, dec.InputOffset)
}

func tokenizerTrace(data []byte) string {
	var tk Tokenizer
	tk.Reset(data)
	return trace(data, tk.More, tk.Token, tk.InputOffset)
}

// TestTokenizerAsDecoder compares the Tokenizer with encoding/json's
// Decoder (UseNumber) token by token, More, offsets and error classes
// included, and CheckValid with encoding/json.Unmarshal's syntax errors, on
// hand-picked and random documents (valid, cut, mutated).
func TestTokenizerAsDecoder(t *testing.T) {
	docs := []string{``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{"a"}`, `{"a":}`,
		`{"a":1 "b":2}`, `{"a":01}`, `[01]`, `[-]`, `[-x]`, `[1.]`, `[1.x]`, `[1e]`, `[1e+]`, `[1E-5]`, `[-0.5e10]`,
		`[tru]`, `[truex]`, `[nul`, `[true,false,null]`, `"\u00e9\ud83d\ude00\ud800x\"\\\/\b\f\n\r\t"`, `"\x"`,
		`"\u12"`, `"\u12g4"`, "\"a\x01\"", `[}`, `{]`, `{1:2}`, `{"a":1]`, `[1}`, `{} x`, `{}}`, `1 2`, `]`,
		`{"a":[1,{"b":null}],"c":"d"}`, `{"a":1,"a":2}`, `"abc`, `[1`, `[1,`, `{"a"`, `{"a":`, `{"a":1`, "\t\n\r {\"a\" : [ 1 , 2 ] } \n"}
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{`{`, `}`, `[`, `]`, `:`, `,`, `"k"`, `"v\n"`, `"\u00e9"`, `1`, `-2.5e3`, `0`, `true`, `null`, `false`, ` `, "\n", `x`, `"`, `\`, `-`, `.`, `e`}
	for n := 0; n < 20000; n++ {
		var sb strings.Builder
		for k := rng.IntN(12); k > 0; k-- {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		docs = append(docs, sb.String())
	}
	base := []byte(`{"a":[1,-2.5,{"b":"c\u00e9\n"},true,null],"d":{"e":[]},"f":false}`)
	for cut := 0; cut <= len(base); cut++ {
		docs = append(docs, string(base[:cut]))
		for k := 0; k < 8; k++ {
			m := bytes.Clone(base)
			m[rng.IntN(len(m))] = pieces[rng.IntN(len(pieces))][0]
			docs = append(docs, string(m[:cut]))
		}
	}
	for _, d := range docs {
		data := []byte(d)
		if got, want := tokenizerTrace(data), decoderTrace(data); got != want {
			t.Fatalf("%q:\n got %s\nwant %s", d, got, want)
		}
		var raw json.RawMessage
		var se *json.SyntaxError
		uerr := json.Unmarshal(data, &raw)
		got := CheckValid(data)
		switch {
		case errors.As(uerr, &se):
			if got == nil || got.Error() != se.Error() || got.Offset != se.Offset {
				t.Fatalf("%q: CheckValid = %v, want %v at %d", d, got, se, se.Offset)
			}
		case got != nil:
			t.Fatalf("%q: CheckValid = %v at %d, want nil", d, got, got.Offset)
		}
	}
}
