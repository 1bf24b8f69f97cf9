package dialer

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/store"
)

// End causes the engine sets besides hangup causes.
const (
	EndSuccess       = "NORMAL_CLEARING" // answered long enough, or a successful call result
	EndMaxTryCount   = "MAX_TRY_COUNT"
	EndMemberExpired = "MEMBER_EXPIRED"
	EndTerminated    = "TERMINATED"
	EndStopped       = "STOPPED" // every number was stopped by a call result or the API
	// EndInvalidMember: the member's data cannot be put in a command (it
	// was stored before the API refused such values); fix it and reset it.
	EndInvalidMember = "DIALER_INVALID_MEMBER"
	// EndAbandoned: the member's call was abandoned (no agent took their
	// answer) and the campaign does not retry abandoned members.
	EndAbandoned = "ABANDONED"
	// EndDNCListed: every number of the member is on a do-not-call list
	// (each was stopped with this cause when it came up).
	EndDNCListed = "DNC_LISTED"
)

// CauseLost is recorded for an attempt whose end could not be learned:
// the switch no longer has the call and kept no end record of it. It
// counts as a Retry.
const CauseLost = attempt.CauseLost

// Cause categories of the campaign's cause table.
const (
	catError = "error"
	catRetry = "retry"
	catOK    = "ok"
	catMinus = "minus"
)

// rules are a campaign's dialing rules, prepared once per campaign version.
type rules struct {
	c        *store.Campaign
	causes   map[string]string
	types    map[string]store.CommType
	schedule *Schedule
	// lockout: a number whose call was abandoned is not dialed again for
	// so long (predictive dialing only: the others guarantee an agent).
	lockout time.Duration
}

func newRules(c *store.Campaign, sched *Schedule) *rules {
	r := &rules{c: c, causes: map[string]string{}, types: map[string]store.CommType{}, schedule: sched}
	for cat, list := range map[string][]string{catError: c.Causes.Error, catRetry: c.Causes.Retry, catOK: c.Causes.OK, catMinus: c.Causes.Minus} {
		for _, cause := range list {
			r.causes[strings.ToUpper(cause)] = cat
		}
	}
	for _, t := range c.Communications.Types {
		r.types[t.Code] = t
	}
	if predictive(c) {
		r.lockout = lockoutOf(c)
	}
	return r
}

// category of a hangup cause; causes the table does not list are retried.
func (r *rules) category(cause string) string {
	if cat, ok := r.causes[strings.ToUpper(cause)]; ok {
		return cat
	}
	return catRetry
}

// numberUsable reports whether a number may still be dialed at all.
func (r *rules) numberUsable(cm *store.Communication) bool {
	p := r.c.Parameters
	return !cm.Stopped && (!p.RetriesByNumber || p.MaxTryCount == 0 || cm.Attempts < p.MaxTryCount)
}

// rangeNow returns the index of the communication type's range that allows
// a call at local (-1 when the type has no ranges: always allowed), and
// whether a call is allowed; if not, when one next is.
func (r *rules) rangeNow(cm *store.Communication, local time.Time) (idx int, ok bool, next time.Time) {
	t, typed := r.types[cm.Type]
	if !typed || len(t.Ranges) == 0 {
		return -1, true, time.Time{}
	}
	day := local.Format(time.DateOnly)
	minute := local.Hour()*60 + local.Minute()
	y, m, d := local.Date()
	for i, rg := range t.Ranges {
		used := 0
		if cm.RangeDay == day && i < len(cm.RangeAttempts) {
			used = cm.RangeAttempts[i]
		}
		if rg.Attempts > 0 && used >= rg.Attempts {
			continue
		}
		if minute >= rg.StartTime && minute < rg.EndTime {
			return i, true, time.Time{}
		}
		if minute < rg.StartTime {
			at := time.Date(y, m, d, rg.StartTime/60, rg.StartTime%60, 0, 0, local.Location())
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	if next.IsZero() { // nothing left today: tomorrow's first range
		first := t.Ranges[0]
		for _, rg := range t.Ranges {
			if rg.StartTime < first.StartTime {
				first = rg
			}
		}
		next = time.Date(y, m, d+1, first.StartTime/60, first.StartTime%60, 0, 0, local.Location())
	}
	return -1, false, next
}

// choice is the number to dial and the time range it is dialed in.
type choice struct {
	index    int    // into the member's communications
	rangeIdx int    // -1: no range
	day      string // the member's local day, which the range attempts count
}

// chooseNumber picks the number to dial now by numberStrategy. With no
// number allowed now it returns when one next is; with no number left at
// all, ok and wait are both zero.
func (r *rules) chooseNumber(m *store.Member, local func(number string) time.Time) (ch choice, ok bool, wait time.Time) {
	type cand struct {
		i, rangeIdx, rangePrio int
		day                    string
	}
	var cands []cand
	anyUsable := false
	for i := range m.Communications {
		cm := &m.Communications[i]
		if !r.numberUsable(cm) {
			continue
		}
		anyUsable = true
		if r.lockout > 0 && cm.AbandonedAt > 0 {
			if until := time.UnixMilli(cm.AbandonedAt).Add(r.lockout); local(cm.Number).Before(until) {
				if wait.IsZero() || until.Before(wait) {
					wait = until
				}
				continue
			}
		}
		idx, allowed, next := r.rangeNow(cm, local(cm.Number))
		if !allowed {
			if wait.IsZero() || next.Before(wait) {
				wait = next
			}
			continue
		}
		prio := 0
		if idx >= 0 {
			prio = r.types[cm.Type].Ranges[idx].Priority
		}
		cands = append(cands, cand{i, idx, prio, local(cm.Number).Format(time.DateOnly)})
	}
	if len(cands) == 0 {
		if !anyUsable {
			return choice{}, false, time.Time{}
		}
		return choice{}, false, wait
	}
	comms := m.Communications
	sort.SliceStable(cands, func(a, b int) bool {
		ca, cb := cands[a], cands[b]
		if comms[ca.i].Top != comms[cb.i].Top {
			return comms[ca.i].Top
		}
		if ca.rangePrio != cb.rangePrio {
			return ca.rangePrio > cb.rangePrio
		}
		return comms[ca.i].Priority > comms[cb.i].Priority
	})
	pick := cands[0]
	if r.c.NumberStrategy == store.NumbersTopDown && !comms[pick.i].Top && m.LastNumber > 0 {
		// one attempt per number in turn: the one after the last dialed
		for k, c := range cands {
			if c.i == m.LastNumber-1 {
				pick = cands[(k+1)%len(cands)]
				break
			}
		}
	}
	return choice{index: pick.i, rangeIdx: pick.rangeIdx, day: pick.day}, true, time.Time{}
}

// verdict is what the rules made of an attempt.
type verdict struct {
	Outcome  string // success, short_call, result_wait, ok, error, retry, minus, lost
	EndCause string
}

// classify applies the campaign's rules to a member after an attempt on
// number ch and changes the member accordingly: counters, stopped numbers,
// the next try or the end.
func (r *rules) classify(m *store.Member, attemptID string, ch choice, o attempt.Outcome, now time.Time) verdict {
	p := r.c.Parameters
	cm := &m.Communications[ch.index]
	cm.LastCallAt, cm.LastCause = now.UnixMilli(), o.Cause
	m.LastCallAt, m.LastNumber = now.UnixMilli(), ch.index+1
	v := verdict{}
	counts := true
	switch {
	case o.Cause == CauseLost:
		v.Outcome = "lost"
	case o.AMD == "MACHINE" && o.BridgedAt.IsZero() && r.c.AMD.MachineMessage == "":
		v.Outcome = "machine" // hung up on: tried again, as the cause table says of the hangup
	case o.AMD == "NOTSURE" && o.BridgedAt.IsZero() && !r.c.AMD.AllowNotSure && r.c.AMD.MachineMessage == "":
		v.Outcome = "not_sure"
	case o.Abandoned:
		v.Outcome = "abandoned"
		if !p.RetryAbandoned {
			v.EndCause = EndAbandoned
		}
	case o.Answered && p.WaitingForResultStatus:
		v.Outcome = "result_wait"
	case o.Answered && o.BillMsec >= int64(p.MinBillSec)*1000:
		// billmsec, not billsec: FreeSWITCH's billsec is a difference of
		// whole epoch seconds (1.3 s talked can be billsec 2)
		v.Outcome, v.EndCause = "success", EndSuccess
	case o.Answered:
		v.Outcome = "short_call"
	default:
		switch r.category(o.Cause) {
		case catMinus:
			v.Outcome, counts = "minus", false
		case catOK:
			v.Outcome, v.EndCause = "ok", strings.ToUpper(o.Cause)
		case catError:
			v.Outcome = "error"
			cm.Stopped = true
		default:
			v.Outcome = "retry"
		}
	}
	if o.Abandoned { // the lock-out runs from here
		cm.AbandonedAt = now.UnixMilli()
	}
	if counts {
		m.Attempts++
		cm.Attempts++
		if ch.rangeIdx >= 0 {
			countRange(cm, ch.rangeIdx, ch.day)
		}
		m.Round++
	}
	m.History = appendHistory(m.History, store.CallSummary{Attempt: attemptID, At: now.UnixMilli(), Number: cm.Number, Cause: o.Cause, BillSec: int(o.BillMsec / 1000), Outcome: v.Outcome})
	if v.EndCause != "" {
		m.EndCause = v.EndCause
		return v
	}
	if v.Outcome == "result_wait" {
		m.WaitingResult = attemptID
		m.ResultDeadline = now.Add(time.Duration(p.WrapUpTime) * time.Second).UnixMilli()
		if m.PendingResult != nil { // the result came while the call was on
			res := *m.PendingResult
			m.PendingResult = nil
			v.EndCause = r.applyResult(m, res, now)
			return v
		}
		return v
	}
	r.scheduleNext(m, now, time.Duration(p.IntervalTryCount)*time.Second)
	if v.Outcome == "error" && m.EndCause == EndStopped {
		m.EndCause = strings.ToUpper(o.Cause) // the error stopped the last number
	}
	if m.PendingResult != nil && m.EndCause == "" {
		// A result posted during the call decides over the rules' retry.
		res := *m.PendingResult
		m.PendingResult = nil
		r.applyResult(m, res, now)
	}
	v.EndCause = m.EndCause
	return v
}

// countRange counts an attempt in a number's time range for its local day.
func countRange(cm *store.Communication, idx int, day string) {
	if cm.RangeDay != day {
		cm.RangeDay, cm.RangeAttempts = day, nil
	}
	for len(cm.RangeAttempts) <= idx {
		cm.RangeAttempts = append(cm.RangeAttempts, 0)
	}
	cm.RangeAttempts[idx]++
}

func appendHistory(h []store.CallSummary, s store.CallSummary) []store.CallSummary {
	h = append(h, s)
	if len(h) > store.MaxHistory {
		h = h[len(h)-store.MaxHistory:]
	}
	return h
}

// scheduleNext ends the member if nothing is left to dial, or sets its next
// try after wait.
func (r *rules) scheduleNext(m *store.Member, now time.Time, wait time.Duration) {
	p := r.c.Parameters
	switch {
	case m.Terminate:
		m.EndCause = EndTerminated
		return
	case p.MaxTryCount > 0 && !p.RetriesByNumber && m.Attempts >= p.MaxTryCount:
		m.EndCause = EndMaxTryCount
		return
	}
	usable, exhausted := false, false
	for i := range m.Communications {
		cm := &m.Communications[i]
		if r.numberUsable(cm) {
			usable = true
		} else if !cm.Stopped {
			exhausted = true
		}
	}
	if !usable {
		if exhausted {
			m.EndCause = EndMaxTryCount
		} else {
			m.EndCause = EndStopped
		}
		return
	}
	next := now.Add(wait)
	switch {
	case m.Expire > 0 && next.UnixMilli() >= m.Expire:
		m.EndCause = EndMemberExpired
	case p.OneDayTask && !sameDay(now, next, r.schedule.Location()):
		m.EndCause = EndMemberExpired
	default:
		m.NextTryAt = next.UnixMilli()
	}
}

func sameDay(a, b time.Time, loc *time.Location) bool {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	return ay == by && am == bm && ad == bd
}

// ResultError is a call result that cannot be applied as given.
type ResultError struct {
	Field, Message string
}

func (e *ResultError) Error() string { return e.Field + ": " + e.Message }

// checkResult validates a call result against the member before applying
// it. Numbers to stop that are not the member's are ignored, not refused
// (seed 003's own example names such numbers, and refusing them would
// lose the whole result): it returns what it ignores, each saying why.
func checkResult(m *store.Member, res store.CallResult) (ignored []string, err error) {
	for i, n := range res.StopCommunications {
		norm, err := store.NormalizeNumber(n)
		if err != nil {
			return nil, &ResultError{fmt.Sprintf("stop_communications[%d]", i), err.Error()}
		}
		if indexOfNumber(m, norm) < 0 {
			ignored = append(ignored, fmt.Sprintf("stop_communications[%d]: %s is not a number of member %s", i, norm, m.ID))
		}
	}
	if res.NextCommunication != "" {
		if _, err := store.NormalizeNumber(res.NextCommunication); err != nil {
			return nil, &ResultError{"next_communication", err.Error()}
		}
	}
	if res.NextAfterSec != nil && *res.NextAfterSec < 0 {
		return nil, &ResultError{"next_after_sec", "must not be negative"}
	}
	return ignored, nil
}

func indexOfNumber(m *store.Member, number string) int {
	for i := range m.Communications {
		if m.Communications[i].Number == number {
			return i
		}
	}
	return -1
}

// applyResult applies a call result (seed 000/002/003) to a member that
// is not dialing and returns the end cause, if it ends: success ends it;
// otherwise reset_retries, stop_communications (a list or "all", but not the
// next_communication), next_communication (added with top priority) and
// next_after_sec shape its next try.
func (r *rules) applyResult(m *store.Member, res store.CallResult, now time.Time) string {
	m.WaitingResult, m.ResultDeadline = "", 0
	if res.Success {
		m.EndCause = EndSuccess
		return m.EndCause
	}
	if res.ResetRetries {
		m.Attempts, m.Round = 0, 0
		for i := range m.Communications {
			cm := &m.Communications[i]
			cm.Attempts, cm.RangeAttempts, cm.RangeDay = 0, nil, ""
		}
	}
	next := ""
	if res.NextCommunication != "" {
		next, _ = store.NormalizeNumber(res.NextCommunication)
	}
	for i := range m.Communications {
		cm := &m.Communications[i]
		cm.Top = false
		if res.StopAll && cm.Number != next {
			cm.Stopped = true
		}
	}
	for _, n := range res.StopCommunications {
		if norm, err := store.NormalizeNumber(n); err == nil && norm != next {
			if i := indexOfNumber(m, norm); i >= 0 {
				m.Communications[i].Stopped = true
			}
		}
	}
	if next != "" {
		i := indexOfNumber(m, next)
		if i < 0 {
			m.Communications = append(m.Communications, store.Communication{Number: next})
			i = len(m.Communications) - 1
		}
		m.Communications[i].Top = true
		m.Communications[i].Stopped = false
	}
	wait := time.Duration(r.c.Parameters.IntervalTryCount) * time.Second
	if res.NextAfterSec != nil {
		wait = time.Duration(*res.NextAfterSec) * time.Second
	}
	r.scheduleNext(m, now, wait)
	return m.EndCause
}
