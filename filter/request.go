package filter

import (
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/normalize"
)

// requestInfo holds the request headers, read with ONE host call, and the
// path in normal form (patterns/normalize), computed once: matching and
// keys read path and authority().
type requestInfo struct {
	headers [][2]string
	// wire is the host's encoding of headers (nil natively): a write of
	// the headers, edited, copies it (flushRequestHeaders).
	wire []byte
	// xs has bit i set when header i (of the first 64) is named x-*, own
	// when it is one of the client's x-breakwater-* (removed at arrival).
	xs, own uint64
	method  string
	rawPath string // :path as sent (dead letters, the stale cache)
	path    string // normal form: no query, fragment, ;params, dot or empty segments
	// auth is the :authority as sent until authority() replaces it, once,
	// with its normal form (authNorm); rawAuthority() is the value as sent.
	auth     string
	authNorm bool
	// escSlash: the path holds %2F or %5C (never decoded).
	escSlash bool
	// idx says whether load read the headers and whether lens and at are
	// built (by the first header call, so a request no stage looks a
	// header up in pays nothing): lens has bit l set when a header name is
	// l bytes long (bit 63: 63 or more); at[l] is 1 + the index of the
	// first header whose name is l bytes long (l < len(at); 0: scan from
	// the start). lookup compares lengths first, so a name of a length no
	// header has is absent and the scan for one can start at the first
	// header of its length. A requestInfo built otherwise (tests) is
	// looked up by a plain scan.
	idx  uint8
	lens uint64
	at   [32]uint8
}

// The states of requestInfo.idx.
const (
	idxNone   uint8 = iota // not read by load: plain scans
	idxLoaded              // read by load, lens and at not built yet
	idxBuilt               // lens and at describe headers
)

// index builds lens and at (see requestInfo.idx).
func (r *requestInfo) index() {
	r.lens, r.at, r.idx = 0, [32]uint8{}, idxBuilt
	for i := range r.headers {
		l := len(r.headers[i][0])
		if l >= len(r.at) {
			r.lens |= 1 << min(l, 63)
			continue
		}
		if r.lens&(1<<l) == 0 && i < 255 {
			r.at[l] = uint8(i + 1)
		}
		r.lens |= 1 << l
	}
}

// load reads the request headers, into dst's array when it has room (the
// stream's block: the list lives as long as the stream), and in one pass
// over them takes the first :method, :path and :authority, marks the x-*
// ones and removes the client's x-breakwater-* (stripOwn).
func (r *requestInfo) load(dst [][2]string) {
	hs, wire, err := getHeaders(false, dst)
	if err != nil {
		hs, wire = nil, nil
	}
	r.headers, r.wire = hs, wire
	r.xs, r.own, r.idx = 0, 0, idxLoaded
	var method, path, auth string
	var hasMethod, hasPath, hasAuth bool
	for i := range hs {
		n := hs[i][0]
		if len(n) < 2 {
			continue
		}
		// The second byte picks the one name a header can be (case-
		// insensitively), so at most one comparison runs per header.
		switch c := n[1] | 0x20; {
		case n[0] == ':':
			switch {
			case c == 'p' && !hasPath && isName(n, ":path"):
				path, hasPath = hs[i][1], true
			case c == 'm' && !hasMethod && isName(n, ":method"):
				method, hasMethod = hs[i][1], true
			case c == 'a' && !hasAuth && isName(n, ":authority"):
				auth, hasAuth = hs[i][1], true
			}
		case n[0]|0x20 == 'x' && n[1] == '-':
			if i < 64 {
				r.xs |= 1 << i
			}
			if isOwn(n) {
				if i < 64 {
					r.own |= 1 << i
				}
				stripOwn(n)
			}
		}
	}
	r.method, r.rawPath, r.auth = method, path, auth
	r.path, r.escSlash = normalize.Path(r.rawPath)
	r.authNorm = false
}

// isName says whether a header's name is name (lower case), compared as
// lookup does.
func isName(n, name string) bool {
	return len(n) == len(name) && (n == name || strings.EqualFold(n, name))
}

// authority is the normal form of the request's :authority (lower case, no
// trailing dot, no default port), computed once, where a match or a key
// first reads it (most configurations never do); no allocation when the
// authority is already normal.
func (r *requestInfo) authority() string {
	if !r.authNorm {
		scheme := ""
		if strings.IndexByte(r.auth, ':') >= 0 { // the scheme only matters for a port
			scheme, _ = r.header(":scheme")
		}
		r.auth, r.authNorm = normalize.Authority(r.auth, scheme), true
	}
	return r.auth
}

// rawAuthority is the :authority as sent.
func (r *requestInfo) rawAuthority() string {
	if r.authNorm {
		v, _ := r.header(":authority")
		return v
	}
	return r.auth
}

// ownPrefix is the prefix of the headers the filter itself writes.
const ownPrefix = "x-breakwater-"

// isOwn says whether a header name is in the filter's own x-breakwater-*
// namespace (case-insensitively). Three byte tests reject every other name
// (x-forwarded-*, x-envoy-*, ...) before the case-insensitive comparison.
func isOwn(n string) bool {
	return len(n) >= len(ownPrefix) && n[2]|0x20 == 'b' && n[1] == '-' && n[0]|0x20 == 'x' &&
		strings.EqualFold(n[:len(ownPrefix)], ownPrefix)
}

// stripOwn removes one of the client's x-breakwater-* request headers from
// the request that goes upstream (load calls it for each, on every request,
// matched or not): they are the filter's to write, so an upstream can trust
// them. The filter itself still reads them where the configuration names
// one (fault.only_with_header x-breakwater-fault: a client-controlled switch
// by design, see the README's trust model). Only a request that carries
// such a header pays a host call (one per header); the list read is
// unchanged.
func stripOwn(name string) { _ = proxywasm.RemoveHttpRequestHeader(name) }

// header returns the first value of a header; name is lower case. It is
// lookup's answer, found with the index of name lengths (requestInfo.idx).
func (r *requestInfo) header(name string) (string, bool) {
	switch r.idx {
	case idxNone:
		return lookup(r.headers, name)
	case idxLoaded:
		r.index()
	}
	l := len(name)
	if r.lens&(1<<min(l, 63)) == 0 {
		return "", false // no header name of that length
	}
	if l < len(r.at) {
		if i := int(r.at[l]); i > 0 {
			return lookup(r.headers[i-1:], name)
		}
	}
	return lookup(r.headers, name)
}

// lookup returns the first value of name in a header list, compared
// case-insensitively.
func lookup(hs [][2]string, name string) (string, bool) {
	for _, kv := range hs {
		if len(kv[0]) == len(name) && (kv[0] == name || strings.EqualFold(kv[0], name)) {
			return kv[1], true
		}
	}
	return "", false
}

// part returns the value of one descriptor part ("" when missing).
func (r *requestInfo) part(k config.KeyPart) string {
	switch k.Kind {
	case config.KeyHeader:
		v, _ := r.header(k.Arg)
		return v
	case config.KeyPath:
		// The normal form: a client must not mint new keys (and fresh
		// buckets) by changing the query or spelling the path differently.
		return r.path
	case config.KeyMethod:
		return r.method
	case config.KeyAuthority:
		return r.authority()
	case config.KeyRemoteAddress:
		return property("source.address")
	case config.KeyProperty:
		return property(k.Arg)
	case config.KeyConst:
		return k.Arg
	}
	return ""
}

// key builds the key of a pattern from its descriptor parts.
func (r *requestInfo) key(parts []config.KeyPart) string {
	if len(parts) == 0 {
		return ""
	}
	return config.BuildKey(parts, r.part)
}

// property reads an Envoy attribute given as a dotted path.
func property(path string) string {
	v, err := proxywasm.GetProperty(strings.Split(path, "."))
	if err != nil {
		return ""
	}
	return string(v)
}

// get returns the first value of name in a header list ("" when absent).
func get(hs [][2]string, name string) string {
	v, _ := lookup(hs, name)
	return v
}
