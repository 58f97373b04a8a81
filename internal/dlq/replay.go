package dlq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater/breakwater/patterns/deadletter"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// To is the base URL the records go to: the record's path (with its
	// query) is appended to it. Required, http or https.
	To string
	// Group and Consumer of the consumer group. Zero: DefaultGroup, "replay".
	Group, Consumer string
	// Policy, when set, replays only that policy's records; the others the
	// run reads stay pending (not acknowledged, not sent) and a later run
	// claims them once idle for MinIdle.
	Policy string
	// Truncated: replay records marked truncated too (with the empty body
	// they carry). Zero: such records are skipped and stay where they are.
	Truncated bool
	// Count stops the run after that many replay attempts. 0: no limit.
	Count int
	// MinIdle: a pending record (a failed or interrupted replay) is claimed
	// again (XAUTOCLAIM) once idle that long. Zero is allowed (claim every
	// pending record at once).
	MinIdle time.Duration
	// Client sends the requests. Zero: an http.Client with a 10s timeout.
	Client *http.Client
	// Progress, when set, gets a line every ProgressEvery attempts and at
	// the end. ProgressEvery zero: 100.
	Progress      io.Writer
	ProgressEvery int
}

// ReplayResult counts one run.
type ReplayResult struct {
	// Attempted = Delivered + Failed.
	Attempted int
	// Delivered: answered 2xx and acknowledged (XACK).
	Delivered int
	// Failed: sent but not answered 2xx (or not sent: connection error);
	// they stay pending.
	Failed int
	// Skipped: read but left pending (another policy, a truncated record,
	// or an envelope that does not decode).
	Skipped int
	// Retried: attempts on records claimed again from the pending list.
	Retried int
}

func (r ReplayResult) String() string {
	return fmt.Sprintf("replay: %d attempted, %d delivered, %d failed (left pending), %d skipped, %d of them retries",
		r.Attempted, r.Delivered, r.Failed, r.Skipped, r.Retried)
}

// hopByHop and the headers a replay never copies from a record.
var notReplayed = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "te": true,
	"trailer": true, "upgrade": true, "content-length": true, "host": true, "idempotency-key": true,
	"expect": true,
}

// Replay sends the records of the stream to opts.To through the consumer
// group (created at the stream's start if absent): first the pending records
// idle for at least MinIdle (XAUTOCLAIM), then the new ones (XREADGROUP).
// Each record is sent once per run, as its method, path, headers (a
// redacted header is left out, as are hop-by-hop headers) and body, with
// Idempotency-Key: <record id> (or the key the original request carried,
// see IdempotencyKey). A 2xx acknowledges it (XACK); anything else
// leaves it pending. The run ends when no record is left or after Count
// attempts.
func (s *Stream) Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	base, err := url.Parse(o.To)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return res, fmt.Errorf("dlq: replay: --to must be an http(s) URL, got %q", o.To)
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.Consumer == "" {
		o.Consumer = "replay"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 100
	}
	if err := s.R.XGroupCreateMkStream(ctx, s.Name, o.Group, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return res, fmt.Errorf("dlq: replay: create group: %w", err)
	}
	done := func() bool { return o.Count > 0 && res.Attempted >= o.Count }
	// Each entry is handled once per run without remembering it: the
	// XAUTOCLAIM cursor passes each pending entry once, and XREADGROUP ">"
	// only returns entries never delivered to the group.
	handle := func(m redis.XMessage, retry bool) error {
		rec := decodeEntry(m)
		if rec.Err != nil || (o.Policy != "" && rec.Envelope.Policy != o.Policy) || (rec.Envelope.Truncated && !o.Truncated) {
			res.Skipped++
			return nil
		}
		res.Attempted++
		if retry {
			res.Retried++
		}
		if s.send(ctx, o, strings.TrimSuffix(base.String(), "/"), &rec.Envelope) {
			if err := s.R.XAck(ctx, s.Name, o.Group, m.ID).Err(); err != nil {
				return fmt.Errorf("dlq: replay: xack %s: %w", m.ID, err)
			}
			res.Delivered++
		} else {
			res.Failed++
		}
		if o.Progress != nil && res.Attempted%o.ProgressEvery == 0 {
			fmt.Fprintf(o.Progress, "replay: %d attempted (%d delivered, %d failed)\n", res.Attempted, res.Delivered, res.Failed)
		}
		return nil
	}
	// 1. Pending records idle long enough: failed or interrupted replays.
	start := "0-0"
	for !done() {
		count := int64(Batch)
		if o.Count > 0 {
			count = min(count, int64(o.Count-res.Attempted))
		}
		msgs, next, err := s.R.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.Name, Group: o.Group,
			MinIdle: o.MinIdle, Start: start, Count: count, Consumer: o.Consumer}).Result()
		if err != nil {
			return res, fmt.Errorf("dlq: replay: xautoclaim: %w", err)
		}
		for _, m := range msgs {
			if done() {
				break
			}
			if err := handle(m, true); err != nil {
				return res, err
			}
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	// 2. New records.
	for !done() {
		count := int64(Batch)
		if o.Count > 0 {
			count = min(count, int64(o.Count-res.Attempted))
		}
		streams, err := s.R.XReadGroup(ctx, &redis.XReadGroupArgs{Group: o.Group, Consumer: o.Consumer,
			Streams: []string{s.Name, ">"}, Count: count, Block: -1}).Result()
		if err == redis.Nil {
			break
		}
		if err != nil {
			return res, fmt.Errorf("dlq: replay: xreadgroup: %w", err)
		}
		n := 0
		for _, st := range streams {
			for _, m := range st.Messages {
				n++
				if err := handle(m, false); err != nil {
					return res, err
				}
			}
		}
		if n == 0 {
			break
		}
	}
	if o.Progress != nil {
		fmt.Fprintln(o.Progress, res)
	}
	return res, nil
}

// IdempotencyKey is the key a replay of e carries: the Idempotency-Key the
// original request carried (the client's own key for the operation, or the
// key of an earlier replay that failed again through the filter), else the
// record id.
func IdempotencyKey(e *deadletter.Envelope) string {
	if v, ok := e.Header("idempotency-key"); ok && v != "" && v != deadletter.RedactedValue {
		return v
	}
	return e.ID
}

// send replays one record; it reports a 2xx.
func (s *Stream) send(ctx context.Context, o ReplayOptions, base string, e *deadletter.Envelope) bool {
	req, err := http.NewRequestWithContext(ctx, e.Method, base+e.Path, bytes.NewReader(e.Body))
	if err != nil {
		return false
	}
	for _, h := range e.Headers {
		if h[1] == deadletter.RedactedValue || notReplayed[h[0]] {
			continue
		}
		req.Header.Add(h[0], h[1])
	}
	req.Header.Set("Idempotency-Key", IdempotencyKey(e))
	resp, err := o.Client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
