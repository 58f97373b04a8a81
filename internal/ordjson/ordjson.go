// Package ordjson is a JSON object that keeps its members in the order they
// were added, for output that people read (the effective configuration of
// `breakwater validate --explain`, the generated JSON Schema). Values are
// marshalled with encoding/json without HTML escaping. The zero Object is an
// empty object. Not safe for concurrent mutation.
package ordjson

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Object is a JSON object whose members marshal in slice order.
type Object []Member

// Member is one key (a string) and its value. It is an array, not a struct,
// so that literals such as Object{{"type", "string"}} read like JSON.
type Member [2]any

// Add appends the member k: v (a key already present is not replaced).
func (o *Object) Add(k string, v any) { *o = append(*o, Member{k, v}) }

// Set replaces the value of k, or appends k: v when k is absent.
func (o Object) Set(k string, v any) Object {
	for i := range o {
		if o[i][0] == k {
			o[i][1] = v
			return o
		}
	}
	return append(o, Member{k, v})
}

// MarshalJSON implements json.Marshaler.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		key, ok := m[0].(string)
		if !ok {
			return nil, fmt.Errorf("ordjson: member %d: key %v is not a string", i, m[0])
		}
		k, err := Marshal(key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := Marshal(m[1])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Marshal is json.Marshal without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
