package filter

import (
	"math/bits"
	"strings"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/streq"
	"github.com/breakwater/breakwater/patterns/normalize"
)

// requestInfo holds the request headers, read with ONE host call, and the
// path in normal form (patterns/normalize), computed once: matching and
// keys read path and authority().
//
// load scans the headers' encoding (the host's copy in the .wasm build; an
// encoding of the list natively) once: it takes the pseudo-headers, strips
// the client's x-breakwater-* and keeps the first value of every name of
// the VM's header table (hdrTab: the headers the filter sets, and those a
// stage looked up on an earlier request), so most lookups read a slot and
// the list itself is decoded only when something walks it (list).
type requestInfo struct {
	// headers is the list (natively from load; in the .wasm build decoded
	// from raw by list, nil until then).
	headers [][2]string
	// raw is the headers' encoding load scanned (nil: none could be read);
	// wire is raw when it is the host's, which a write of the headers,
	// edited, copies (flushRequestHeaders), else nil.
	raw, wire []byte
	// dst is the stream block's list array that list decodes into.
	dst *[][2]string
	// tab is the VM's header table load scanned for (nil: built otherwise,
	// tests); tabN its size then. vals[j] is the first value of entry j
	// when has bit j is set.
	tab  *hdrTab
	tabN uint8
	has  uint32
	vals [hdrSlots]slotVal
	// own: the client sent x-breakwater-* headers (removed at arrival).
	own     bool
	decoded bool // list ran
	method  string
	rawPath string // :path as sent (dead letters, the stale cache)
	path    string // normal form: no query, fragment, ;params, dot or empty segments
	// auth is the :authority as sent until authority() replaces it, once,
	// with its normal form (authNorm); the value as sent stays in its slot
	// (rawAuthority), as :scheme's does.
	auth     string
	authNorm bool
	// escSlash: the path holds %2F or %5C (never decoded).
	escSlash bool
	// idx says how header scans the list: plainly (idxNone, a requestInfo
	// built otherwise, tests) or after list decoded it (idxLoaded, then
	// idxBuilt: the list is there).
	idx uint8
}

// slotVal is a slot of requestInfo.vals (a struct, not comparable: no
// generated equality for the array).
type slotVal struct {
	s string
	_ [0]func()
}

// The states of requestInfo.idx.
const (
	idxNone   uint8 = iota // not read by load: plain scans
	idxLoaded              // read by load, the list not looked at yet
	idxBuilt               // read by load, the list decoded (list)
)

// The request headers the filter sets (the reqSets of the policy and of the
// directive stage; flushRequestHeaders writes no other name). Their entries in every header table follow the
// pseudo-headers', so load notes whether the client sent one
// (has&setMask) and the request's headers can then be written back as read,
// with the filter's after them.
const (
	setPolicy          = iota // x-breakwater-policy
	setUpstreamTimeout        // x-envoy-upstream-rq-timeout-ms
	setExpectedTimeout        // x-envoy-expected-rq-timeout-ms
	setMaxRetries             // x-envoy-max-retries
	setRetryOn                // x-envoy-retry-on
	setRetriableCodes         // x-envoy-retriable-status-codes
	setPerTryTimeout          // x-envoy-upstream-rq-per-try-timeout-ms
	nSet
)

var setNames = [nSet]string{
	"x-breakwater-policy",
	"x-envoy-upstream-rq-timeout-ms",
	"x-envoy-expected-rq-timeout-ms",
	"x-envoy-max-retries",
	"x-envoy-retry-on",
	"x-envoy-retriable-status-codes",
	"x-envoy-upstream-rq-per-try-timeout-ms",
}

// The first entries of every header table: the pseudo-headers load takes,
// then setNames.
const (
	slotPath = iota
	slotMethod
	slotAuthority
	slotScheme
	nPseudo
	setMask = (1<<nSet - 1) << nPseudo
)

// hasOwn is the bit of scan's has that notes a client's x-breakwater-*
// (past the slots' bits).
const hasOwn = 1 << 31

// hdrSlots is the size of a header table (a power of two: scan masks
// indexes with it).
const hdrSlots = 16

// hdrTab is a VM's header table: the names (lower-case ASCII) whose first
// value load keeps in a slot. It starts with the pseudo-headers and
// setNames; header adds each other name it is asked for (names come from
// the configuration and the code, never from a request) while there is
// room, so from the next request on that lookup reads a slot; a name that
// finds no room (or is 256 bytes or longer) is looked up in the list.
// byLen[l] has bit j set when entry j is l bytes long (a header's length
// taken modulo 256, without a test: a longer header finds none of its
// length); folds are the entries.
type hdrTab struct {
	folds [hdrSlots]streq.Fold
	own   streq.Fold // ownPrefix
	n     int
	byLen [256]uint32
	_     [0]func() // not comparable: no generated equality
}

func (t *hdrTab) init() {
	*t = hdrTab{}
	t.own, _ = streq.Mask(ownPrefix)
	for _, n := range [...]string{":path", ":method", ":authority", ":scheme"} {
		t.add(n)
	}
	for _, n := range &setNames {
		t.add(n)
	}
}

// add puts name in the table when there is room and it is lower-case
// ASCII (compared as lookup does: exact, then strings.EqualFold, which for
// an ASCII name of the same length is ASCII case folding: streq.Fold). It
// returns the entry of name, or -1: a stage that reads a constant name
// finds it at config time and tests its bit in requestInfo.has without a
// lookup (deadlineStage.none).
func (t *hdrTab) add(name string) int {
	if j := t.find(name, t.n); j >= 0 || t.n == hdrSlots || len(name) >= len(t.byLen) {
		return j
	}
	if f, ok := streq.Mask(name); ok {
		t.folds[t.n] = f
		t.byLen[len(name)&255] |= 1 << t.n
		t.n++
		return t.n - 1
	}
	return -1
}

// find is the entry of name among the first n, or -1: mostly the very
// string the entry was made of (a constant, a configuration's name), which
// the pointers tell without a call.
func (t *hdrTab) find(name string, n int) int {
	for m := t.byLen[len(name)&255] & (1<<n - 1); m != 0; m &= m - 1 {
		j := bits.TrailingZeros32(m)
		if e := t.folds[j].String(); len(e) == len(name) && (unsafe.StringData(e) == unsafe.StringData(name) || e == name) {
			return j
		}
	}
	return -1
}

// load reads the request headers and scans them in one pass (see
// requestInfo): it takes the first :method, :path, :authority and :scheme,
// removes the client's x-breakwater-* (stripOwn) and fills the slots of t.
// r.dst is left as it is (nil after the stream's reset: list decodes into an
// array of its own until the caller sets it).
func (r *requestInfo) load(t *hdrTab) {
	raw, hs, host := readRequestHeaders()
	r.headers, r.tab, r.tabN, r.own, r.decoded = hs, t, uint8(t.n), false, hs != nil
	r.idx, r.authNorm = idxLoaded, false
	end, ok := r.scan(t, raw)
	var wire []byte
	if !ok {
		// Not a header map's encoding (or none could be read): no headers.
		raw, end = nil, 0
		r.headers, r.has, r.decoded = nil, 0, true
		clear(r.vals[:nPseudo]) // a malformed map's first pairs are not taken either
	} else if raw = raw[:end]; host {
		wire = raw
	}
	r.raw, r.wire = raw, wire
	v := &r.vals
	r.method, r.rawPath, r.auth = v[slotMethod].s, v[slotPath].s, v[slotAuthority].s
	r.path, r.escSlash = normalize.Path(v[slotPath].s)
}

// scan is load's pass over raw, a proxy-wasm header map: a count, then a
// key length and a value length per pair (little-endian uint32s), then each
// key and value followed by a NUL. It returns the end of the last pair, or
// false when raw is not such a map. Every value slot of t it does not fill
// is "" (has bit clear).
func (r *requestInfo) scan(t *hdrTab, raw []byte) (int, bool) {
	r.has = 0
	// The pseudo-headers' slots one by one: clear of strings is the
	// runtime's memclrHasPointers, a dozen times dearer for four.
	v := &r.vals
	v[slotPath].s, v[slotMethod].s, v[slotAuthority].s, v[slotScheme].s = "", "", "", ""
	size := uintptr(len(raw))
	if size < 4 {
		return 0, false
	}
	base := unsafe.Pointer(unsafe.SliceData(raw))
	n := uintptr(*(*uint32)(base))
	if n > (size-4)/10 { // each pair takes at least 10 bytes
		return 0, false
	}
	has := uint32(0)
	sizes, data := uintptr(4), 4+8*n
	// The loop makes no call and keeps few values live (more are spilled
	// to the stack on every pass): names of other lengths are compared a
	// byte at a time inline, a client's x-breakwater-* is noted in has
	// (hasOwn) and stripped after it (stripOwns).
	for end := data; sizes < end; {
		kl := uintptr(*(*uint32)(unsafe.Add(base, sizes)))
		vl := uintptr(*(*uint32)(unsafe.Add(base, sizes+4)))
		sizes += 8
		if data+kl+vl+2 > size { // 64-bit: no overflow of 32-bit lengths
			r.has = has &^ hasOwn
			return 0, false
		}
		np := unsafe.Add(base, data)
		data += kl + vl + 2
		// The entries of the header's length not seen yet: mostly none or
		// one, compared with two or four loads (streq.Fold).
		for m := t.byLen[kl&255] &^ has; m != 0; m &= m - 1 {
			j := bits.TrailingZeros32(m) & (hdrSlots - 1) // < hdrSlots: no bounds checks
			f := &t.folds[j]
			var eq bool
			switch {
			case kl >= 8 && kl <= 16:
				eq = *(*uint64)(np)|f.M0 == f.W0 && *(*uint64)(unsafe.Add(np, kl-8))|f.M1 == f.W1
			case kl >= 4 && kl < 8:
				eq = uint64(*(*uint32)(np))|f.M0 == f.W0 && uint64(*(*uint32)(unsafe.Add(np, kl-4)))|f.M1 == f.W1
			default: // the other lengths (one of 256 or more finds none)
				eq = streq.LowerAt(f.String(), np, kl)
			}
			if eq {
				r.vals[j].s = unsafe.String((*byte)(unsafe.Add(np, kl+1)), vl)
				has |= 1 << j
				break
			}
		}
		// isOwn: three byte tests reject every other name, then the
		// prefix's two words (13 bytes: at 0 and 5).
		if kl >= uintptr(len(ownPrefix)) && *(*byte)(unsafe.Add(np, 2))|0x20 == 'b' && *(*byte)(unsafe.Add(np, 1)) == '-' &&
			*(*uint64)(np)|t.own.M0 == t.own.W0 && *(*uint64)(unsafe.Add(np, len(ownPrefix)-8))|t.own.M1 == t.own.W1 {
			has |= hasOwn
		}
	}
	r.has = has &^ hasOwn
	if has&hasOwn != 0 {
		r.own = true
		stripOwns(base, int(4+8*uintptr(*(*uint32)(base))), int(*(*uint32)(base)))
	}
	return int(data), true
}

// stripOwns strips the client's x-breakwater-* headers of a header map scan
// found well-formed (n pairs, data from its offset on).
func stripOwns(base unsafe.Pointer, data, n int) {
	for i := 0; i < n; i++ {
		kl := int(*(*uint32)(unsafe.Add(base, 4+8*i)))
		vl := int(*(*uint32)(unsafe.Add(base, 8+8*i)))
		if name := unsafe.String((*byte)(unsafe.Add(base, data)), kl); isOwn(name) {
			stripOwn(name)
		}
		data += kl + vl + 2
	}
}

// list returns the request's headers: natively the list load read; in the
// .wasm build decoded from raw at the first call, into the stream block's
// array when it has room (a longer list's array then serves the next
// streams).
func (r *requestInfo) list() [][2]string {
	if !r.decoded {
		r.decoded = true
		if r.headers == nil && r.raw != nil {
			var dst [][2]string
			if r.dst != nil {
				dst = *r.dst
			}
			r.headers = decodeHeaders(dst, r.raw)
			if r.dst != nil && cap(r.headers) > cap(*r.dst) {
				*r.dst = r.headers[:0]
			}
		}
	}
	return r.headers
}

// index marks the list decoded (see requestInfo.idx).
func (r *requestInfo) index() {
	r.list()
	r.idx = idxBuilt
}

// authority is the normal form of the request's :authority (lower case, no
// trailing dot, no default port), computed once, where a match or a key
// first reads it (most configurations never do); no allocation when the
// authority is already normal.
func (r *requestInfo) authority() string {
	if !r.authNorm {
		scheme := ""
		if strings.IndexByte(r.auth, ':') >= 0 { // the scheme only matters for a port
			scheme = r.vals[slotScheme].s
			if r.tab == nil {
				scheme, _ = r.header(":scheme")
			}
		}
		r.auth, r.authNorm = normalize.Authority(r.auth, scheme), true
	}
	return r.auth
}

// rawAuthority is the :authority as sent.
func (r *requestInfo) rawAuthority() string {
	if r.tab != nil {
		return r.vals[slotAuthority].s
	}
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
// lookup's answer: from a slot when name is in the header table load
// scanned for, else from the list (requestInfo.idx); such a name joins the
// table for later requests.
func (r *requestInfo) header(name string) (string, bool) {
	if t := r.tab; t != nil {
		if j := t.find(name, int(r.tabN)); j >= 0 {
			return r.vals[j].s, r.has&(1<<j) != 0
		}
		t.add(name)
		r.list()
	}
	if r.idx == idxLoaded {
		r.index()
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
