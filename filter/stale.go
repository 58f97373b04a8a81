package filter

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/sha256"
	"github.com/breakwater/breakwater/patterns/store"
)

// staleSlots is the number of responses a policy's stale cache keeps: the
// cache is direct-mapped, one shared-data key per slot
// ("<namespace>/<policy>/stale/<slot>", slot = hash(cache key) mod 64), so a
// policy holds at most config.Stale.StaleBytes() of shared data. A key that
// maps to a slot holding another key replaces it.
const staleSlots = config.StaleSlots

// staleHeaders are the representation headers kept with a body and served
// with it (content-length is the host's).
var staleHeaders = [...]string{"content-type", "content-encoding", "content-language", "content-location", "etag", "last-modified", "vary"}

// staleCache keeps the last good (200) GET response of each cache key,
// shared by all workers, and serves it as a fallback while younger than
// max_age, only to requests with the same cache key.
//
// Cache key: netstrings of :authority and :path as sent (query string
// included: a different query is a different resource; another spelling
// of one resource is another key, which can only miss), then BuildKey of
// stale.key.
// What is never kept (see wantCapture): responses marked private, no-store
// or no-cache, with Set-Cookie or Vary: *; responses whose Vary names a
// header the key does not hold; requests carrying Authorization or Cookie
// unless the key holds that header. So a copy is only ever served to a
// request that presented the same values of everything the response
// depended on.
//
// Value layout (little-endian): [2] id length I, [I] id (the cache key, or
// 0x00 + 16 bytes of its SHA-256 when longer than config.StaleMaxID), [8]
// stored at (unix ns), [1] header count H, H × ([1] name length, name, [2]
// value length, value) at most config.StaleMaxHeaderBytes in all, then the
// body.
//
// Writes are throttled per worker: a worker rewrites a slot for the same
// key at most once per max_age/4, so a hot key costs one shared-data write
// per worker every max_age/4, not one per request.
type staleCache struct {
	_      [0]func() // not comparable: no generated equality in the .wasm
	p      *pluginContext
	prefix string
	cfg    *config.Stale
	// keyAuth, keyCookie: the key holds header:authorization, header:cookie.
	keyAuth, keyCookie bool
	// written[slot] remembers this worker's last write (key hash, instant).
	written [staleSlots]struct {
		hash uint64
		at   time.Time
	}
}

func newStaleCache(p *pluginContext, pol *policy, c *config.Stale) *staleCache {
	sc := &staleCache{p: p, prefix: pol.prefix + "/stale/", cfg: c}
	sc.keyAuth = sc.keyHolds("authorization")
	sc.keyCookie = sc.keyHolds("cookie")
	return sc
}

// keyHolds says whether stale.key holds header:name (name lower case).
func (c *staleCache) keyHolds(name string) bool {
	for _, kp := range c.cfg.Key {
		if kp.Kind == config.KeyHeader && kp.Arg == name {
			return true
		}
	}
	return false
}

// cacheID is the id of r's cache key as stored in a record (one
// allocation for a key of up to 256 bytes).
func (c *staleCache) cacheID(r *requestInfo) string {
	var buf [config.StaleMaxID]byte
	b := buf[:0]
	// The authority and path as sent (query included: it selects the
	// response). Not the normal forms: another spelling of a resource only
	// misses the cache, it never reaches another key's copy, and the raw
	// values cost no normalisation here.
	auth, path := r.rawAuthority(), r.rawPath
	b = strconv.AppendInt(b, int64(len(auth)), 10)
	b = append(b, ':')
	b = append(b, auth...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(len(path)), 10)
	b = append(b, ':')
	b = append(b, path...)
	b = append(b, ',')
	if len(c.cfg.Key) > 0 {
		b = append(b, r.key(c.cfg.Key)...)
	}
	if len(b) > config.StaleMaxID {
		sum := sha256.Sum256(b)
		return "\x00" + string(sum[:16])
	}
	return string(b)
}

func (c *staleCache) slot(id string) (string, int, uint64) {
	hash := c.p.keyHash(id)
	slot := int(hash % staleSlots)
	return c.prefix + strconv.Itoa(slot), slot, hash
}

// cacheControlForbids says whether a Cache-Control or Pragma value holds
// one of the directives that forbid keeping a shared copy.
func cacheControlForbids(v string) bool {
	for _, d := range strings.Split(v, ",") {
		d = strings.TrimSpace(d)
		if i := strings.IndexByte(d, '='); i >= 0 {
			d = strings.TrimSpace(d[:i])
		}
		if strings.EqualFold(d, "private") || strings.EqualFold(d, "no-store") || strings.EqualFold(d, "no-cache") {
			return true
		}
	}
	return false
}

// wantCapture decides at response headers whether to keep this response;
// when it does, it returns the cache id and the representation headers to
// keep with it. A key this worker wrote less than max_age/4 ago is not
// rewritten (checked first: the steady state costs no header read).
func (c *staleCache) wantCapture(h *httpContext, o outcome, now time.Time) (string, [][2]string, bool) {
	if h.req.method != "GET" || o.status != 200 {
		return "", nil, false
	}
	id := c.cacheID(&h.req)
	_, slot, hash := c.slot(id)
	if w := c.written[slot]; w.hash == hash && now.Sub(w.at) < c.cfg.MaxAge/4 {
		return "", nil, false
	}
	// The request: a user's credentials make the response theirs.
	for _, kv := range h.req.list() {
		switch strings.ToLower(kv[0]) {
		case "authorization":
			if !c.keyAuth {
				return "", nil, false
			}
		case "cookie":
			if !c.keyCookie {
				return "", nil, false
			}
		}
	}
	hs, err := h.responseHeaders()
	if err != nil {
		return "", nil, false
	}
	var keep [][2]string
	size := 0
	for _, kv := range hs {
		name := strings.ToLower(kv[0])
		switch name {
		case "cache-control", "pragma":
			if cacheControlForbids(kv[1]) {
				return "", nil, false
			}
		case "set-cookie":
			return "", nil, false
		case "content-length":
			if n, err := strconv.Atoi(kv[1]); err != nil || n > c.cfg.MaxBodyBytes {
				return "", nil, false
			}
		case "vary":
			for _, f := range strings.Split(kv[1], ",") {
				f = strings.ToLower(strings.TrimSpace(f))
				if f == "" {
					continue
				}
				if f == "*" || !c.keyHolds(f) {
					return "", nil, false
				}
			}
		}
		for _, s := range staleHeaders {
			if name == s {
				if len(name) > 0xff || len(kv[1]) > 0xffff {
					return "", nil, false
				}
				size += 3 + len(name) + len(kv[1])
				keep = append(keep, [2]string{name, kv[1]})
				break
			}
		}
	}
	if size > config.StaleMaxHeaderBytes || len(keep) > 0xff {
		return "", nil, false
	}
	if keep == nil {
		keep = [][2]string{}
	}
	return id, keep, true
}

// store writes the captured response of cache id.
func (c *staleCache) store(id string, hdrs [][2]string, body []byte, now time.Time) {
	if len(body) > c.cfg.MaxBodyBytes {
		return
	}
	key, slot, hash := c.slot(id)
	v := encodeStale(id, now, hdrs, body)
	// Last writer wins: an unconditional write is right for a cache.
	if err := c.p.st.Set(key, v, 0); err != nil {
		logLimited("breakwater: stale cache write failed: %v", err)
		return
	}
	c.written[slot].hash, c.written[slot].at = hash, now
}

// lookup returns the stored response of r's cache key if younger than
// max_age: its representation headers, body and age.
func (c *staleCache) lookup(r *requestInfo, now time.Time) (hdrs [][2]string, body []byte, age time.Duration, ok bool) {
	id := c.cacheID(r)
	key, _, _ := c.slot(id)
	v, _, err := c.p.st.Get(key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			logLimited("breakwater: stale cache read failed: %v", err)
		}
		return nil, nil, 0, false
	}
	at, hdrs, body, ok := decodeStale(v, id)
	if !ok {
		return nil, nil, 0, false
	}
	age = now.Sub(at)
	if age < 0 {
		age = 0
	}
	if age >= c.cfg.MaxAge {
		return nil, nil, 0, false
	}
	return hdrs, body, age, true
}

// encodeStale is a record of id (layout on staleCache); the caller keeps
// id, hdrs and body within the bounds of the layout.
func encodeStale(id string, at time.Time, hdrs [][2]string, body []byte) []byte {
	n := 2 + len(id) + 8 + 1 + len(body)
	for _, kv := range hdrs {
		n += 3 + len(kv[0]) + len(kv[1])
	}
	v := make([]byte, 0, n)
	v = binary.LittleEndian.AppendUint16(v, uint16(len(id)))
	v = append(v, id...)
	v = binary.LittleEndian.AppendUint64(v, uint64(at.UnixNano()))
	v = append(v, byte(len(hdrs)))
	for _, kv := range hdrs {
		v = append(v, byte(len(kv[0])))
		v = append(v, kv[0]...)
		v = binary.LittleEndian.AppendUint16(v, uint16(len(kv[1])))
		v = append(v, kv[1]...)
	}
	return append(v, body...)
}

// decodeStale reads a record (layout on staleCache) written for id; ok is
// false for another id's record or a corrupt one. body aliases v.
func decodeStale(v []byte, id string) (at time.Time, hdrs [][2]string, body []byte, ok bool) {
	if len(v) < 2 {
		return time.Time{}, nil, nil, false
	}
	il := int(binary.LittleEndian.Uint16(v))
	if len(v) < 2+il+9 || string(v[2:2+il]) != id {
		return time.Time{}, nil, nil, false
	}
	v = v[2+il:]
	at = time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
	nh := int(v[8])
	v = v[9:]
	hdrs = make([][2]string, 0, nh)
	for i := 0; i < nh; i++ {
		if len(v) < 1 {
			return time.Time{}, nil, nil, false
		}
		nl := int(v[0])
		if len(v) < 1+nl+2 {
			return time.Time{}, nil, nil, false
		}
		name := string(v[1 : 1+nl])
		vl := int(binary.LittleEndian.Uint16(v[1+nl:]))
		v = v[1+nl+2:]
		if len(v) < vl {
			return time.Time{}, nil, nil, false
		}
		hdrs = append(hdrs, [2]string{name, string(v[:vl])})
		v = v[vl:]
	}
	return at, hdrs, v, true
}

// OnHttpResponseBody buffers the body of a response being captured for the
// stale cache; any other body streams through untouched.
func (h *httpContext) OnHttpResponseBody(size int, eos bool) types.Action {
	if !h.capture {
		return types.ActionContinue // nothing that could panic: no recover needed
	}
	return h.captureBody(size, eos)
}

// captureBody is OnHttpResponseBody while the body is captured (a function
// of its own: the deferred recover costs every response otherwise).
func (h *httpContext) captureBody(size int, eos bool) (action types.Action) {
	defer h.protect(&action)
	c := h.pol.stale
	if size > c.cfg.MaxBodyBytes {
		h.capture = false // too large: let it (and what was buffered) through
		return types.ActionContinue
	}
	if !eos {
		return types.ActionPause // keep buffering until the end of the stream
	}
	h.capture = false
	body, err := proxywasm.GetHttpResponseBody(0, size)
	if err != nil && size > 0 {
		return types.ActionContinue
	}
	c.store(h.staleID, h.staleHdrs, body, clock())
	return types.ActionContinue
}
