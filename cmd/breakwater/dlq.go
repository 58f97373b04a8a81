package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/breakwater/breakwater/internal/dlq"
)

const dlqUsage = `usage: breakwater dlq COMMAND [FLAGS]   (dead letters on a Redis Stream)
  serve   [--redis URL] [--stream NAME] [--listen ADDR] [--maxlen N]
          accept the filter's records (POST /records): 201 stored, 400 invalid
  list    [--redis URL] [--stream NAME] [--policy P] [--reason R] [--method M]
          [--state new|pending|acked] [--since T] [--until T] [--count N]
          (T: RFC 3339, or a duration ago like 15m)
  replay  --to URL [--redis URL] [--stream NAME] [--policy P] [--count N]
          [--min-idle 30s] [--timeout 10s] [--group G] [--consumer C] [--truncated]
          send records again (Idempotency-Key: <record id>); XACK after a 2xx only
  purge   [--redis URL] [--stream NAME]   delete the records acknowledged by every group
Defaults: --redis ` + dlq.DefaultRedis + ` --stream ` + dlq.DefaultStream + `
`

// dlqEnv lets a test run dlq serve in-process (as serveEnv does for serve).
type dlqEnv struct {
	signals <-chan os.Signal
	ready   func(addr string)
}

func runDLQ(args []string, stdout, stderr io.Writer) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	return runDLQEnv(args, stdout, stderr, dlqEnv{signals: sig})
}

func runDLQEnv(args []string, stdout, stderr io.Writer, env dlqEnv) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("dlq "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dlqUsage) }
	redisURL := fs.String("redis", dlq.DefaultRedis, "Redis URL")
	stream := fs.String("stream", dlq.DefaultStream, "stream name")
	ctx := context.Background()
	switch args[0] {
	case "serve":
		listen := fs.String("listen", "127.0.0.1:8090", "listen address")
		maxLen := fs.Int64("maxlen", dlq.DefaultMaxLen, "approximate cap on the stream length (XADD MAXLEN ~); 0: none")
		if fs.Parse(args[1:]) != nil || fs.NArg() > 0 {
			return exitUsage
		}
		s, err := dlq.Open(ctx, *redisURL, *stream, *maxLen)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq serve: %v\n", err)
			return exitInvalid
		}
		defer s.Close()
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq serve: %v\n", err)
			return exitInvalid
		}
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		fmt.Fprintf(stdout, "dlq: accepting records on http://%s/records, stream %s (maxlen ~%d)\n", ln.Addr(), *stream, *maxLen)
		if env.ready != nil {
			env.ready(ln.Addr().String())
		}
		select {
		case <-env.signals:
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(stderr, "breakwater: dlq serve: %v\n", err)
				return exitInvalid
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return exitOK
	case "list":
		var f dlq.Filter
		fs.StringVar(&f.Policy, "policy", "", "only this policy")
		fs.StringVar(&f.Reason, "reason", "", "only this reason")
		fs.StringVar(&f.Method, "method", "", "only this method")
		fs.StringVar(&f.State, "state", "", "only this state: new, pending, acked")
		count := fs.Int("count", 0, "at most N records (0: all)")
		since := fs.String("since", "", "records at or after T (RFC 3339, or a duration ago)")
		until := fs.String("until", "", "records before T (RFC 3339, or a duration ago)")
		if fs.Parse(args[1:]) != nil || fs.NArg() > 0 {
			return exitUsage
		}
		var err error
		if f.Since, err = parseWhen(*since, time.Now()); err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq list: --since: %v\n", err)
			return exitUsage
		}
		if f.Until, err = parseWhen(*until, time.Now()); err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq list: --until: %v\n", err)
			return exitUsage
		}
		s, err := dlq.Open(ctx, *redisURL, *stream, 0)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq list: %v\n", err)
			return exitInvalid
		}
		defer s.Close()
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tPOLICY\tREASON\tMETHOD\tPATH\tSTATUS\tSTATE\tID")
		n := 0
		err = s.List(ctx, f, *count, func(r dlq.Record) {
			n++
			if r.Err != nil {
				fmt.Fprintf(tw, "-\t-\t-\t-\t-\t-\t%s\t(entry %s: %v)\n", r.State, r.Entry, r.Err)
				return
			}
			e := r.Envelope
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Policy, e.Reason, e.Method, e.Path, e.Status, r.State, e.ID)
		})
		tw.Flush()
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq list: %v\n", err)
			return exitInvalid
		}
		fmt.Fprintf(stdout, "%d records\n", n)
		return exitOK
	case "replay":
		var o dlq.ReplayOptions
		fs.StringVar(&o.To, "to", "", "base URL of the upstream (required)")
		fs.StringVar(&o.Policy, "policy", "", "only this policy's records")
		fs.IntVar(&o.Count, "count", 0, "at most N replays (0: all)")
		fs.DurationVar(&o.MinIdle, "min-idle", 30*time.Second, "retry a pending (failed) record once idle this long")
		fs.StringVar(&o.Group, "group", dlq.DefaultGroup, "consumer group")
		fs.StringVar(&o.Consumer, "consumer", "replay", "consumer name")
		fs.BoolVar(&o.Truncated, "truncated", false, "replay records without their body too")
		timeout := fs.Duration("timeout", 10*time.Second, "timeout of one replayed request")
		if fs.Parse(args[1:]) != nil || fs.NArg() > 0 {
			return exitUsage
		}
		if o.To == "" {
			fmt.Fprintln(stderr, "breakwater: dlq replay: --to URL is required")
			return exitUsage
		}
		s, err := dlq.Open(ctx, *redisURL, *stream, 0)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq replay: %v\n", err)
			return exitInvalid
		}
		defer s.Close()
		o.Client = &http.Client{Timeout: *timeout}
		o.Progress = stdout
		res, err := s.Replay(ctx, o)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq replay: %v\n", err)
			return exitInvalid
		}
		if res.Failed > 0 {
			return exitInvalid
		}
		return exitOK
	case "purge":
		if fs.Parse(args[1:]) != nil || fs.NArg() > 0 {
			return exitUsage
		}
		s, err := dlq.Open(ctx, *redisURL, *stream, 0)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq purge: %v\n", err)
			return exitInvalid
		}
		defer s.Close()
		n, err := s.Purge(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: dlq purge: %v\n", err)
			return exitInvalid
		}
		fmt.Fprintf(stdout, "purge: %d acknowledged records removed\n", n)
		return exitOK
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, dlqUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "breakwater: dlq: unknown command %q\n", args[0])
	fmt.Fprint(stderr, dlqUsage)
	return exitUsage
}

// parseWhen reads an instant: RFC 3339, or a duration before now ("15m");
// "" is the zero time (no bound).
func parseWhen(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time or a positive duration ago, got %q", v)
	}
	return now.Add(-d), nil
}
