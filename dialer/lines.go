package dialer

import (
	"sync"
	"sync/atomic"
)

// lines share the gateways between this dialer's campaigns by priority. A
// campaign that finds a gateway full waits on it; until it has been served,
// campaigns of lower priority leave the lines it frees alone. Otherwise a
// line freed between the turns of two campaigns would go to whichever
// asked next.
type lines struct {
	mu       sync.Mutex
	waiting  map[string]map[*runner]int64 // gateway -> runner -> priority
	released atomic.Uint64                // lines freed so far
}

func newLines() *lines { return &lines{waiting: map[string]map[*runner]int64{}} }

// outranked reports whether a campaign of higher priority waits on gw.
func (l *lines) outranked(gw string, r *runner, prio int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for other, p := range l.waiting[gw] {
		if other != r && p > prio {
			return true
		}
	}
	return false
}

// want records that r waits on a full gateway; got that it was served.
func (l *lines) want(gw string, r *runner, prio int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[gw] == nil {
		l.waiting[gw] = map[*runner]int64{}
	}
	l.waiting[gw][r] = prio
}

func (l *lines) got(gw string, r *runner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiting[gw], r)
}

// drop forgets everything r waited on (it has nothing to dial, or stopped).
func (l *lines) drop(r *runner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.waiting {
		delete(w, r)
	}
}

// release counts a freed line; freed reports the count.
func (l *lines) release()      { l.released.Add(1) }
func (l *lines) freed() uint64 { return l.released.Load() }
