package deadletter

import "strconv"

// Source is a source of random 64-bit values (math/rand/v2's *Rand and
// Source both satisfy it).
type Source interface{ Uint64() uint64 }

// IDs makes record ids, unique across VMs and proxies. An id is
//
//	<16 hex digits drawn from src>-<VM identity in hex>-<sequence in hex>
//
// The random part is drawn once, from the caller's source (the plugin seeds
// it from WASI random_get, never from the clock alone); the VM identity is a
// number the caller makes unique among the VMs of one proxy (the plugin
// takes the next value of a counter in shared data); the sequence counts the
// VM's records. Two VMs of one proxy differ by identity; two proxies differ by
// the random part, except with probability about n²/2⁶⁵ for n VMs in all.
// The zero IDs is not usable; an IDs is not safe for concurrent use (one
// per VM, which is single-threaded).
type IDs struct {
	prefix []byte
	seq    uint64
}

// NewIDs draws the random part from src and keeps the VM identity vm.
func NewIDs(src Source, vm uint64) *IDs {
	r := src.Uint64()
	b := make([]byte, 0, 48)
	const hexd = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hexd[(r>>uint(i))&0xf])
	}
	b = append(b, '-')
	b = strconv.AppendUint(b, vm, 16)
	b = append(b, '-')
	return &IDs{prefix: b}
}

// Next returns the next id (at most 16+1+16+1+16 = 50 bytes).
func (g *IDs) Next() string {
	g.seq++
	b := make([]byte, len(g.prefix), len(g.prefix)+16)
	copy(b, g.prefix)
	return string(strconv.AppendUint(b, g.seq, 16))
}
