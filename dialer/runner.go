package dialer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/fifo"
	"github.com/fsdialer/fsdialer/store"
)

// inboxItem is an event for one of the runner's calls, or a node's state.
type inboxItem struct {
	event     *esl.Event
	node      string
	connected bool
}

// runner runs one campaign. Its goroutine owns the campaign's calls; the
// engine talks to it through the inbox, offers to dial and updates.
type runner struct {
	e        *Engine
	id       string
	lease    store.Runner
	priority int64 // read by the scheduler; written only before the goroutine starts or under updMu
	inbox    *fifo.Queue[inboxItem]
	dialReq  chan chan struct{}
	syncReq  chan chan struct{}
	exited   chan struct{}
	inFlight atomic.Int64
	stopping atomic.Bool // the campaign stopped: no originate may start

	updMu   sync.Mutex
	update  *store.Campaign // the newest campaign document (nil: none pending)
	deleted bool
	updated chan struct{}

	// Owned by the run goroutine.
	camp     *store.Campaign
	rules    *rules
	router   *router
	calls    map[string]*call
	pending  []pendingClose
	dialing  bool
	troubled time.Time // when Redis last failed: dialing pauses a while
	blocked  uint64    // lines freed when the lines were last full (0: not blocked)
	blockAt  time.Time
	last     map[string]time.Time
	resetDay string
}

type pendingClose struct {
	c *call
	o outcome
}

func newRunner(ctx context.Context, e *Engine, c *store.Campaign, lease store.Runner) (*runner, error) {
	r := &runner{
		e: e, id: c.ID, lease: lease, priority: int64(c.Priority),
		inbox: fifo.New[inboxItem](), dialReq: make(chan chan struct{}), syncReq: make(chan chan struct{}), exited: make(chan struct{}),
		updated: make(chan struct{}, 1), calls: map[string]*call{}, last: map[string]time.Time{},
	}
	if err := r.setCampaign(ctx, c); err != nil {
		return nil, err
	}
	return r, nil
}

// setCampaign prepares the rules of a campaign document.
func (r *runner) setCampaign(ctx context.Context, c *store.Campaign) error {
	if err := c.Validate(); err != nil {
		// stored before a check the API now makes: never dialed as it is
		return fmt.Errorf("campaign %s: %w", c.ID, err)
	}
	sched := AlwaysOpen
	if c.Calendar.ID != "" {
		cal, err := r.e.st.GetCalendar(ctx, c.Calendar.ID)
		if err != nil {
			return err
		}
		if sched, err = NewSchedule(cal); err != nil {
			return err
		}
	}
	rt, err := newRouter(c)
	if err != nil {
		return err
	}
	r.camp, r.router, r.rules = c, rt, newRules(c, sched)
	r.dialing = c.State == store.StateRunning && supported(c.Type)
	atomic.StoreInt64(&r.priority, int64(c.Priority))
	return nil
}

// notify hands the runner a newer campaign document (nil: deleted).
func (r *runner) notify(c *store.Campaign) {
	r.updMu.Lock()
	r.stopping.Store(c == nil || c.State != store.StateRunning)
	if c == nil {
		r.deleted = true
	} else {
		r.update = c
		atomic.StoreInt64(&r.priority, int64(c.Priority))
	}
	r.updMu.Unlock()
	signal(r.updated)
}

func (r *runner) applyUpdate(ctx context.Context) {
	r.updMu.Lock()
	c, deleted := r.update, r.deleted
	r.update = nil
	r.updMu.Unlock()
	if deleted {
		r.dialing = false
		return
	}
	if c == nil {
		return
	}
	// Read again even when the campaign is the same: its calendar may
	// have changed.
	if err := r.setCampaign(ctx, c); err != nil {
		r.e.log.Error("dialer: campaign update not applied", "campaign", r.id, "error", err)
	}
}

// offerDial lets the runner dial now and waits until it has.
func (r *runner) offerDial(ctx context.Context) { r.request(ctx, r.dialReq) }

// settle waits until the runner has applied the updates handed to it (and
// finished any dial it was in).
func (r *runner) settle(ctx context.Context) { r.request(ctx, r.syncReq) }

func (r *runner) request(ctx context.Context, ch chan chan struct{}) {
	done := make(chan struct{})
	select {
	case ch <- done:
	case <-ctx.Done():
		return
	case <-r.exited:
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-r.exited:
	}
}

func (r *runner) run(ctx context.Context) {
	defer close(r.exited)
	defer r.forgetAll()
	r.reconcile(ctx)
	hk := clock.NewTicker(r.e.clock, time.Second)
	defer hk.Stop()
	var buf []inboxItem
	for {
		select {
		case <-ctx.Done():
			return
		case done := <-r.dialReq:
			r.dial(ctx)
			close(done)
		case done := <-r.syncReq:
			r.applyUpdate(ctx)
			close(done)
		case <-r.inbox.Ready():
			buf = r.drainInbox(ctx, buf)
		case <-r.updated:
			r.applyUpdate(ctx)
		case <-hk.C:
			r.housekeep(ctx)
		}
		if !r.dialing && len(r.calls) == 0 && len(r.pending) == 0 {
			r.e.log.Info("dialer: campaign runner stopped", "campaign", r.id, "state", r.camp.State)
			return
		}
	}
}

func (r *runner) now() time.Time { return r.e.clock.Now() }

// drainInbox handles the events and state changes waiting for the runner;
// buf is reused between calls.
func (r *runner) drainInbox(ctx context.Context, buf []inboxItem) []inboxItem {
	items := r.inbox.TryTake(buf)
	for i := range items {
		r.handle(ctx, items[i])
		items[i] = inboxItem{}
	}
	return items
}

func (r *runner) prio() int64 { return atomic.LoadInt64(&r.priority) }

// every runs f at most once per period, by the engine's clock.
func (r *runner) every(name string, period time.Duration, f func()) {
	now := r.now()
	if last, ok := r.last[name]; ok && now.Sub(last) < period {
		return
	}
	r.last[name] = now
	f()
}

// storeFailed notes that Redis failed; dialing pauses while it does.
func (r *runner) storeFailed(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return // shutting down
	}
	r.troubled = r.now()
	r.e.log.Warn("dialer: store unavailable", "campaign", r.id, "op", op, "error", err)
}

func (r *runner) storeOK() bool {
	return r.troubled.IsZero() || r.now().Sub(r.troubled) > 2*time.Second
}

// dial places as many calls as the campaign's limit and the lines allow.
func (r *runner) dial(ctx context.Context) {
	select {
	case <-r.updated: // a stop or change handed over before this offer comes first
		r.applyUpdate(ctx)
	default:
	}
	if !r.dialing || !r.storeOK() {
		return
	}
	now := r.now()
	if r.rules.schedule.Over(now) {
		r.finish(ctx, "calendar period over")
		return
	}
	free := min(r.camp.Parameters.Limit-len(r.calls), r.e.cfg.MaxPerTick)
	if free <= 0 {
		return
	}
	// Lines were full: wait until one is freed here (or a while, for lines
	// other dialers free) rather than claim members only to put them back.
	if r.blocked != 0 && r.blocked == r.e.lines.freed() && now.Sub(r.blockAt) < 2*time.Second {
		return
	}
	r.blocked = 0
	// No switch, no claim: members stay ready rather than churn.
	if _, release, err := r.e.sw.Acquire(); err != nil {
		return
	} else {
		release()
	}
	var claimed []store.Claimed
	err := r.e.timed("claim", func() (err error) {
		claimed, err = r.e.st.ClaimMembers(ctx, r.id, free, now, now.Add(r.e.cfg.LeaseTTL))
		return err
	})
	if err != nil {
		r.storeFailed("claim", err)
		return
	}
	if len(claimed) == 0 {
		r.e.lines.drop(r) // nothing to dial: no claim on anyone's lines
		return
	}
	for i, cl := range claimed {
		if !r.place(ctx, cl, now) {
			r.blocked, r.blockAt = r.e.lines.freed(), now
			// Lines or switches ran out: the rest go back untouched.
			for _, rest := range claimed[i+1:] {
				r.putBack(ctx, rest, rest.Member)
			}
			return
		}
	}
}

// place dials one claimed member, or puts it where it belongs; false means
// the lines or switches are full and the caller should stop.
func (r *runner) place(ctx context.Context, cl store.Claimed, now time.Time) bool {
	if r.stopping.Load() {
		r.putBack(ctx, cl, cl.Member)
		return false
	}
	m := cloneMember(cl.Member)
	fallback := r.rules.schedule.Location()
	localTime := func(number string) time.Time { return now.In(r.e.zones.of(m, number, fallback)) }
	switch {
	case m.EndCause != "":
		r.putBack(ctx, cl, m)
		return true
	case m.Expire > 0 && now.UnixMilli() >= m.Expire:
		m.EndCause = EndMemberExpired
		r.end(ctx, cl, m)
		return true
	case m.Terminate:
		m.EndCause = EndTerminated
		r.end(ctx, cl, m)
		return true
	}
	ch, ok, wait := r.rules.chooseNumber(m, localTime)
	if !ok {
		if wait.IsZero() { // no number left at all
			r.rules.scheduleNext(m, now, 0)
			if m.EndCause == "" {
				m.EndCause = EndStopped
			}
			r.end(ctx, cl, m)
		} else { // none allowed at this hour
			m.NextTryAt = wait.UnixMilli()
			r.putBack(ctx, cl, m)
		}
		return true
	}
	number := m.Communications[ch.index].Number
	if next, open := r.rules.schedule.NextOpen(now, r.e.zones.of(m, number, fallback)); !open {
		r.putBack(ctx, cl, cl.Member) // the calendar is over: the campaign will finish
		return true
	} else if next.After(now) {
		m.NextTryAt = next.UnixMilli() // outside the person's local hours
		r.putBack(ctx, cl, m)
		return true
	}
	a := &store.Attempt{ID: esl.NewUUID(), Campaign: r.id, Member: m.ID, Token: cl.Token, Number: number,
		CommIndex: ch.index, RangeIndex: ch.rangeIdx, RangeDay: ch.day, StartedAt: now.UnixMilli()}
	targets := r.router.targets(number)
	if len(targets) == 0 {
		c := &call{attempt: a, token: cl.Token, member: cl.Member, choice: ch}
		r.writeOutcome(ctx, c, outcome{Cause: "NO_ROUTE_DESTINATION"}, cl.Member)
		return true
	}
	var tgt *target
	for i := range targets {
		t := &targets[i]
		if r.e.lines.outranked(t.GwName, r, r.prio()) {
			continue // a campaign of higher priority waits for this gateway
		}
		ok, err := r.e.st.AcquireSlot(ctx, t.GwName, a.ID, t.Limit, now, now.Add(r.e.cfg.LeaseTTL))
		if err != nil {
			r.storeFailed("slot", err)
			r.putBack(ctx, cl, cl.Member)
			return false
		}
		if ok {
			r.e.lines.got(t.GwName, r)
			tgt = t
			break
		}
		r.e.lines.want(t.GwName, r, r.prio())
	}
	if tgt == nil { // every destination is at its limit
		r.putBack(ctx, cl, cl.Member)
		return false
	}
	args, err := originateArgs(r.camp, m, a, *tgt)
	if err != nil {
		// The campaign was checked when its runner started, so the
		// member's own data cannot be sent (stored before the API
		// refused such values): it is set aside, not dialed.
		_ = r.e.st.ReleaseSlot(ctx, tgt.GwName, a.ID)
		r.e.log.Error("dialer: member cannot be dialed", "campaign", r.id, "member", m.ID, "error", err)
		m.EndCause = EndInvalidMember
		r.end(ctx, cl, m)
		return true
	}
	sw, release, err := r.e.sw.Acquire()
	if err != nil {
		_ = r.e.st.ReleaseSlot(ctx, tgt.GwName, a.ID)
		r.putBack(ctx, cl, cl.Member)
		return false
	}
	a.Node, a.Gateway, a.DialString = sw.Name(), tgt.GwName, tgt.Endpoint()
	if err := r.e.timed("journal", func() error { return r.e.st.OpenAttempt(ctx, a) }); err != nil {
		release()
		_ = r.e.st.ReleaseSlot(ctx, tgt.GwName, a.ID)
		r.storeFailed("journal", err)
		r.putBack(ctx, cl, cl.Member)
		return false
	}
	c := &call{attempt: a, token: cl.Token, member: cl.Member, choice: ch, node: sw.Name(), release: release, slot: tgt.GwName, sentAt: now, lastEvent: now}
	r.calls[a.ID] = c
	r.inFlight.Add(1)
	r.e.route(a.ID, r)
	_, err = sw.BgAPIJob(ctx, a.ID, "originate "+args)
	switch {
	case err == nil:
		r.e.m.Placed.WithLabelValues(r.id).Inc()
		r.e.count(r.id, func(p *Progress) { p.Placed++ })
	case errors.Is(err, esl.ErrNotSent):
		// The switch never saw it: no attempt happened.
		r.forget(ctx, c)
		r.putBackAttempt(ctx, cl, a.ID)
		return false
	default:
		// Sent, answer unknown: its events or the call check will tell.
		r.e.log.Warn("dialer: originate outcome unknown", "campaign", r.id, "attempt", a.ID, "error", err)
	}
	return true
}

// putBack returns a claimed member to its queue without an attempt.
func (r *runner) putBack(ctx context.Context, cl store.Claimed, m *store.Member) {
	r.writeMember(ctx, cl, m, "")
}

// putBackAttempt returns a member whose originate never left, closing the
// journal entry.
func (r *runner) putBackAttempt(ctx context.Context, cl store.Claimed, attempt string) {
	r.writeMember(ctx, cl, cl.Member, attempt)
}

// end finishes a member that was not dialed (expired, terminated, no
// number left).
func (r *runner) end(ctx context.Context, cl store.Claimed, m *store.Member) {
	r.writeMember(ctx, cl, m, "")
	r.e.count(r.id, func(p *Progress) { p.Finished++ })
}

func (r *runner) writeMember(ctx context.Context, cl store.Claimed, m *store.Member, attempt string) {
	now := r.now()
	w := &store.Write{Member: m, ExpectV: cl.Member.V, Token: cl.Token, Placement: store.PlaceMember(r.camp.MembersStrategy, m, now), Attempt: attempt}
	if m.EndCause != "" {
		w.Stats = map[string]int64{"end:" + m.EndCause: 1, "finished": 1}
	}
	err := r.e.timed("write", func() error { return r.e.st.WriteMember(ctx, r.id, w) })
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		// Its lease will lapse and the member come back: nothing is lost.
		r.storeFailed("put back", err)
	}
}

// handle applies one inbox item.
func (r *runner) handle(ctx context.Context, it inboxItem) {
	if it.event == nil {
		r.nodeState(ctx, it.node, it.connected)
		return
	}
	ev := it.event
	id := ev.UniqueID()
	if id == "" {
		id = ev.Get("Job-UUID")
	}
	c := r.calls[id]
	if c == nil {
		return
	}
	now := r.now()
	if ev.Name() == "BACKGROUND_JOB" {
		r.e.m.OriginateLat.Observe(now.Sub(c.sentAt).Seconds())
	}
	over, answered := c.apply(ev, now)
	r.e.m.EventsProcessed.Inc()
	if answered {
		r.e.m.Answered.WithLabelValues(r.id).Inc()
		r.e.m.LiveAnswered.WithLabelValues(r.id).Inc()
		r.e.count(r.id, func(p *Progress) { p.Answered++ })
		if r.camp.Parameters.RecordSession {
			r.record(ctx, c, now)
		}
	}
	if over {
		r.closeCall(ctx, c, c.outcome(eventTime(ev, now)))
	}
}

// record starts recording an answered call.
func (r *runner) record(ctx context.Context, c *call, now time.Time) {
	path := strings.NewReplacer("{campaign}", r.id, "{member}", c.attempt.Member, "{attempt}", c.attempt.ID,
		"{date}", now.UTC().Format("2006-01-02")).Replace(r.e.cfg.RecordPath)
	sw := r.e.sw.Node(c.node)
	if sw == nil {
		return
	}
	var cb commandBuilder
	cb.raw("uuid_record ")
	cb.token("uuid", c.attempt.ID)
	cb.raw(" start ")
	cb.token("record path", path)
	cmd, err := cb.String()
	if err != nil {
		r.e.log.Error("dialer: recording not started: set a record path without blanks or quotes", "attempt", c.attempt.ID, "error", err)
		return
	}
	if _, err := sw.BgAPIJob(ctx, esl.NewUUID(), cmd); err != nil {
		r.e.log.Warn("dialer: recording not started", "attempt", c.attempt.ID, "error", err)
		return
	}
	c.recording = path
}

// forget drops a call from the runner: its events are ignored from now on
// and its line is free.
func (r *runner) forget(ctx context.Context, c *call) {
	if _, ok := r.calls[c.attempt.ID]; !ok {
		return
	}
	delete(r.calls, c.attempt.ID)
	r.inFlight.Add(-1)
	r.e.unroute(c.attempt.ID)
	if c.release != nil {
		c.release()
	}
	if c.slot != "" {
		if err := r.e.st.ReleaseSlot(ctx, c.slot, c.attempt.ID); err != nil {
			r.storeFailed("release slot", err) // it lapses with its lease anyway
		}
	}
	r.e.lines.release()
	r.e.Wake()
}

func (r *runner) forgetAll() {
	for id := range r.calls {
		r.e.unroute(id)
	}
}

// closeCall classifies an ended call and writes the member.
func (r *runner) closeCall(ctx context.Context, c *call, o outcome) {
	c.phase = phaseDone
	r.forget(ctx, c)
	if o.Cause == CauseLost {
		r.e.m.LostCalls.WithLabelValues(r.id).Inc()
	}
	if !r.writeOutcome(ctx, c, o, c.member) {
		r.pending = append(r.pending, pendingClose{c, o})
		r.e.m.PendingWrites.Inc()
	}
}

// writeOutcome applies the rules to the member and writes it; a member
// changed meanwhile (an edit over the API) is read again and the rules
// applied to that. False means Redis failed and it must be tried again.
func (r *runner) writeOutcome(ctx context.Context, c *call, o outcome, base *store.Member) bool {
	for try := 0; try < 5; try++ {
		now := r.now()
		m := cloneMember(base)
		v := r.rules.classify(m, c.attempt.ID, c.choice, o, now)
		w := &store.Write{
			Member: m, ExpectV: base.V, Token: c.token,
			Placement:  store.PlaceMember(r.camp.MembersStrategy, m, now),
			AddNumbers: addedNumbers(base, m),
			Attempt:    c.attempt.ID,
			Record:     r.callRecord(c, o, v, m, now),
		}
		w.Stats, w.Window = r.counters(o, v, m, now)
		err := r.e.timed("write", func() error { return r.e.st.WriteMember(ctx, r.id, w) })
		var dup *store.DuplicateNumberError
		switch {
		case err == nil:
			r.counted(o, v)
			return true
		case errors.Is(err, store.ErrLeaseLost):
			r.e.log.Warn("dialer: member lease lost; another dialer has it", "campaign", r.id, "member", m.ID, "attempt", c.attempt.ID)
			return true
		case errors.Is(err, store.ErrNotFound): // deleted while it was called
			_ = r.e.st.CloseAttempt(ctx, r.id, c.attempt.ID)
			return true
		case errors.As(err, &dup): // a pending result's number was taken meanwhile
			base = cloneMember(base)
			base.PendingResult = nil
		case errors.Is(err, store.ErrConflict):
			r.e.m.WriteConflicts.Inc()
			fresh, _, gerr := r.e.st.GetMember(ctx, r.id, m.ID)
			if gerr != nil {
				if errors.Is(gerr, store.ErrNotFound) {
					_ = r.e.st.CloseAttempt(ctx, r.id, c.attempt.ID)
					return true
				}
				r.storeFailed("reread", gerr)
				return false
			}
			base = fresh
		default:
			r.storeFailed("write", err)
			return false
		}
	}
	r.e.log.Error("dialer: member kept changing; attempt left in the journal", "campaign", r.id, "attempt", c.attempt.ID)
	return true
}

func addedNumbers(before, after *store.Member) []string {
	var out []string
	for _, c := range after.Communications {
		if indexOfNumber(before, c.Number) < 0 {
			out = append(out, c.Number)
		}
	}
	return out
}

func (r *runner) callRecord(c *call, o outcome, v verdict, m *store.Member, now time.Time) *store.CallRecord {
	rec := &store.CallRecord{
		Attempt: c.attempt.ID, Campaign: r.id, Member: m.ID, Number: c.attempt.Number,
		Node: c.attempt.Node, Gateway: c.attempt.Gateway, StartedAt: c.attempt.StartedAt,
		EndedAt: now.UnixMilli(), BillSec: o.BillSec, Cause: o.Cause, AMD: o.AMD,
		Outcome: v.Outcome, EndCause: m.EndCause, Recording: o.Recording,
	}
	if !o.AnsweredAt.IsZero() {
		rec.AnsweredAt = o.AnsweredAt.UnixMilli()
	}
	return rec
}

// counters are the campaign statistics an attempt adds to.
func (r *runner) counters(o outcome, v verdict, m *store.Member, now time.Time) (stats, window map[string]int64) {
	stats = map[string]int64{"attempts": 1, "outcome:" + v.Outcome: 1}
	window = store.WindowFields("calls", now, 1)
	if o.Answered {
		stats["answered"] = 1
		window = store.MergeCounters(window, store.WindowFields("answered", now, 1))
		if o.AMD != "MACHINE" {
			stats["live"] = 1
			window = store.MergeCounters(window, store.WindowFields("live", now, 1))
		}
	}
	if m.EndCause != "" {
		stats["end:"+m.EndCause] = 1
		stats["finished"] = 1
	}
	return stats, window
}

func (r *runner) counted(o outcome, v verdict) {
	r.e.m.Results.WithLabelValues(r.id, v.Outcome).Inc()
	r.e.count(r.id, func(p *Progress) {
		switch {
		case v.Outcome == "success":
			p.Succeeded++
		case v.EndCause == "" && v.Outcome != "result_wait":
			p.Retried++
		}
		if v.EndCause != "" {
			p.Finished++
		}
	})
}

// cloneMember copies a member deeply enough for the rules to change it.
func cloneMember(m *store.Member) *store.Member {
	c := *m
	c.Communications = make([]store.Communication, len(m.Communications))
	for i, cm := range m.Communications {
		cm.RangeAttempts = append([]int(nil), cm.RangeAttempts...)
		c.Communications[i] = cm
	}
	c.History = append([]store.CallSummary(nil), m.History...)
	if m.PendingResult != nil {
		pr := *m.PendingResult
		c.PendingResult = &pr
	}
	return &c
}

// housekeep runs the periodic work: retries, renewals, sweeps, checks.
func (r *runner) housekeep(ctx context.Context) {
	r.retryPending(ctx)
	r.e.m.InFlight.WithLabelValues(r.id).Set(float64(len(r.calls)))
	if !r.storeOK() {
		return
	}
	ttl := r.e.cfg.LeaseTTL
	r.every("renew", ttl/3, func() { r.renew(ctx) })
	r.every("results", time.Second, func() { r.sweepResults(ctx) })
	r.every("lapsed", ttl/2, func() { r.sweepLapsed(ctx) })
	r.every("calls", 30*time.Second, func() { r.checkCalls(ctx) })
	r.every("finish", 5*time.Second, func() { r.checkFinished(ctx) })
	r.every("gauges", 5*time.Second, func() { r.gauges(ctx) })
	r.every("prune", 10*time.Minute, func() { _ = r.e.st.PruneWindows(ctx, r.id, r.now()) })
	r.every("reload", 30*time.Second, func() {
		if c, err := r.e.st.GetCampaign(ctx, r.id); err == nil {
			r.notify(c)
		}
	})
	if r.camp.AutoResetStats {
		day := r.now().In(r.rules.schedule.Location()).Format(time.DateOnly)
		if r.resetDay != "" && r.resetDay != day {
			_ = r.e.st.ResetStats(ctx, r.id)
		}
		r.resetDay = day
	}
}

func (r *runner) retryPending(ctx context.Context) {
	if len(r.pending) == 0 || r.now().Sub(r.troubled) < time.Second {
		return
	}
	left := r.pending[:0]
	for _, p := range r.pending {
		if !r.writeOutcome(ctx, p.c, p.o, p.c.member) {
			left = append(left, p)
		} else {
			r.e.m.PendingWrites.Dec()
		}
	}
	r.pending = left
}

// renew extends the leases of the members and gateway slots in flight (and
// of members whose result waits to be written), and the campaign's own
// lease.
func (r *runner) renew(ctx context.Context) {
	now := r.now()
	until := now.Add(r.e.cfg.LeaseTTL)
	byToken := map[string][]string{}
	for _, c := range r.calls {
		byToken[c.token] = append(byToken[c.token], c.attempt.Member)
		if c.slot != "" {
			if err := r.e.st.RenewSlot(ctx, c.slot, c.attempt.ID, until); err != nil {
				r.storeFailed("renew slot", err)
				return
			}
		}
	}
	for _, p := range r.pending { // ended, not yet written: still ours
		byToken[p.c.token] = append(byToken[p.c.token], p.c.attempt.Member)
	}
	for token, ids := range byToken {
		if _, err := r.e.st.RenewLeases(ctx, r.id, token, ids, until); err != nil {
			r.storeFailed("renew", err)
			return
		}
	}
	ok, err := r.e.st.RenewRunner(ctx, r.id, r.lease, now, until)
	if err != nil {
		r.storeFailed("renew runner", err)
	} else if !ok && r.dialing {
		r.e.log.Warn("dialer: another dialer took the campaign; finishing calls in flight", "campaign", r.id)
		r.dialing = false
	}
}

// sweepResults ends the wait of members whose call result did not come in
// time: the call counts as not successful.
func (r *runner) sweepResults(ctx context.Context) {
	now := r.now()
	taken, err := r.e.st.TakeDueResults(ctx, r.id, 100, now, now.Add(r.e.cfg.LeaseTTL))
	if err != nil {
		r.storeFailed("results", err)
		return
	}
	for _, t := range taken {
		r.endResultWait(ctx, t, now)
	}
}

// endResultWait writes a member whose wait for a result is over. A result
// that arrived meanwhile (the member changed) is applied instead of "none".
func (r *runner) endResultWait(ctx context.Context, t store.Claimed, now time.Time) {
	base := t.Member
	for try := 0; try < 5; try++ {
		m := cloneMember(base)
		attempt, res, outcome := m.WaitingResult, store.CallResult{}, "no_result"
		if m.PendingResult != nil {
			res, outcome = *m.PendingResult, "result"
			m.PendingResult = nil
		}
		r.rules.applyResult(m, res, now)
		w := &store.Write{Member: m, ExpectV: base.V, Token: t.Token, Placement: store.PlaceMember(r.camp.MembersStrategy, m, now),
			AddNumbers: addedNumbers(base, m),
			Record:     &store.CallRecord{Attempt: attempt, Campaign: r.id, Member: m.ID, EndedAt: now.UnixMilli(), Outcome: outcome, EndCause: m.EndCause, Result: res.Description},
			Stats:      map[string]int64{"outcome:" + outcome: 1}}
		if m.EndCause != "" {
			w.Stats["end:"+m.EndCause], w.Stats["finished"] = 1, 1
		}
		err := r.e.st.WriteMember(ctx, r.id, w)
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrLeaseLost):
			return
		case errors.Is(err, store.ErrChanged):
			fresh, _, gerr := r.e.st.GetMember(ctx, r.id, m.ID)
			if gerr != nil {
				return // its lease lapses and the sweep comes back to it
			}
			base = fresh
		default:
			r.storeFailed("no result", err)
			return
		}
	}
}

// sweepLapsed handles members whose lease ran out: ours (renewal failed
// during an outage) are taken back, a dead dialer's are reconciled, and
// those never dialed go back to the queue.
func (r *runner) sweepLapsed(ctx context.Context) {
	now := r.now()
	taken, err := r.e.st.TakeLapsedLeases(ctx, r.id, 200, now, now.Add(r.e.cfg.LeaseTTL))
	if err != nil || len(taken) == 0 {
		if err != nil {
			r.storeFailed("lapsed", err)
		}
		return
	}
	byMember := map[string]*call{}
	for _, c := range r.calls {
		byMember[c.attempt.Member] = c
	}
	for _, p := range r.pending {
		byMember[p.c.attempt.Member] = p.c
	}
	var open map[string]*store.Attempt
	for _, t := range taken {
		if c := byMember[t.Member.ID]; c != nil {
			c.token = t.Token // ours: keep going under the new lease
			continue
		}
		if open == nil {
			open = map[string]*store.Attempt{}
			attempts, err := r.e.st.OpenAttempts(ctx, r.id)
			if err != nil {
				r.storeFailed("journal", err)
				return
			}
			for _, a := range attempts {
				open[a.Member] = a
			}
		}
		if a := open[t.Member.ID]; a != nil {
			a.Token = t.Token
			r.adopt(ctx, a, t.Member)
			continue
		}
		r.putBack(ctx, t, t.Member) // leased, never dialed
	}
}

// reconcile adopts the journal's open attempts when the runner starts: a
// dialer that died left them.
func (r *runner) reconcile(ctx context.Context) {
	attempts, err := r.e.st.OpenAttempts(ctx, r.id)
	if err != nil {
		r.storeFailed("journal", err)
		return
	}
	for _, a := range attempts {
		if r.calls[a.ID] != nil {
			continue
		}
		m, _, err := r.e.st.GetMember(ctx, r.id, a.Member)
		if errors.Is(err, store.ErrNotFound) {
			_ = r.e.st.CloseAttempt(ctx, r.id, a.ID)
			continue
		}
		if err != nil {
			r.storeFailed("journal member", err)
			return
		}
		r.adopt(ctx, a, m)
	}
}

// adopt takes over a journaled attempt: re-attached if its call is still on
// the switch, classified as lost if it is gone, held until its switch is
// back if that cannot be told now.
func (r *runner) adopt(ctx context.Context, a *store.Attempt, m *store.Member) {
	now := r.now()
	c := &call{attempt: a, token: a.Token, member: m,
		choice: choice{index: a.CommIndex, rangeIdx: a.RangeIndex, day: a.RangeDay},
		node:   a.Node, slot: a.Gateway, sentAt: now, lastEvent: now, phase: phaseCreated}
	if c.choice.index >= len(m.Communications) {
		c.choice.index = 0
	}
	r.calls[a.ID] = c
	r.inFlight.Add(1)
	r.e.route(a.ID, r)
	if !r.e.sw.Connected(a.Node) {
		c.suspended = true
		return
	}
	r.checkOnSwitch(ctx, []*call{c})
}

// checkOnSwitch asks each call's switch whether it still exists: the gone
// are classified as lost, the live re-attached.
func (r *runner) checkOnSwitch(ctx context.Context, calls []*call) {
	channels := r.askSwitches(ctx, calls)
	for _, c := range calls {
		if r.calls[c.attempt.ID] != c {
			continue // its end arrived meanwhile
		}
		live, ok := channels[c.node]
		if !ok {
			c.suspended = true
			continue
		}
		state, exists := live[c.attempt.ID]
		if !exists {
			r.closeCall(ctx, c, outcome{Cause: CauseLost, EndedAt: r.now()})
			continue
		}
		c.suspended = false
		if c.release == nil {
			c.release = r.e.sw.Hold(c.node)
		}
		if state == "ACTIVE" && c.phase < phaseAnswered {
			c.phase, c.answered = phaseAnswered, true
		}
	}
}

// askSwitches lists the live channels of the calls' switches (a switch that
// does not answer is left out), then handles the events that came before
// the answers: a call the switch no longer lists has had its end seen by
// then, if the switch sent one.
func (r *runner) askSwitches(ctx context.Context, calls []*call) map[string]map[string]string {
	channels := map[string]map[string]string{} // node -> uuid -> callstate
	asked := map[string]bool{}
	for _, c := range calls {
		if asked[c.node] {
			continue
		}
		asked[c.node] = true
		if live, err := r.liveChannels(ctx, c.node); err == nil {
			channels[c.node] = live
		}
	}
	r.drainInbox(ctx, nil)
	return channels
}

// liveChannels lists a node's channels (show channels as json).
func (r *runner) liveChannels(ctx context.Context, node string) (map[string]string, error) {
	sw := r.e.sw.Node(node)
	if sw == nil || !r.e.sw.Connected(node) {
		return nil, esl.ErrNotConnected
	}
	out, err := sw.API(ctx, "show channels as json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Rows []struct {
			UUID      string `json:"uuid"`
			CallState string `json:"callstate"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, err
	}
	live := make(map[string]string, len(doc.Rows))
	for _, row := range doc.Rows {
		live[row.UUID] = row.CallState
	}
	return live, nil
}

// nodeState suspends a lost node's calls, and reconciles them when it is back.
func (r *runner) nodeState(ctx context.Context, node string, connected bool) {
	var onNode []*call
	for _, c := range r.calls {
		if c.node == node {
			onNode = append(onNode, c)
		}
	}
	if !connected {
		for _, c := range onNode {
			c.suspended = true
		}
		return
	}
	// Events were lost while it was away: ask the switch what is left.
	r.checkOnSwitch(ctx, onNode)
}

// checkCalls looks for calls whose end was missed: no event for a long
// time, and the switch no longer has them.
func (r *runner) checkCalls(ctx context.Context) {
	now := r.now()
	var stale []*call
	for _, c := range r.calls {
		quiet := now.Sub(c.lastEvent)
		limit := 10 * time.Minute
		if c.phase == phaseSent {
			limit = time.Duration(r.camp.Parameters.OriginateTimeout)*time.Second + time.Minute
		}
		if c.suspended || quiet < limit {
			continue
		}
		stale = append(stale, c)
	}
	if len(stale) == 0 {
		return
	}
	channels := r.askSwitches(ctx, stale)
	for _, c := range stale {
		live, asked := channels[c.node]
		if !asked || r.calls[c.attempt.ID] != c || !c.lastEvent.Before(now) {
			continue // no answer, or the call spoke up meanwhile
		}
		if _, ok := live[c.attempt.ID]; ok {
			c.lastEvent = now
			continue
		}
		if c.phase == phaseSent {
			// Never a channel, never a job result: the originate did not
			// run. Nobody was called.
			r.forget(ctx, c)
			r.putBackAttempt(ctx, store.Claimed{Member: c.member, Token: c.token}, c.attempt.ID)
			continue
		}
		r.closeCall(ctx, c, outcome{Cause: CauseLost, EndedAt: now})
	}
}

// checkFinished ends the campaign when its list is done (unless it is an
// eternal queue) or its calendar is over.
func (r *runner) checkFinished(ctx context.Context) {
	if !r.dialing {
		return
	}
	if r.rules.schedule.Over(r.now()) {
		r.finish(ctx, "calendar period over")
		return
	}
	if len(r.calls) > 0 || r.camp.Parameters.EternalQueue {
		return
	}
	counts, err := r.e.st.MemberCounts(ctx, r.id)
	if err != nil {
		r.storeFailed("counts", err)
		return
	}
	if counts[store.MemberReady]+counts[store.MemberWaiting]+counts[store.MemberLeased]+counts[store.MemberResult] == 0 {
		r.finish(ctx, "every member done")
	}
}

func (r *runner) finish(ctx context.Context, why string) {
	c, err := r.e.st.SetCampaignState(ctx, r.id, store.StateFinished, r.now())
	if err != nil {
		r.storeFailed("finish", err)
		return
	}
	r.camp = c
	r.dialing = false
	r.e.log.Info("dialer: campaign finished", "campaign", r.id, "why", why)
}

// gauges refreshes the member and abandon-rate gauges.
func (r *runner) gauges(ctx context.Context) {
	st, err := r.e.st.CampaignStats(ctx, r.id, r.now())
	if err != nil {
		return
	}
	for state, n := range st.Members {
		r.e.m.Members.WithLabelValues(r.id, state).Set(float64(n))
	}
	live, ab := st.Windows["live"], st.Windows["abandoned"]
	rate := func(a, l int64) float64 {
		if l == 0 {
			return 0
		}
		return float64(a) / float64(l)
	}
	r.e.m.AbandonRate.WithLabelValues(r.id, "1h").Set(rate(ab.Hour, live.Hour))
	r.e.m.AbandonRate.WithLabelValues(r.id, "24h").Set(rate(ab.Day, live.Day))
	r.e.m.AbandonRate.WithLabelValues(r.id, "30d").Set(rate(ab.Month, live.Month))
}
