package config

// Error is the one error value Parse and Load return: the JSON path of the
// offending value and the reason it is refused.
//
// Path uses dots for object keys and [i] for array elements, relative to the
// document root, e.g. "policies[1].circuit_breaker.failure_rate_threshold".
// An object key that is not made of [A-Za-z0-9_-], or is longer than 64
// bytes, is written quoted in brackets and cut to 64 bytes, e.g.
// `fallback.headers["x y"]`. The root itself is "$".
type Error struct {
	_      [0]func() // not comparable (errors are *Error): no generated equality in the .wasm
	Path   string
	Reason string
}

// Error renders the single log line: "breakwater: config: <path>: <reason>"
// ("breakwater: config: <reason>" when Path is empty, as from ParseKeyPart).
func (e *Error) Error() string {
	if e.Path == "" {
		return "breakwater: config: " + e.Reason
	}
	return "breakwater: config: " + e.Path + ": " + e.Reason
}

// field is the path of key inside the object at parent.
func field(parent, key string) string {
	simple := key != "" && len(key) <= 64
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			simple = false
			break
		}
	}
	if !simple {
		return parent + "[" + quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index is the path of element i of the array at parent.
func index(parent string, i int) string {
	return parent + "[" + itoa(i) + "]"
}

// displayPath turns the internal root path "" into "$".
func displayPath(p string) string {
	if p == "" {
		return "$"
	}
	return p
}
