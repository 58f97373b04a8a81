package filter

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/store"
)

// staleSlots is the number of responses a policy's stale cache keeps: the
// cache is direct-mapped, one shared-data key per slot
// ("<namespace>/<policy>/stale/<slot>", slot = FNV-1a(:path) mod 64), so a
// policy holds at most staleSlots × (max_body_bytes + 8 + len(path) +
// len(content-type) + 6) bytes of shared data. A path that maps to a slot
// holding another path replaces it.
const staleSlots = 64

// staleCache keeps the last good (200) GET response of each path, shared by
// all workers, and serves it as a fallback while younger than max_age.
//
// Value layout: [2] path length P, [P] :path (query string included: a
// different query is a different resource), [8] stored at (unix ns), [2]
// content-type length C, [C] content-type, then the body. All little-endian.
//
// Writes are throttled per worker: a worker rewrites a slot for the same
// path at most once per max_age/4, so a hot path costs one shared-data write
// per worker every max_age/4, not one per request.
type staleCache struct {
	p      *pluginContext
	prefix string
	cfg    *config.Stale
	// written[slot] remembers this worker's last write (path hash, instant).
	written [staleSlots]struct {
		hash uint64
		at   time.Time
	}
}

func newStaleCache(p *pluginContext, pol *policy, c *config.Stale) *staleCache {
	return &staleCache{p: p, prefix: pol.prefix + "/stale/", cfg: c}
}

func pathHash(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()
}

func (c *staleCache) key(hash uint64) (string, int) {
	slot := int(hash % staleSlots)
	return c.prefix + strconv.Itoa(slot), slot
}

// wantCapture decides at response headers whether to keep this response.
func (c *staleCache) wantCapture(h *httpContext, o outcome, now time.Time) bool {
	if h.req.method != "GET" || o.status != 200 {
		return false
	}
	if cl, err := proxywasm.GetHttpResponseHeader("content-length"); err == nil {
		if n, err := strconv.Atoi(cl); err != nil || n > c.cfg.MaxBodyBytes {
			return false
		}
	}
	hash := pathHash(h.req.rawPath)
	_, slot := c.key(hash)
	w := c.written[slot]
	return w.hash != hash || now.Sub(w.at) >= c.cfg.MaxAge/4
}

// store writes the captured response.
func (c *staleCache) store(path, contentType string, body []byte, now time.Time) {
	if len(path) > 0xffff || len(contentType) > 0xffff || len(body) > c.cfg.MaxBodyBytes {
		return
	}
	hash := pathHash(path)
	key, slot := c.key(hash)
	v := make([]byte, 0, 12+len(path)+len(contentType)+len(body))
	v = binary.LittleEndian.AppendUint16(v, uint16(len(path)))
	v = append(v, path...)
	v = binary.LittleEndian.AppendUint64(v, uint64(now.UnixNano()))
	v = binary.LittleEndian.AppendUint16(v, uint16(len(contentType)))
	v = append(v, contentType...)
	v = append(v, body...)
	// Last writer wins: an unconditional write is right for a cache.
	if err := c.p.st.Set(key, v, 0); err != nil {
		logLimited("breakwater: stale cache write failed: %v", err)
		return
	}
	c.written[slot].hash, c.written[slot].at = hash, now
}

// lookup returns the stored response of path if younger than max_age.
func (c *staleCache) lookup(path string, now time.Time) (contentType string, body []byte, age time.Duration, ok bool) {
	key, _ := c.key(pathHash(path))
	v, _, err := c.p.st.Get(key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			logLimited("breakwater: stale cache read failed: %v", err)
		}
		return "", nil, 0, false
	}
	if len(v) < 2 {
		return "", nil, 0, false
	}
	pl := int(binary.LittleEndian.Uint16(v))
	if len(v) < 2+pl+10 || string(v[2:2+pl]) != path {
		return "", nil, 0, false
	}
	v = v[2+pl:]
	at := time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
	cl := int(binary.LittleEndian.Uint16(v[8:]))
	v = v[10:]
	if len(v) < cl {
		return "", nil, 0, false
	}
	age = now.Sub(at)
	if age < 0 {
		age = 0
	}
	if age >= c.cfg.MaxAge {
		return "", nil, 0, false
	}
	return string(v[:cl]), v[cl:], age, true
}

// OnHttpResponseBody buffers the body of a response being captured for the
// stale cache; any other body streams through untouched.
func (h *httpContext) OnHttpResponseBody(size int, eos bool) (action types.Action) {
	defer h.protect(&action)
	if !h.capture {
		return types.ActionContinue
	}
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
	c.store(h.req.rawPath, h.contentType, body, clock())
	return types.ActionContinue
}
