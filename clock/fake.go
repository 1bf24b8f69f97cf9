package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a clock for tests: time stands still until Advance or Set moves it,
// and then the functions that fell due run, in order of their due time.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

type fakeTimer struct {
	f       *Fake
	due     time.Time
	seq     uint64
	fn      func()
	stopped bool
}

// NewFake returns a fake clock reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc registers fn to run when the fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{f: f, due: f.now.Add(d), seq: f.seq, fn: fn}
	f.timers = append(f.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	for i, x := range t.f.timers {
		if x == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d, running every function that falls
// due on the way, each synchronously and with the clock set to its due time.
func (f *Fake) Advance(d time.Duration) {
	f.Set(f.Now().Add(d))
}

// Set moves the clock to t (never backwards), running due functions in order.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		sort.SliceStable(f.timers, func(i, j int) bool {
			if f.timers[i].due.Equal(f.timers[j].due) {
				return f.timers[i].seq < f.timers[j].seq
			}
			return f.timers[i].due.Before(f.timers[j].due)
		})
		if len(f.timers) == 0 || f.timers[0].due.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		next := f.timers[0]
		f.timers = f.timers[1:]
		next.stopped = true
		if next.due.After(f.now) {
			f.now = next.due
		}
		f.mu.Unlock()
		next.fn()
	}
}

// Pending reports how many functions wait to run.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}
