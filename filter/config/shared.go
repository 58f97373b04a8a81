package config

import (
	"fmt"
	"strconv"

	"github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/retry"
	"github.com/breakwater/breakwater/patterns/store"
)

// DefaultMaxSharedBytes is max_shared_bytes when absent: 256 MiB.
const DefaultMaxSharedBytes = 256 << 20

// maxSharedBytesCap bounds max_shared_bytes (1 TiB).
const maxSharedBytesCap = 1 << 40

// SharedUse is the worst case of one user of shared data: a keyed
// pattern's table, a stale cache, a retry budget, the plugin's own keys.
// The formulas are in the configuration reference (max_shared_bytes).
type SharedUse struct {
	// Path is the JSON path of the block (e.g. policies[0].circuit_breaker).
	Path string
	// Entries is the number of records at most (the table's capacity and
	// its overflow record, the stale slots, 1).
	Entries int64
	// RecordBytes is the largest record (a state or a stale response).
	RecordBytes int64
	// Bytes is the most this user writes: names of the shared-data keys
	// and their values.
	Bytes int64
	// field is the JSON path a refusal names (the setting to lower).
	field string
	_     [0]func() // not comparable (no code compares it): no generated equality
}

// tableUse is the worst case of a store.Table under prefix with maxKeys
// entries of states of at most state bytes; an unkeyed pattern writes its
// one key only.
func tableUse(path, field, prefix string, maxKeys int, keyed bool, state int) SharedUse {
	t := store.NewTable(prefix, maxKeys)
	if !keyed {
		// One key, "": one entry of one set (the set's name as long as any).
		name := len(prefix) + 1 + len(strconv.Itoa(t.Sets()-1))
		return SharedUse{Path: path, field: field, Entries: 1, RecordBytes: int64(state),
			Bytes: int64(name + 1 + 8 + 2 + state)}
	}
	return SharedUse{Path: path, field: field, Entries: int64(t.Capacity()) + 1, RecordBytes: int64(state),
		Bytes: t.MaxSharedBytes(state)}
}

// SharedUses lists the worst-case shared-data bytes of every user of c, in
// document order, the plugin's own keys first.
func (c *Config) SharedUses() []SharedUse {
	ns := c.Namespace
	// The deployment's hash key (16 bytes) and the VM ordinal counter
	// (filter: ordinalKey).
	out := []SharedUse{{Path: "$", field: "", Entries: 2, RecordBytes: 16,
		Bytes: int64(len(ns)+len("/hash_key")+16) + int64(len(ns)+len("/vm")+8)}}
	for i, p := range c.Policies {
		pp := "policies[" + strconv.Itoa(i) + "]"
		prefix := ns + "/" + p.Name
		if rl := p.RateLimit; rl != nil {
			for j, l := range rl.Limits {
				if l.Scope == ScopeGlobal && (rl.Service == nil || rl.Service.FailureMode != FailLocal) {
					continue // no local state
				}
				lp := pp + ".rate_limit.limits[" + strconv.Itoa(j) + "]"
				out = append(out, tableUse(lp, lp+".max_keys", prefix+"/rl/"+l.Name, l.MaxKeys, len(l.Key) > 0,
					ratelimit.MaxStateBytes(l.Settings.Algorithm)))
			}
		}
		if cb := p.CircuitBreaker; cb != nil {
			bp := pp + ".circuit_breaker"
			out = append(out, tableUse(bp, bp+".max_keys", prefix+"/cb", cb.MaxKeys, len(cb.Key) > 0, cb.Settings.RecordBytes()))
		}
		if bh := p.Bulkhead; bh != nil {
			bp := pp + ".bulkhead"
			out = append(out, tableUse(bp, bp+".max_keys", prefix+"/bh", bh.MaxKeys, len(bh.Key) > 0, bh.Settings.RecordBytes()))
		}
		if r := p.Retry; r != nil && r.Budget != nil {
			out = append(out, SharedUse{Path: pp + ".retry.budget", Entries: 1, RecordBytes: retry.RecordBytes,
				Bytes: int64(len(prefix)+len("/retry")) + retry.RecordBytes})
		}
		if f := p.Fallback; f != nil && f.Stale != nil {
			sp := pp + ".fallback.stale"
			name := int64(len(prefix) + len("/stale/") + 2)
			rec := int64(StaleRecordOverhead + f.Stale.MaxBodyBytes)
			out = append(out, SharedUse{Path: sp, field: sp + ".max_body_bytes", Entries: StaleSlots, RecordBytes: rec,
				Bytes: StaleSlots * (name + rec)})
		}
	}
	return out
}

// SharedBytes is the worst-case total of SharedUses.
func (c *Config) SharedBytes() int64 {
	var n int64
	for _, u := range c.SharedUses() {
		n += u.Bytes
	}
	return n
}

// checkShared refuses a configuration whose worst case exceeds
// max_shared_bytes, naming the setting of its largest user.
func (p *parser) checkShared(c *Config) {
	uses := c.SharedUses()
	var total int64
	big := 0
	for i, u := range uses {
		total += u.Bytes
		if u.Bytes > uses[big].Bytes {
			big = i
		}
	}
	if total <= c.MaxSharedBytes {
		return
	}
	u := uses[big]
	path := u.field
	if path == "" {
		path = u.Path
	}
	p.failf(path, "worst-case shared data %s exceeds max_shared_bytes %s; the largest user, %s, takes %s (%d records of up to %d bytes): lower it or raise max_shared_bytes",
		bytesString(total), bytesString(c.MaxSharedBytes), u.Path, bytesString(u.Bytes), u.Entries, u.RecordBytes)
}

// bytesString renders n bytes with its MiB value.
func bytesString(n int64) string {
	if n < 1<<20 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
}
