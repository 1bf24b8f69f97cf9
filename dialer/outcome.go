package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/internal/fifo"
	"github.com/fsdialer/fsdialer/store"
)

// memberLease is the lease token under which a member is held. A lease
// that lapsed and was taken back gets a new token while a write of the
// member may wait in the writer, so the two share it.
type memberLease struct {
	mu    sync.Mutex
	token string
}

func newLease(token string) *memberLease { return &memberLease{token: token} }

func (l *memberLease) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token
}

func (l *memberLease) set(token string) {
	l.mu.Lock()
	l.token = token
	l.mu.Unlock()
}

// memberWrite is one change of a member held by the campaign: an attempt's
// outcome, a put-back, an end, the end of a wait for a call result.
type memberWrite struct {
	base *store.Member // as claimed or last read: the version written over
	// events, when base is nil, are call events to store on their own
	// (offering, bridged), in order with the writes around them.
	events [][]byte
	lease  *memberLease
	// apply changes m, a copy of the member as stored, and returns the
	// write to make. It runs again on a member read anew after a conflict.
	apply func(m *store.Member, now time.Time) (*store.Write, verdict)
	done  func(v verdict, err error) // on the writer's goroutine
}

// errGaveUp: the member changed under every try.
var errGaveUp = errors.New("the member kept changing")

// writer is the one writer of a campaign's members: every outcome, put-back
// and end goes through its queue, in order. Redis failing does not lose a
// write: it is tried again, first in line, until Redis answers (or the
// dialer stops, and the journal keeps the attempt). Only here are stat keys
// and windows known.
type writer struct {
	st       *store.Store
	clock    clock.Clock
	log      *slog.Logger
	campaign string
	timed    func(op string, f func() error) error
	failed   func(op string, err error) // Redis failed: dialing pauses
	pending  func(delta int)            // writes queued or being tried
	written  func()                     // a write is stored (events may wait for delivery)

	q *fifo.Queue[*memberWrite]
}

func (w *writer) push(mw *memberWrite) {
	w.pending(1)
	w.q.Push(mw)
}

func (w *writer) run(ctx context.Context) {
	var buf []*memberWrite
	for {
		items, ok := w.q.Take(buf)
		if !ok {
			return
		}
		for i, mw := range items {
			w.write(ctx, mw)
			items[i] = nil
		}
		buf = items
	}
}

// write makes one write, trying again while Redis fails.
func (w *writer) write(ctx context.Context, mw *memberWrite) {
	defer w.pending(-1)
	delay := 500 * time.Millisecond
	for {
		var v verdict
		var err error
		if mw.base == nil {
			err = w.st.AppendOutbox(ctx, w.campaign, mw.events...)
		} else {
			v, err = w.try(ctx, mw)
		}
		if err == nil {
			w.written()
		}
		if err == nil || definitive(err) {
			if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, errGaveUp) {
				w.log.Error("dialer: write refused", "campaign", w.campaign, "error", err)
			}
			mw.done(v, err)
			return
		}
		w.failed("write", err)
		if clock.Sleep(ctx, w.clock, delay) != nil {
			mw.done(v, ctx.Err()) // shutting down: the journal keeps the attempt
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// definitive reports whether a write error is final: anything but Redis
// failing, which a later try may not meet (a write Redis refuses for what
// it is would fail the same way forever, and hold up the writes behind it).
func definitive(err error) bool { return !errors.Is(err, store.ErrUnavailable) }

// try applies a change to the member and writes it; a member that changed
// meanwhile (an edit over the API) is read again and the change applied to
// that.
func (w *writer) try(ctx context.Context, mw *memberWrite) (verdict, error) {
	base := mw.base
	var v verdict
	for try := 0; try < 5; try++ {
		now := w.clock.Now()
		m := cloneMember(base)
		wr, vv := mw.apply(m, now)
		v = vv
		wr.ExpectV = base.V
		if mw.lease != nil {
			wr.Token = mw.lease.get()
		}
		err := w.timed("write", func() error { return w.st.WriteMember(ctx, w.campaign, wr) })
		var dup *store.DuplicateNumberError
		switch {
		case err == nil:
			return v, nil
		case errors.Is(err, store.ErrLeaseLost):
			w.log.Warn("dialer: member lease lost; another dialer has it", "campaign", w.campaign, "member", m.ID, "attempt", wr.Attempt)
			return v, err
		case errors.Is(err, store.ErrNotFound): // deleted while it was called
			w.closeAttempt(ctx, wr.Attempt)
			return v, err
		case errors.As(err, &dup): // a pending result's number was taken meanwhile
			base = cloneMember(base)
			base.PendingResult = nil
		case errors.Is(err, store.ErrConflict):
			fresh, _, gerr := w.st.GetMember(ctx, w.campaign, m.ID)
			if errors.Is(gerr, store.ErrNotFound) {
				w.closeAttempt(ctx, wr.Attempt)
				return v, gerr
			}
			if gerr != nil {
				return v, gerr
			}
			base = fresh
		default:
			return v, err
		}
	}
	w.log.Error("dialer: member kept changing; attempt left in the journal", "campaign", w.campaign, "member", base.ID)
	return v, fmt.Errorf("member %s: %w", base.ID, errGaveUp)
}

func (w *writer) closeAttempt(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if err := w.st.CloseAttempt(ctx, w.campaign, id); err != nil {
		w.log.Warn("dialer: journal entry of a deleted member left open", "campaign", w.campaign, "attempt", id, "error", err)
	}
}

// putBack returns a claimed member to its queue as it is, closing the
// journal entry of an attempt that placed no call; after a delay, if any.
func putBack(p *plan, cl store.Claimed, attemptID string, delay time.Duration) *memberWrite {
	return &memberWrite{base: cl.Member, lease: newLease(cl.Token), apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		if delay > 0 {
			m.NextTryAt = now.Add(delay).UnixMilli()
		}
		return &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now), Attempt: attemptID}, verdict{}
	}}
}

// withStats adds campaign counters to a write.
func withStats(mw *memberWrite, stats map[string]int64) *memberWrite {
	if len(stats) == 0 {
		return mw
	}
	apply := mw.apply
	mw.apply = func(m *store.Member, now time.Time) (*store.Write, verdict) {
		w, v := apply(m, now)
		w.Stats = store.MergeCounters(w.Stats, stats)
		return w, v
	}
	return mw
}

// withEvents stores, with the write, the call events fn makes of the
// member as written.
func withEvents(mw *memberWrite, fn func(m *store.Member, v verdict, now time.Time) [][]byte) *memberWrite {
	apply := mw.apply
	mw.apply = func(m *store.Member, now time.Time) (*store.Write, verdict) {
		w, v := apply(m, now)
		w.Outbox = fn(m, v, now)
		return w, v
	}
	return mw
}

// putBackAt returns a claimed member to wait until at.
func putBackAt(p *plan, cl store.Claimed, at time.Time) *memberWrite {
	return &memberWrite{base: cl.Member, lease: newLease(cl.Token), apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		m.NextTryAt = at.UnixMilli()
		return &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now)}, verdict{}
	}}
}

// endMember ends a member that was not dialed: with cause, or "" when it
// has no number left.
func endMember(p *plan, cl store.Claimed, cause string) *memberWrite {
	return &memberWrite{base: cl.Member, lease: newLease(cl.Token), apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		if cause == "" {
			p.rules.scheduleNext(m, now, 0)
			if m.EndCause == "" {
				m.EndCause = EndStopped
			}
		} else {
			m.EndCause = cause
		}
		return &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now), Stats: endStats(m)}, verdict{EndCause: m.EndCause}
	}}
}

// noRoute classifies a member whose number no resource routes.
func noRoute(p *plan, cl store.Claimed, a *store.Attempt, ch choice) *memberWrite {
	o := attempt.Outcome{Cause: "NO_ROUTE_DESTINATION"}
	return &memberWrite{base: cl.Member, lease: newLease(cl.Token), apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		o.EndedAt = now
		return outcomeWrite(p, m, a, ch, o, "", now)
	}}
}

// attemptWrite classifies an attempt that ended and writes its member.
func attemptWrite(p *plan, f *flight, o attempt.Outcome) *memberWrite {
	return &memberWrite{base: f.member, lease: f.lease, apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		return outcomeWrite(p, m, f.journal, f.choice, o, f.recording, now)
	}}
}

// inboundWrite writes a member who called in. A callback that reached an
// agent is judged by the campaign's rules, as an answered call of the
// campaign, when judge says so and the member is not finished; any other
// leaves the member as it was. Either is in the member's history, and
// neither counts in the campaign's attempts or abandon rate.
func inboundWrite(p *plan, f *flight, o attempt.Outcome, judge bool) *memberWrite {
	return &memberWrite{base: f.member, lease: f.lease, apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		bridged := !o.BridgedAt.IsZero()
		if judge && bridged && m.EndCause == "" && m.WaitingResult == "" {
			w, v := outcomeWrite(p, m, f.journal, f.choice, o, f.recording, now)
			w.Record.Inbound = true
			w.Stats, w.Window = map[string]int64{"inbound": 1, "outcome:" + v.Outcome: 1}, nil
			for k, n := range endStats(m) {
				w.Stats[k] = n
			}
			return w, v
		}
		outcome := "inbound_abandoned" // the caller hung up waiting
		switch {
		case bridged:
			outcome = "inbound_bridged"
		case o.SafeHarbor:
			outcome = "inbound_no_agent" // handed back to the dialplan
		}
		a := f.journal
		rec := &store.CallRecord{Attempt: a.ID, Campaign: a.Campaign, Member: m.ID, Number: a.Number, Node: a.Node,
			StartedAt: a.StartedAt, EndedAt: o.EndedAt.UnixMilli(), BillSec: int(o.BillMsec / 1000), BillMsec: o.BillMsec,
			Cause: o.Cause, Outcome: outcome, EndCause: m.EndCause, Recording: f.recording, Inbound: true}
		if !o.AnsweredAt.IsZero() {
			rec.AnsweredAt = o.AnsweredAt.UnixMilli()
		}
		return &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now), Attempt: a.ID, Record: rec,
			Stats: map[string]int64{"inbound": 1, "outcome:" + outcome: 1}}, verdict{Outcome: outcome}
	}}
}

// outcomeWrite applies the rules to m after an attempt.
func outcomeWrite(p *plan, m *store.Member, a *store.Attempt, ch choice, o attempt.Outcome, recording string, now time.Time) (*store.Write, verdict) {
	before := cloneMember(m)
	v := p.rules.classify(m, a.ID, ch, o, now)
	if p.direct && m.EndCause == "" && m.WaitingResult == "" {
		// A click-to-call is tried once: the agent clicks again to
		// call again (the calls campaign never dials on its own).
		m.EndCause = cmp.Or(strings.ToUpper(o.Cause), EndStopped)
		v.EndCause = m.EndCause
	}
	rec := &store.CallRecord{
		Attempt: a.ID, Campaign: a.Campaign, Member: m.ID, Number: a.Number,
		Node: a.Node, Gateway: a.Gateway, StartedAt: a.StartedAt,
		EndedAt: o.EndedAt.UnixMilli(), BillSec: int(o.BillMsec / 1000), BillMsec: o.BillMsec, Cause: o.Cause, AMD: o.AMD,
		Outcome: v.Outcome, EndCause: m.EndCause, Recording: recording,
	}
	if !o.AnsweredAt.IsZero() {
		rec.AnsweredAt = o.AnsweredAt.UnixMilli()
	}
	w := &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now),
		AddNumbers: addedNumbers(before, m), Attempt: a.ID, Record: rec}
	w.Stats, w.Window = attemptCounters(o, v, m, now)
	return w, v
}

// resultWaitEnd writes a member whose wait for a call result is over. A
// result that arrived meanwhile is applied; none counts as not successful.
func resultWaitEnd(p *plan, t store.Claimed) *memberWrite {
	return &memberWrite{base: t.Member, lease: newLease(t.Token), apply: func(m *store.Member, now time.Time) (*store.Write, verdict) {
		attemptID, res, outcome := m.WaitingResult, store.CallResult{}, "no_result"
		if m.PendingResult != nil {
			res, outcome = *m.PendingResult, "result"
			m.PendingResult = nil
		}
		before := cloneMember(m)
		p.rules.applyResult(m, res, now)
		w := &store.Write{Member: m, Placement: store.PlaceMember(p.camp.MembersStrategy, m, now),
			AddNumbers: addedNumbers(before, m),
			Record:     &store.CallRecord{Attempt: attemptID, Campaign: p.camp.ID, Member: m.ID, EndedAt: now.UnixMilli(), Outcome: outcome, EndCause: m.EndCause, Result: res.Description},
			Stats:      map[string]int64{"outcome:" + outcome: 1}}
		for k, n := range endStats(m) {
			w.Stats[k] = n
		}
		return w, verdict{Outcome: outcome, EndCause: m.EndCause}
	}}
}

// attemptCounters are the campaign statistics an attempt adds to. A live
// answer is one AMD did not call a machine (pacing.md): it is counted when
// the attempt is classified, the one moment the AMD verdict is known.
func attemptCounters(o attempt.Outcome, v verdict, m *store.Member, now time.Time) (stats, window map[string]int64) {
	stats = map[string]int64{"attempts": 1, "outcome:" + v.Outcome: 1}
	window = store.WindowFields("calls", now, 1)
	if o.Answered {
		stats["answered"] = 1
		window = store.MergeCounters(window, store.WindowFields("answered", now, 1))
		if liveAnswer(o) {
			stats["live"] = 1
			window = store.MergeCounters(window, store.WindowFields("live", now, 1))
		}
		if o.Abandoned {
			stats["abandoned"] = 1
			window = store.MergeCounters(window, store.WindowFields("abandoned", now, 1))
		}
		if o.AMD == "MACHINE" { // some may be people (store.AMD.FalseMachineRate)
			window = store.MergeCounters(window, store.WindowFields("machine", now, 1))
		}
	}
	for k, n := range endStats(m) {
		stats[k] = n
	}
	return stats, window
}

// liveAnswer reports whether an outcome is a live answer (pacing.md).
func liveAnswer(o attempt.Outcome) bool { return o.Answered && o.AMD != "MACHINE" }

func endStats(m *store.Member) map[string]int64 {
	if m.EndCause == "" {
		return nil
	}
	return map[string]int64{"end:" + m.EndCause: 1, "finished": 1}
}

// addedNumbers lists the numbers after has and before had not.
func addedNumbers(before, after *store.Member) []string {
	var out []string
	for _, c := range after.Communications {
		if indexOfNumber(before, c.Number) < 0 {
			out = append(out, c.Number)
		}
	}
	return out
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
