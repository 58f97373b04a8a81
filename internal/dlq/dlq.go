package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater/breakwater/patterns/deadletter"
)

// Defaults of the command line.
const (
	DefaultRedis  = "redis://127.0.0.1:6379/0"
	DefaultStream = "breakwater:dlq"
	DefaultGroup  = "breakwater-replay"
	DefaultMaxLen = 1_000_000
	// Batch is the number of records read per Redis round trip.
	Batch = 100
)

// Stream is one dead-letter stream on one Redis.
type Stream struct {
	R    *redis.Client
	Name string
	// MaxLen caps the stream approximately (XADD MAXLEN ~); 0: no cap.
	MaxLen int64
}

// Open connects to the Redis of url (redis://host:port/db) and checks it
// answers.
func Open(ctx context.Context, url, stream string, maxLen int64) (*Stream, error) {
	if stream == "" {
		return nil, errors.New("dlq: stream name is empty")
	}
	if maxLen < 0 {
		return nil, fmt.Errorf("dlq: maxlen must be >= 0, got %d", maxLen)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("dlq: redis url: %w", err)
	}
	r := redis.NewClient(opt)
	if err := r.Ping(ctx).Err(); err != nil {
		r.Close()
		return nil, fmt.Errorf("dlq: redis %s: %w", opt.Addr, err)
	}
	return &Stream{R: r, Name: stream, MaxLen: maxLen}, nil
}

// Close closes the connection pool.
func (s *Stream) Close() error { return s.R.Close() }

// Add validates one encoded envelope and appends it; it returns the stream
// entry id. An invalid envelope is an *InvalidError and is not stored.
func (s *Stream) Add(ctx context.Context, data []byte) (string, error) {
	e, err := deadletter.Decode(data)
	if err != nil {
		return "", &InvalidError{err}
	}
	args := &redis.XAddArgs{Stream: s.Name, Values: []any{
		"id", e.ID, "policy", e.Policy, "reason", e.Reason, "envelope", string(data)}}
	if s.MaxLen > 0 {
		args.MaxLen, args.Approx = s.MaxLen, true
	}
	return s.R.XAdd(ctx, args).Result()
}

// InvalidError is an envelope the sink refuses.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Handler is the sink's HTTP interface:
//
//	POST /records   one envelope: 201 stored, 400 invalid (not stored),
//	                413 too large, 503 Redis failed
//	GET  /healthz   200 when Redis answers a PING, 503 otherwise
func (s *Stream) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /records", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(io.LimitReader(r.Body, deadletter.MaxEnvelopeBytes+1))
		if err != nil {
			http.Error(w, "dlq: cannot read body", http.StatusBadRequest)
			return
		}
		if len(data) > deadletter.MaxEnvelopeBytes {
			http.Error(w, "dlq: envelope too large", http.StatusRequestEntityTooLarge)
			return
		}
		id, err := s.Add(r.Context(), data)
		var inv *InvalidError
		switch {
		case errors.As(err, &inv):
			http.Error(w, inv.Error(), http.StatusBadRequest)
		case err != nil:
			http.Error(w, "dlq: redis: "+err.Error(), http.StatusServiceUnavailable)
		default:
			w.Header().Set("Location", "/records/"+id)
			w.WriteHeader(http.StatusCreated)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.R.Ping(r.Context()).Err(); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// Record is one stream entry with its envelope and state.
type Record struct {
	Entry    string // stream entry id
	Envelope deadletter.Envelope
	State    string // "new", "pending" or "acked" (see doc.go)
	Err      error  // the entry's envelope could not be decoded
}

func decodeEntry(m redis.XMessage) Record {
	rec := Record{Entry: m.ID}
	raw, _ := m.Values["envelope"].(string)
	rec.Envelope, rec.Err = deadletter.Decode([]byte(raw))
	return rec
}

// compareID orders stream entry ids "ms-seq".
func compareID(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

// groups returns the consumer groups of the stream (none when the stream
// does not exist).
func (s *Stream) groups(ctx context.Context) ([]redis.XInfoGroup, error) {
	gs, err := s.R.XInfoGroups(ctx, s.Name).Result()
	if err != nil && strings.Contains(err.Error(), "no such key") {
		return nil, nil
	}
	return gs, err
}

// states computes the state of each entry of one batch (ids ascending).
func (s *Stream) states(ctx context.Context, gs []redis.XInfoGroup, batch []redis.XMessage) ([]string, error) {
	out := make([]string, len(batch))
	if len(batch) == 0 {
		return out, nil
	}
	if len(gs) == 0 {
		for i := range out {
			out[i] = "new"
		}
		return out, nil
	}
	first, last := batch[0].ID, batch[len(batch)-1].ID
	pending := map[string]bool{}
	for _, g := range gs {
		// Page through the group's pending entries of the batch's range (it
		// may also hold entries deleted from the stream).
		start, count := first, int64(len(batch))
		for {
			ps, err := s.R.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.Name, Group: g.Name,
				Start: start, End: last, Count: count}).Result()
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				pending[p.ID] = true
			}
			if int64(len(ps)) < count {
				break
			}
			start = "(" + ps[len(ps)-1].ID
		}
	}
	for i, m := range batch {
		st := "acked"
		for _, g := range gs {
			if compareID(m.ID, g.LastDeliveredID) > 0 {
				st = "new"
			}
		}
		if pending[m.ID] {
			st = "pending"
		}
		out[i] = st
	}
	return out, nil
}

// Filter selects records; zero fields select everything.
type Filter struct {
	Policy, Reason, Method, State string
	// Since and Until bound the record's time (inclusive, exclusive).
	Since, Until time.Time
}

func (f Filter) match(r Record) bool {
	e := r.Envelope
	return (f.Policy == "" || e.Policy == f.Policy) && (f.Reason == "" || e.Reason == f.Reason) &&
		(f.Method == "" || strings.EqualFold(e.Method, f.Method)) && (f.State == "" || r.State == f.State) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) && (f.Until.IsZero() || e.Time.Before(f.Until))
}

// List calls fn for each record selected by f, oldest first, at most limit
// of them (0: all).
func (s *Stream) List(ctx context.Context, f Filter, limit int, fn func(Record)) error {
	gs, err := s.groups(ctx)
	if err != nil {
		return err
	}
	n := 0
	start := "-"
	for {
		batch, err := s.R.XRangeN(ctx, s.Name, start, "+", Batch).Result()
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		states, err := s.states(ctx, gs, batch)
		if err != nil {
			return err
		}
		for i, m := range batch {
			rec := decodeEntry(m)
			rec.State = states[i]
			if !f.match(rec) {
				continue
			}
			fn(rec)
			if n++; limit > 0 && n >= limit {
				return nil
			}
		}
		start = "(" + batch[len(batch)-1].ID
	}
}

// Purge deletes the records acknowledged in every group of the stream and
// returns how many it deleted. With no group, nothing is acknowledged.
func (s *Stream) Purge(ctx context.Context) (int, error) {
	gs, err := s.groups(ctx)
	if err != nil || len(gs) == 0 {
		return 0, err
	}
	end := gs[0].LastDeliveredID
	for _, g := range gs[1:] {
		if compareID(g.LastDeliveredID, end) < 0 {
			end = g.LastDeliveredID
		}
	}
	deleted := 0
	start := "-"
	for {
		batch, err := s.R.XRangeN(ctx, s.Name, start, end, Batch).Result()
		if err != nil {
			return deleted, err
		}
		if len(batch) == 0 {
			return deleted, nil
		}
		states, err := s.states(ctx, gs, batch)
		if err != nil {
			return deleted, err
		}
		var ids []string
		for i, m := range batch {
			if states[i] == "acked" {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) > 0 {
			n, err := s.R.XDel(ctx, s.Name, ids...).Result()
			deleted += int(n)
			if err != nil {
				return deleted, err
			}
		}
		start = "(" + batch[len(batch)-1].ID
	}
}
