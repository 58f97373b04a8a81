// Package minijson reads and writes JSON without reflection, exactly as
// encoding/json does for the uses the plugin has: Tokenizer yields the
// tokens of encoding/json's Decoder.Token (with UseNumber), in the same
// order, with the same states and at the same points of failure;
// CheckValid gives encoding/json's syntax errors (message and offset);
// AppendString writes a string as encoding/json's Marshal does. The plugin
// reads its configuration and the rate limit service's answers with it, so
// the .wasm does not link encoding/json's reflective decoder (about 220 KB).
//
// The scanner (scanner.go) and the string unquoting (unquote.go) are
// encoding/json's own code, copied from Go 1.26.
//
// Stateless functions are safe for concurrent use; a Tokenizer is not.
package minijson

import (
	"errors"
	"io"
)

// Delim is a delimiter token: one of [ ] { }.
type Delim byte

// Number is a number token: its literal text.
type Number string

// ErrSyntax is the error of a token that is not valid JSON; CheckValid
// over the whole document describes it.
var ErrSyntax = errors.New("minijson: invalid JSON")

// Token states, as encoding/json's Decoder.
const (
	tokenTopValue = iota
	tokenArrayStart
	tokenArrayValue
	tokenArrayComma
	tokenObjectStart
	tokenObjectKey
	tokenObjectColon
	tokenObjectValue
	tokenObjectComma
)

// Tokenizer reads the tokens of one in-memory document as
// encoding/json.Decoder's Token, More and InputOffset do (with UseNumber):
// Token returns Delim, string, Number, bool or nil; at the end of the data
// it returns io.EOF, inside an unfinished value io.ErrUnexpectedEOF, and
// ErrSyntax where the Decoder reports a syntax error. The zero Tokenizer
// has an empty document; Reset starts one.
type Tokenizer struct {
	data  []byte
	pos   int
	state int
	stack []int
}

// Reset starts reading data.
func (t *Tokenizer) Reset(data []byte) {
	t.data, t.pos, t.state, t.stack = data, 0, tokenTopValue, t.stack[:0]
}

// InputOffset is the offset of the first byte not yet read.
func (t *Tokenizer) InputOffset() int64 { return int64(t.pos) }

// More reports whether the current array or object has another element:
// the next byte that is not white space exists and is not ] or }.
func (t *Tokenizer) More() bool {
	c, err := t.peek()
	return err == nil && c != ']' && c != '}'
}

func (t *Tokenizer) peek() (byte, error) {
	for i := t.pos; i < len(t.data); i++ {
		if c := t.data[i]; !isSpace(c) {
			t.pos = i
			return c, nil
		}
	}
	t.pos = len(t.data)
	return 0, io.EOF
}

func (t *Tokenizer) valueAllowed() bool {
	switch t.state {
	case tokenTopValue, tokenArrayStart, tokenArrayValue, tokenObjectValue:
		return true
	}
	return false
}

func (t *Tokenizer) valueEnd() {
	switch t.state {
	case tokenArrayStart, tokenArrayValue:
		t.state = tokenArrayComma
	case tokenObjectValue:
		t.state = tokenObjectComma
	}
}

// Token returns the next token (see Tokenizer).
func (t *Tokenizer) Token() (any, error) {
	for {
		c, err := t.peek()
		if err != nil {
			return nil, err
		}
		switch c {
		case '[', '{':
			if !t.valueAllowed() {
				return nil, ErrSyntax
			}
			t.pos++
			t.stack = append(t.stack, t.state)
			if c == '[' {
				t.state = tokenArrayStart
			} else {
				t.state = tokenObjectStart
			}
			return Delim(c), nil
		case ']', '}':
			if c == ']' && t.state != tokenArrayStart && t.state != tokenArrayComma ||
				c == '}' && t.state != tokenObjectStart && t.state != tokenObjectComma {
				return nil, ErrSyntax
			}
			t.pos++
			t.state = t.stack[len(t.stack)-1]
			t.stack = t.stack[:len(t.stack)-1]
			t.valueEnd()
			return Delim(c), nil
		case ':':
			if t.state != tokenObjectColon {
				return nil, ErrSyntax
			}
			t.pos++
			t.state = tokenObjectValue
			continue
		case ',':
			switch t.state {
			case tokenArrayComma:
				t.pos++
				t.state = tokenArrayValue
				continue
			case tokenObjectComma:
				t.pos++
				t.state = tokenObjectKey
				continue
			}
			return nil, ErrSyntax
		case '"':
			if t.state == tokenObjectStart || t.state == tokenObjectKey {
				s, err := t.literal()
				if err != nil {
					return nil, err
				}
				t.state = tokenObjectColon
				return s, nil
			}
		}
		if !t.valueAllowed() {
			return nil, ErrSyntax
		}
		v, err := t.literal()
		if err != nil {
			return nil, err
		}
		t.valueEnd()
		return v, nil
	}
}

// literal reads the string, number, true, false or null at t.pos.
func (t *Tokenizer) literal() (any, error) {
	d, i := t.data, t.pos
	if i >= len(d) {
		return nil, io.ErrUnexpectedEOF
	}
	switch c := d[i]; {
	case c == '"':
		i++
		for {
			if i >= len(d) {
				return nil, io.ErrUnexpectedEOF
			}
			c := d[i]
			if c == '"' {
				break
			}
			if c < 0x20 {
				return nil, ErrSyntax
			}
			i++
			if c != '\\' {
				continue
			}
			if i >= len(d) {
				return nil, io.ErrUnexpectedEOF
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(d) {
						return nil, io.ErrUnexpectedEOF
					}
					if h := d[i]; !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return nil, ErrSyntax
					}
					i++
				}
			default:
				return nil, ErrSyntax
			}
		}
		s, ok := unquoteBytes(d[t.pos : i+1])
		if !ok { // not reachable: the string was scanned above
			return nil, ErrSyntax
		}
		t.pos = i + 1
		return string(s), nil
	case c == '-' || '0' <= c && c <= '9':
		if c == '-' {
			i++
		}
		digits := func(min int) error {
			n := 0
			for ; i < len(d) && '0' <= d[i] && d[i] <= '9'; i++ {
				n++
			}
			if n < min {
				if i >= len(d) {
					return io.ErrUnexpectedEOF
				}
				return ErrSyntax
			}
			return nil
		}
		switch {
		case i >= len(d):
			return nil, io.ErrUnexpectedEOF
		case d[i] == '0':
			i++
		default:
			if err := digits(1); err != nil {
				return nil, err
			}
		}
		if i < len(d) && d[i] == '.' {
			i++
			if err := digits(1); err != nil {
				return nil, err
			}
		}
		if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
			i++
			if i < len(d) && (d[i] == '+' || d[i] == '-') {
				i++
			}
			if err := digits(1); err != nil {
				return nil, err
			}
		}
		n := Number(d[t.pos:i])
		t.pos = i
		return n, nil
	default:
		var word string
		var v any
		switch c {
		case 't':
			word, v = "true", true
		case 'f':
			word, v = "false", false
		case 'n':
			word = "null"
		default:
			return nil, ErrSyntax
		}
		for k := 0; k < len(word); k++ {
			if i+k >= len(d) {
				return nil, io.ErrUnexpectedEOF
			}
			if d[i+k] != word[k] {
				return nil, ErrSyntax
			}
		}
		t.pos = i + len(word)
		return v, nil
	}
}
