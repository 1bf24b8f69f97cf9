// Package clock is the one source of time for the engine and the simulator:
// real time, real time sped up by a factor (demo and pacing runs), or a fake
// clock that tests advance by hand.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and runs functions later. Every timer and timestamp
// of the engine and the simulator goes through one.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f once d of this clock's time has passed: in its own
	// goroutine on the real clocks, synchronously inside Advance on Fake.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the function from running; it reports whether it did so.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns the current wall-clock time.
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Scaled runs Factor times faster than real time: one real second is Factor
// seconds of this clock. It starts at the real time of its creation.
type Scaled struct {
	factor    float64
	realStart time.Time
	start     time.Time
}

// NewScaled returns a clock running factor times faster than real time.
// A factor of 1 or less than 1 is allowed (slower than real time).
func NewScaled(factor float64) *Scaled {
	if factor <= 0 {
		factor = 1
	}
	now := time.Now()
	return &Scaled{factor: factor, realStart: now, start: now}
}

// Factor is the speed-up over real time.
func (s *Scaled) Factor() float64 { return s.factor }

// Now returns the scaled time.
func (s *Scaled) Now() time.Time {
	elapsed := time.Since(s.realStart)
	return s.start.Add(time.Duration(float64(elapsed) * s.factor))
}

// AfterFunc runs f after d of scaled time.
func (s *Scaled) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(time.Duration(float64(d)/s.factor), f)
}

// Sleep waits for d of c's time or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	done := make(chan struct{})
	t := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// Ticker sends on C every period of c's time until Stop. Ticks that find the
// channel full are dropped, as with time.Ticker.
type Ticker struct {
	C      <-chan time.Time
	c      chan time.Time
	clock  Clock
	period time.Duration
	mu     sync.Mutex
	timer  Timer
	done   bool
}

// NewTicker starts a ticker on c.
func NewTicker(c Clock, period time.Duration) *Ticker {
	ch := make(chan time.Time, 1)
	t := &Ticker{C: ch, c: ch, clock: c, period: period}
	t.schedule()
	return t
}

func (t *Ticker) schedule() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.timer = t.clock.AfterFunc(t.period, t.fire)
}

func (t *Ticker) fire() {
	select {
	case t.c <- t.clock.Now():
	default:
	}
	t.schedule()
}

// Stop ends the ticker; no tick is sent after Stop returns.
func (t *Ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	if t.timer != nil {
		t.timer.Stop()
	}
}
