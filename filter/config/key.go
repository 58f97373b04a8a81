package config

import (
	"strconv"
	"strings"

	setting "github.com/breakwater/breakwater/patterns/field"
)

// MaxKeyParts bounds the number of parts of one "key" array.
const MaxKeyParts = 16

// String renders a key part in configuration syntax ("header:x-user-id",
// "path", ...).
func (k KeyPart) String() string {
	switch k.Kind {
	case KeyHeader:
		return "header:" + k.Arg
	case KeyPath:
		return "path"
	case KeyMethod:
		return "method"
	case KeyAuthority:
		return "authority"
	case KeyRemoteAddress:
		return "remote_address"
	case KeyProperty:
		return "property:" + k.Arg
	case KeyConst:
		return "const:" + k.Arg
	}
	return "invalid"
}

// PropertyPath splits the argument of a property part into the Envoy
// attribute path segments ("source.address" -> ["source", "address"]).
func (k KeyPart) PropertyPath() []string {
	if k.Kind != KeyProperty {
		return nil
	}
	return strings.Split(k.Arg, ".")
}

// ParseKeyPart parses one descriptor part in configuration syntax. The
// error, if any, is an *Error with an empty Path.
func ParseKeyPart(s string) (KeyPart, error) {
	kp, reason := parseKeyPart(s)
	if reason != "" {
		return KeyPart{}, &Error{Reason: reason}
	}
	return kp, nil
}

const keyPartSyntax = "header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE"

func parseKeyPart(s string) (KeyPart, string) {
	switch s {
	case "path":
		return KeyPart{Kind: KeyPath}, ""
	case "method":
		return KeyPart{Kind: KeyMethod}, ""
	case "authority":
		return KeyPart{Kind: KeyAuthority}, ""
	case "remote_address":
		return KeyPart{Kind: KeyRemoteAddress}, ""
	}
	kind, arg, found := strings.Cut(s, ":")
	if found {
		switch kind {
		case "header":
			if !setting.IsToken(arg) || len(arg) > 256 {
				return KeyPart{}, "header part needs a header name (an RFC 9110 token), got " + quote(s)
			}
			return KeyPart{Kind: KeyHeader, Arg: strings.ToLower(arg)}, ""
		case "property":
			if !isPropertyPath(arg) {
				return KeyPart{}, "property part needs a dotted attribute path of [A-Za-z0-9_-] segments like source.address, got " + quote(s)
			}
			return KeyPart{Kind: KeyProperty, Arg: arg}, ""
		case "const":
			if arg == "" || len(arg) > 256 || hasControl(arg) {
				return KeyPart{}, "const part needs a value of 1 to 256 bytes without control characters, got " + quote(s)
			}
			return KeyPart{Kind: KeyConst, Arg: arg}, ""
		}
	}
	return KeyPart{}, "must be one of " + keyPartSyntax + ", got " + quote(s)
}

func isPropertyPath(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// BuildKey builds the key value of a request from the parts of a "key"
// array, get returning the request's value of each part (the empty string
// for a missing header).
//
// Encoding: every part, in order, is written as a netstring,
// "<decimal byte length>:<value>,". The encoding is prefix-free, so two
// different lists of values never give the same key whatever bytes the
// values hold (":" and "," included), and a missing header ("0:,") stays a
// distinct key from the absence of the part. No parts (an empty or absent
// "key") gives "", the policy's one shared key.
//
// Example: parts [header:x-user-id, method] with values "alice", "GET"
// give "5:alice,3:GET,".
func BuildKey(parts []KeyPart, get func(KeyPart) string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		v := get(parts[0])
		return strconv.Itoa(len(v)) + ":" + v + ","
	}
	var b strings.Builder
	b.Grow(32 * len(parts))
	var num [20]byte
	for _, kp := range parts {
		v := get(kp)
		b.Write(strconv.AppendInt(num[:0], int64(len(v)), 10))
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte(',')
	}
	return b.String()
}
