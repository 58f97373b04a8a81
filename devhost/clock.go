package devhost

import (
	"sort"
	"sync"
	"time"
)

// Clock is the plugin's time source: the WASI clocks (clock_time_get and the
// sleeps of poll_oneoff), proxy_get_current_time_nanoseconds, the tick timers
// and the request.time property all read it.
type Clock interface {
	// Now is the current instant.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (RealClock) or from the goroutine
	// that moves time past the deadline (ManualClock) once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
	// Sleep blocks (RealClock) or moves time forward (ManualClock) by d. It
	// backs WASI poll_oneoff clock subscriptions.
	Sleep(d time.Duration)
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Sleep implements Clock.
func (RealClock) Sleep(d time.Duration) { time.Sleep(d) }

// ManualClock is a clock that only moves when told to. Timers fire in
// deadline order as time passes them; Advance fires them synchronously in the
// caller's goroutine, so when Advance returns every tick that was due has been
// delivered to its VM. Safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*manualTimer
}

type manualTimer struct {
	c        *ManualClock
	deadline time.Time
	seq      uint64
	f        func()
	pending  bool
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock. d <= 0 fires at the next Advance (even by 0).
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{c: c, deadline: c.now.Add(d), seq: c.seq, f: f, pending: true}
	c.timers = append(c.timers, t)
	return t
}

// Stop implements Timer.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.pending {
		return false
	}
	t.pending = false
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// Advance moves time forward by d, firing every timer whose deadline is
// reached, in deadline order, with Now() equal to that deadline while it runs.
// Timers created by the callbacks fire too if they fall within the advance.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		t := c.popDue(target)
		if t == nil {
			break
		}
		t.f()
	}
	c.mu.Lock()
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// popDue removes and returns the earliest pending timer due at or before
// target, moving now to its deadline; nil when none.
func (c *ManualClock) popDue(target time.Time) *manualTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return nil
	}
	sort.Slice(c.timers, func(i, j int) bool {
		a, b := c.timers[i], c.timers[j]
		if !a.deadline.Equal(b.deadline) {
			return a.deadline.Before(b.deadline)
		}
		return a.seq < b.seq
	})
	t := c.timers[0]
	if t.deadline.After(target) {
		return nil
	}
	c.timers = c.timers[1:]
	t.pending = false
	if t.deadline.After(c.now) {
		c.now = t.deadline
	}
	return t
}

// Sleep implements Clock: a guest that sleeps moves test time forward by d,
// as if it had waited. Timers that become due fire in new goroutines (the
// sleeper may hold a VM that a timer needs).
func (c *ManualClock) Sleep(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		t := c.popDue(target)
		if t == nil {
			break
		}
		go t.f()
	}
	c.mu.Lock()
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// Pending is the number of timers waiting to fire.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
