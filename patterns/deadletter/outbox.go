package deadletter

import "time"

// Bounds of one VM's records in flight (queued in the Outbox or sent and
// not answered yet). Above either, a new record is dropped and counted.
const (
	MaxInFlight      = 64
	MaxInFlightBytes = 4 << 20
)

// Outbox holds one VM's encoded records from the end of their request until
// the answer to their send. Records wait in a FIFO queue until the caller
// takes them with Next (the plugin sends them from its tick, on the root
// context, so the call outlives the request); a record taken stays counted
// until Done. At most MaxRecords records and MaxBytes bytes are held in all.
// The zero Outbox uses MaxInFlight and MaxInFlightBytes. Not safe for
// concurrent use (one per VM).
type Outbox struct {
	// MaxRecords and MaxBytes: 0 means MaxInFlight and MaxInFlightBytes.
	MaxRecords, MaxBytes int

	queue    [][]byte
	head     int
	inFlight int // records queued or sent, not Done yet
	bytes    int // their bytes
}

func (o *Outbox) limits() (int, int) {
	r, b := o.MaxRecords, o.MaxBytes
	if r <= 0 {
		r = MaxInFlight
	}
	if b <= 0 {
		b = MaxInFlightBytes
	}
	return r, b
}

// Add queues rec. It returns false, and keeps nothing, when the bound would
// be exceeded.
func (o *Outbox) Add(rec []byte) bool {
	maxR, maxB := o.limits()
	if o.inFlight+1 > maxR || o.bytes+len(rec) > maxB {
		return false
	}
	if o.head > 0 && o.head >= len(o.queue)/2 {
		// Compact: the queue never holds more than MaxRecords live entries.
		n := copy(o.queue, o.queue[o.head:])
		clear(o.queue[n:])
		o.queue, o.head = o.queue[:n], 0
	}
	o.queue = append(o.queue, rec)
	o.inFlight++
	o.bytes += len(rec)
	return true
}

// Next takes the oldest queued record; it stays in flight until Done.
func (o *Outbox) Next() ([]byte, bool) {
	if o.head == len(o.queue) {
		return nil, false
	}
	rec := o.queue[o.head]
	o.queue[o.head] = nil
	o.head++
	return rec, true
}

// Done ends the flight of a record of size bytes taken with Next (answered,
// failed, or never sent).
func (o *Outbox) Done(size int) {
	if o.inFlight > 0 {
		o.inFlight--
	}
	o.bytes = max(0, o.bytes-size)
}

// Queued is the number of records waiting for Next.
func (o *Outbox) Queued() int { return len(o.queue) - o.head }

// InFlight is the number of records held (queued or sent, not Done).
func (o *Outbox) InFlight() int { return o.inFlight }

// LogGate lets one log line per cause through per Every (one minute when
// zero), with time passed in. The zero LogGate is ready. Not safe for
// concurrent use.
type LogGate struct {
	Every time.Duration
	last  map[string]time.Time
}

// Allow says whether a line for cause may be logged at now, and if so
// remembers now for cause.
func (g *LogGate) Allow(cause string, now time.Time) bool {
	every := g.Every
	if every <= 0 {
		every = time.Minute
	}
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	if t, ok := g.last[cause]; ok && now.Sub(t) < every {
		return false
	}
	g.last[cause] = now
	return true
}
