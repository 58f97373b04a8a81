package config

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/breakwater/breakwater/internal/minijson"
)

// MaxDocumentBytes bounds the size of a configuration document. Real
// configurations are a few kilobytes; the bound keeps a hostile input from
// costing more than a few megabytes of memory at plugin start.
const MaxDocumentBytes = 4 << 20

// MaxValues bounds the number of JSON values (objects, arrays, strings,
// numbers, booleans, nulls) in a document, so that the tree built from a
// hostile document of small values stays a few megabytes. Real
// configurations hold a few hundred.
const MaxValues = 100_000

// MaxDepth bounds the nesting of arrays and objects. The deepest place in
// the contract (policies[].rate_limit.limits[].tier.limits.NAME.requests) is
// at depth 9.
const MaxDepth = 32

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jArray:
		return "array"
	default:
		return "object"
	}
}

// jvalue is a parsed JSON value that keeps what encoding/json throws away:
// the order of object keys (so the first error is the first in the
// document) and the literal text of numbers (so 1.0 is not an integer and
// 1e999 is out of range rather than +Inf).
type jvalue struct {
	kind   jkind
	b      bool
	text   string    // jString: the value; jNumber: the literal
	elems  []*jvalue // jArray
	keys   []string  // jObject, in document order, no duplicates
	fields []*jvalue // jObject, fields[i] is the value of keys[i]
}

func (v *jvalue) get(key string) (*jvalue, bool) {
	for i, k := range v.keys {
		if k == key {
			return v.fields[i], true
		}
	}
	return nil, false
}

// utf8BOM is the UTF-8 encoding of U+FEFF.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseDocument reads one JSON object from data (after a UTF-8 byte-order
// mark, if any), rejecting duplicate keys,
// nesting deeper than MaxDepth, invalid UTF-8 and anything after the object.
func parseDocument(data []byte) (*jvalue, *Error) {
	// A UTF-8 byte-order mark (which some editors write) is skipped.
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(data) > MaxDocumentBytes {
		return nil, &Error{Path: "$", Reason: "document too large: " + strconv.Itoa(len(data)) + " bytes, at most " + strconv.Itoa(MaxDocumentBytes)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Path: "$", Reason: "empty document, want a JSON object"}
	}
	if !utf8.Valid(data) {
		return nil, &Error{Path: "$", Reason: "not valid UTF-8"}
	}
	dec := &minijson.Tokenizer{}
	dec.Reset(data)
	r := &reader{dec: dec, data: data}
	root, err := r.readValue("", 0)
	if err != nil {
		return nil, err
	}
	if root.kind != jObject {
		return nil, &Error{Path: "$", Reason: "must be an object, got " + root.kind.String()}
	}
	end := dec.InputOffset()
	if _, terr := dec.Token(); terr != io.EOF {
		for end < int64(len(data)) && strings.IndexByte(" \t\r\n", data[end]) >= 0 {
			end++
		}
		return nil, &Error{Path: "$", Reason: "unexpected data after the top-level object at " + position(data, end)}
	}
	return root, nil
}

// syntaxError describes a syntax error met at path. The tokenizer's own
// offsets are approximate, so the message and position come from a second,
// exact pass of encoding/json's validating scanner (minijson.CheckValid)
// over the document.
func syntaxError(path string, data []byte, err error) *Error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Path: displayPath(path), Reason: "invalid JSON: unexpected end of input"}
	}
	if se := minijson.CheckValid(data); se != nil {
		if se.Offset >= int64(len(data)) && strings.Contains(se.Error(), "end of JSON input") {
			return &Error{Path: displayPath(path), Reason: "invalid JSON: unexpected end of input"}
		}
		return &Error{Path: displayPath(path), Reason: "invalid JSON at " + position(data, se.Offset-1) + ": " + se.Error()}
	}
	return &Error{Path: displayPath(path), Reason: "invalid JSON: " + err.Error()}
}

// position renders the 0-based byte offset off of data as "line L, column C"
// (both 1-based, the column in bytes).
func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := 1 + bytes.Count(before, []byte{'\n'})
	col := off - int64(bytes.LastIndexByte(before, '\n'))
	return "line " + strconv.Itoa(line) + ", column " + strconv.FormatInt(col, 10)
}

// reader is the state of one document read.
type reader struct {
	dec    *minijson.Tokenizer
	data   []byte
	values int
}

func (r *reader) readValue(path string, depth int) (*jvalue, *Error) {
	dec := r.dec
	r.values++
	if r.values > MaxValues {
		return nil, &Error{Path: displayPath(path), Reason: "document has more than " + strconv.Itoa(MaxValues) + " JSON values"}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(path, r.data, err)
	}
	switch t := tok.(type) {
	case nil:
		return &jvalue{kind: jNull}, nil
	case bool:
		return &jvalue{kind: jBool, b: t}, nil
	case minijson.Number:
		return &jvalue{kind: jNumber, text: string(t)}, nil
	case string:
		return &jvalue{kind: jString, text: t}, nil
	case minijson.Delim:
		if depth >= MaxDepth {
			return nil, &Error{Path: displayPath(path), Reason: "nested deeper than " + strconv.Itoa(MaxDepth) + " levels"}
		}
		switch t {
		case '{':
			v := &jvalue{kind: jObject}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(path, r.data, err)
				}
				key, ok := kt.(string)
				if !ok { // not reachable: the decoder only yields strings as keys
					return nil, &Error{Path: displayPath(path), Reason: "invalid JSON: object key is not a string"}
				}
				kp := field(path, key)
				if seen[key] {
					return nil, &Error{Path: kp, Reason: "duplicate key"}
				}
				seen[key] = true
				fv, ferr := r.readValue(kp, depth+1)
				if ferr != nil {
					return nil, ferr
				}
				v.keys = append(v.keys, key)
				v.fields = append(v.fields, fv)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(path, r.data, err)
			}
			return v, nil
		case '[':
			v := &jvalue{kind: jArray}
			for dec.More() {
				ev, eerr := r.readValue(index(path, len(v.elems)), depth+1)
				if eerr != nil {
					return nil, eerr
				}
				v.elems = append(v.elems, ev)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(path, r.data, err)
			}
			return v, nil
		}
	}
	// A closing delimiter where a value is expected: the decoder reports
	// these as syntax errors, so this is a safety net.
	return nil, &Error{Path: displayPath(path), Reason: "invalid JSON at " + position(r.data, dec.InputOffset())}
}

// quote renders s for an error message: Go-quoted (one line whatever s
// holds) and cut to 64 bytes.
func quote(s string) string {
	return strconv.Quote(clip(s))
}

// clip cuts s to at most 64 bytes on a rune boundary, marking the cut.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func itoa(i int) string { return strconv.Itoa(i) }
