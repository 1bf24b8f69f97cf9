package hooks

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/store"
)

// lane delivers one campaign's outbox to one hook, while it holds the
// lane's lease.
type lane struct {
	d        *Dispatcher
	campaign string
	hookID   string
	hook     atomic.Pointer[store.Hook] // replaced when the hook is edited
	ctx      context.Context
	cancel   context.CancelFunc
	wake     chan struct{}
	oldest   atomic.Int64 // time (ms) of the oldest unfinished event read; 0: none
	// leaseUntil is when the lease lapses (ms, the dispatcher's clock): a
	// request starts only if it ends before then.
	leaseUntil atomic.Int64

	mu       sync.Mutex
	finished map[string]bool // event ids finished lately: a resent append is sent once
	order    []string        // finished's ids, oldest first, to bound it
	problem  string          // the last error logged, so that a lasting one is logged once
}

// recentIDs bounds the ids a lane remembers for de-duplication.
const recentIDs = 4096

func newLane(ctx context.Context, d *Dispatcher, k laneKey, h *store.Hook) *lane {
	l := &lane{d: d, campaign: k.campaign, hookID: k.hook, wake: make(chan struct{}, 1), finished: map[string]bool{}}
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.hook.Store(h)
	return l
}

func (l *lane) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *lane) stop() { l.cancel() }

// item is one outbox entry a lane holds.
type item struct {
	entry store.OutboxEntry
	ev    Event
	bad   error // the entry is not an event
	key   string
	done  bool
}

// result is a worker's verdict on an item.
type result struct {
	it       *item
	finished bool
}

// leaseFor is how long a lease lasts past a renewal: long enough for a
// request started just before it to end.
func (l *lane) leaseFor() time.Duration {
	return l.d.cfg.LeaseTTL + seconds(l.hook.Load().Timeout)
}

// run acquires the lane's lease and serves it until stopped, taking it
// again whenever it is lost.
func (l *lane) run() {
	ctx := l.ctx
	defer l.cancel()
	d := l.d
	for ctx.Err() == nil {
		r := store.Runner{Instance: d.cfg.Instance, Token: store.NewToken()}
		now := d.clock.Now()
		until := now.Add(l.leaseFor())
		p, ok, err := d.st.AcquireOutboxLane(ctx, l.campaign, l.hookID, r, now, until)
		switch {
		case err != nil:
			l.report("acquiring the lane", err)
		case ok:
			l.report("", nil)
			l.leaseUntil.Store(until.UnixMilli())
			l.serve(ctx, r, p)
			continue
		}
		l.pause(ctx, d.cfg.Poll)
	}
}

// pause waits d, a poke, or the end.
func (l *lane) pause(ctx context.Context, d time.Duration) {
	done := make(chan struct{})
	t := l.d.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
	case <-l.wake:
	case <-ctx.Done():
	}
}

// report logs an error once while it lasts (err nil: it is over).
func (l *lane) report(what string, err error) {
	msg := ""
	if err != nil {
		msg = what + ": " + err.Error()
	}
	l.mu.Lock()
	changed := msg != l.problem
	l.problem = msg
	l.mu.Unlock()
	if changed && err != nil {
		l.d.log.Warn("webhooks: "+what, "hook", l.hookID, "campaign", l.campaign, "err", err)
	}
}

// serve delivers while r holds the lease: it reads entries after the
// progress, hands each to the worker of its member, records progress as
// items finish, and renews the lease. It returns when ctx ends (after
// letting requests in flight finish and releasing the lease) or when the
// lease is lost.
func (l *lane) serve(ctx context.Context, r store.Runner, p store.OutboxProgress) {
	d := l.d
	sctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	results := make(chan result, d.cfg.Window)
	queues := make([]chan *item, d.cfg.Parallel)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan *item, d.cfg.Window)
		workers.Add(1)
		go func(q <-chan *item) {
			defer workers.Done()
			for it := range q {
				results <- result{it: it, finished: l.deliver(sctx, it)}
			}
		}(queues[i])
	}
	doneAbove := make(map[string]bool, len(p.Done))
	for _, id := range p.Done {
		doneAbove[id] = true
	}
	var pending []*item
	readPos, saved := p.Cursor, p.String()
	nextRenew := d.clock.Now().Add(d.cfg.LeaseTTL / 3)
	idle := d.cfg.Poll // the wait for new events, doubled while none come
	lost := false

	// save records the finished prefix and the finished items after it.
	save := func(ctx context.Context) {
		i := 0
		for i < len(pending) && pending[i].done {
			p.Cursor = pending[i].entry.ID
			i++
		}
		pending = pending[i:]
		p.Done = p.Done[:0]
		oldest := int64(0)
		for _, it := range pending {
			switch {
			case it.done:
				p.Done = append(p.Done, it.entry.ID)
			case oldest == 0:
				oldest = max(it.ev.Time, 1)
			}
		}
		l.oldest.Store(oldest)
		if s := p.String(); s != saved {
			ok, err := d.st.SaveOutboxProgress(ctx, l.campaign, l.hookID, r, p)
			switch {
			case err != nil:
				l.report("saving progress", err) // kept in memory; saved with the next change
			case !ok:
				lost = true
			default:
				l.report("", nil)
				saved = s
			}
		}
	}
	finish := func(res result) {
		if res.finished {
			res.it.done = true
		}
	}

	for !lost && ctx.Err() == nil {
		if room := d.cfg.Window - len(pending); room > 0 {
			entries, err := d.st.ReadOutbox(ctx, l.campaign, readPos, room)
			if err != nil {
				l.report("reading the outbox", err)
			}
			if len(entries) > 0 || len(pending) > 0 {
				idle = d.cfg.Poll
			} else {
				// A campaign that is not dialing is looked at less and less
				// often; Notify wakes its lanes when events come.
				idle = min(2*idle, max(d.cfg.Refresh, d.cfg.Poll))
			}
			for _, e := range entries {
				readPos = e.ID
				it := newItem(e)
				pending = append(pending, it)
				if doneAbove[e.ID] {
					it.done = true
					delete(doneAbove, e.ID)
					continue
				}
				queues[partition(it.key, len(queues))] <- it
			}
			if len(entries) == room {
				l.poke() // more may wait: read again once this batch is under way
			}
		}
		save(ctx)
		if lost {
			break
		}
		wait := idle
		if len(pending) > 0 {
			wait = d.cfg.Poll
		}
		wait = min(wait, nextRenew.Sub(d.clock.Now()))
		timer := make(chan struct{})
		var t clock.Timer = stopped{}
		if wait > 0 {
			t = d.clock.AfterFunc(wait, func() { close(timer) })
		} else {
			close(timer)
		}
		select {
		case res := <-results:
			finish(res)
			for more := true; more; {
				select {
				case res := <-results:
					finish(res)
				default:
					more = false
				}
			}
		case <-l.wake:
			idle = d.cfg.Poll
		case <-timer:
		case <-ctx.Done():
		}
		t.Stop()
		if now := d.clock.Now(); !lost && !now.Before(nextRenew) && ctx.Err() == nil {
			until := now.Add(l.leaseFor())
			ok, err := d.st.RenewOutboxLane(ctx, l.campaign, l.hookID, r, now, until)
			switch {
			case err != nil:
				l.report("renewing the lease", err)
				// Requests stop starting as the lease runs out (deliver checks
				// it); past it the lane is another's to take.
				lost = now.UnixMilli() >= l.leaseUntil.Load()
				nextRenew = now.Add(d.cfg.Poll)
			case !ok:
				lost = true
			default:
				l.leaseUntil.Store(until.UnixMilli())
				nextRenew = now.Add(d.cfg.LeaseTTL / 3)
			}
		}
	}
	if lost {
		d.log.Info("webhooks: lane lost its lease", "hook", l.hookID, "campaign", l.campaign)
	}
	// Workers stop between tries; a request in flight ends by itself.
	stopWorkers()
	for _, q := range queues {
		close(q)
	}
	go func() {
		workers.Wait()
		close(results)
	}()
	for res := range results {
		finish(res)
	}
	l.oldest.Store(0)
	if lost {
		return
	}
	// ctx is over: the last progress and the release use their own.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	save(bg)
	if !lost {
		if err := d.st.ReleaseOutboxLane(bg, l.campaign, l.hookID, r); err != nil {
			d.log.Warn("webhooks: releasing the lane", "hook", l.hookID, "campaign", l.campaign, "err", err)
		}
	}
}

func newItem(e store.OutboxEntry) *item {
	it := &item{entry: e}
	if err := json.Unmarshal(e.Body, &it.ev); err != nil {
		it.bad = err
	} else if it.ev.ID == "" || it.ev.Event == "" {
		it.bad = errNotEvent
	}
	// One member's events share a worker, so they go in the order written.
	switch {
	case it.ev.Member != "":
		it.key = "m:" + it.ev.Member
	case it.ev.Attempt != "":
		it.key = "a:" + it.ev.Attempt
	default:
		it.key = "e:" + e.ID
	}
	return it
}

func partition(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// finishedID reports whether an event id was finished lately.
func (l *lane) finishedID(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.finished[id]
}

// markFinished remembers an event id as finished (delivered or dropped).
func (l *lane) markFinished(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished[id] {
		return
	}
	l.finished[id] = true
	l.order = append(l.order, id)
	if len(l.order) > recentIDs {
		delete(l.finished, l.order[0])
		l.order = l.order[1:]
	}
}

// stopped is a timer that never ran.
type stopped struct{}

func (stopped) Stop() bool { return false }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
