package deadletter

import "time"

// Bounds of one VM's records in flight (queued in the Outbox or sent and
// not answered yet). Above either, a new record is dropped and counted.
const (
	MaxInFlight      = 64
	MaxInFlightBytes = 4 << 20
)

// Outbox holds one VM's records (of type T, each with its size in bytes) from the end of their request until
// the answer to their send. Records wait in a FIFO queue until the caller
// takes them with Next (the plugin sends them from its tick, on the root
// context, so the call outlives the request); a record taken stays counted
// until Done. At most MaxRecords records and MaxBytes bytes are held in all.
// The zero Outbox uses MaxInFlight and MaxInFlightBytes. Not safe for
// concurrent use (one per VM).
type Outbox[T any] struct {
	// MaxRecords and MaxBytes: 0 means MaxInFlight and MaxInFlightBytes.
	MaxRecords, MaxBytes int

	queue    []item[T]
	head     int
	inFlight int // records queued or sent, not Done yet
	bytes    int // their bytes
}

type item[T any] struct {
	v    T
	size int
}

func (o *Outbox[T]) limits() (int, int) {
	r, b := o.MaxRecords, o.MaxBytes
	if r <= 0 {
		r = MaxInFlight
	}
	if b <= 0 {
		b = MaxInFlightBytes
	}
	return r, b
}

// Add queues v, of size bytes. It returns false, and keeps nothing, when
// the bound would be exceeded.
func (o *Outbox[T]) Add(v T, size int) bool {
	maxR, maxB := o.limits()
	if size < 0 || o.inFlight+1 > maxR || o.bytes+size > maxB {
		return false
	}
	if o.head > 0 && o.head >= len(o.queue)/2 {
		// Compact: the queue never holds more than MaxRecords live entries.
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
	o.queue = append(o.queue, item[T]{v, size})
	o.inFlight++
	o.bytes += size
	return true
}

// Next takes the oldest queued record and its size; it stays in flight
// until Done.
func (o *Outbox[T]) Next() (T, int, bool) {
	var zero T
	if o.head == len(o.queue) {
		return zero, 0, false
	}
	it := o.queue[o.head]
	o.queue[o.head] = item[T]{}
	o.head++
	return it.v, it.size, true
}

// Done ends the flight of a record of size bytes taken with Next (answered,
// failed, or never sent).
func (o *Outbox[T]) Done(size int) {
	if o.inFlight > 0 {
		o.inFlight--
	}
	o.bytes = max(0, o.bytes-size)
}

// Queued is the number of records waiting for Next.
func (o *Outbox[T]) Queued() int { return len(o.queue) - o.head }

// InFlight is the number of records held (queued or sent, not Done).
func (o *Outbox[T]) InFlight() int { return o.inFlight }

// LogGate lets one log line per cause through per Every (one minute when
// zero), with time passed in. The zero LogGate is ready. Not safe for
// concurrent use.
// Memory: one entry per distinct cause (the caller's causes are a fixed set).
type LogGate struct {
	Every time.Duration
	last  map[string]gateEntry
}

type gateEntry struct {
	at     time.Time
	missed uint64
}

// Allow notes one event of cause at now and says whether to log it; when it
// does, n is the number of events of cause since the previous line, this
// one included.
func (g *LogGate) Allow(cause string, now time.Time) (n uint64, ok bool) {
	every := g.Every
	if every <= 0 {
		every = time.Minute
	}
	if g.last == nil {
		g.last = map[string]gateEntry{}
	}
	e, seen := g.last[cause]
	e.missed++
	if seen && now.Sub(e.at) < every {
		g.last[cause] = e
		return 0, false
	}
	g.last[cause] = gateEntry{at: now}
	return e.missed, true
}
