package devhost

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// LogEntry is one plugin log line (proxy_log) or one host report about a VM.
type LogEntry struct {
	Time    time.Time // on the host's Clock
	Worker  int       // worker (VM) index; -1 for the host itself
	Level   LogLevel
	Message string
	// Host marks lines written by the dev host (trap reports, VM
	// replacement), not by the plugin.
	Host bool
}

func (e LogEntry) String() string {
	src := "wasm log " + "vm" + fmt.Sprint(e.Worker)
	if e.Host {
		src = "devhost"
	}
	return fmt.Sprintf("[%s][%s] %s: %s", e.Time.UTC().Format("2006-01-02 15:04:05.000"), e.Level, src, e.Message)
}

// logStore keeps the last max entries and counts per level.
type logStore struct {
	mu      sync.Mutex
	max     int
	entries []LogEntry
	start   int // ring start when full
	counts  [LogCritical + 1]uint64
	w       io.Writer
}

func (l *logStore) add(e LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Level <= LogCritical {
		l.counts[e.Level]++
	}
	if len(l.entries) < l.max {
		l.entries = append(l.entries, e)
	} else {
		l.entries[l.start] = e
		l.start = (l.start + 1) % l.max
	}
	if l.w != nil {
		io.WriteString(l.w, strings.TrimRight(e.String(), "\n")+"\n")
	}
}

func (l *logStore) snapshot() []LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LogEntry, 0, len(l.entries))
	out = append(out, l.entries[l.start:]...)
	out = append(out, l.entries[:l.start]...)
	return out
}

// tailWriter keeps the last n bytes written (a VM's stderr, for trap reports)
// and forwards whole lines to a sink.
type tailWriter struct {
	mu   sync.Mutex
	buf  []byte
	n    int
	line []byte
	sink func(string)
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	if t.sink != nil {
		t.line = append(t.line, p...)
		for {
			i := strings.IndexByte(string(t.line), '\n')
			if i < 0 {
				break
			}
			t.sink(string(t.line[:i]))
			t.line = t.line[i+1:]
		}
		if len(t.line) > 4096 {
			t.sink(string(t.line))
			t.line = t.line[:0]
		}
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
