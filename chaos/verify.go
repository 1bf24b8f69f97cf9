package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// Recorded is what the dialer recorded of one campaign, read from its store
// after the run.
type Recorded struct {
	Campaign   string
	MinBillSec int
	Members    map[string]MemberEnd // by member id
	Records    []store.CallRecord   // the campaign's history
	Attempts   int64                // the campaign's "attempts" counter
	Open       int                  // journal entries left open
	// Agents: the campaign's calls are for agents (progressive), so a
	// call reached its member only when it was bridged to an agent, and a
	// member whose answer no agent took may end ABANDONED.
	Agents bool
}

// MemberEnd is where a member was left.
type MemberEnd struct {
	State     string // store.MemberDone, ...
	EndCause  string
	NextTryAt int64 // ms; a waiting member's due time
}

// Report holds the dialer's records against the switch's ledger. The
// slices name each fault found; Problems lists them.
type Report struct {
	Members   int
	Channels  int // the campaign's channels on the switch, stillborn included
	Stillborn int // made and destroyed at once: never live, never on the network
	Answered  int
	Completed int // answered and billed at least minBillSec: the member was reached
	Records   int
	Lost      int // records the dialer classified DIALER_LOST_CALL
	Attempts  int64
	Open      int

	DoubleDials []sim.Overlap // a number with two live channels at once
	LostMembers []string      // neither done nor waiting for a due try
	Unrecorded  []string      // a channel without a call record
	Duplicated  []string      // a channel with more than one call record
	Phantoms    []string      // a call record of no channel
	Mismatches  []string      // a record whose cause, bill time or answer differ from the switch's
	Redials     []string      // a member dialed again after a call that in truth completed
	// Callbacks: calls that came in from members and that the dialer
	// took (answered); Clashes: one of them while the dialer had a call
	// to the same member up.
	Callbacks int
	Clashes   []string
	EndCauses []string // a member whose end cause is not what its calls earned
	// AbandonedReached: in a campaign with agents, a member ended
	// NORMAL_CLEARING whose only answers no agent took (one of them billed
	// minBillSec): a silent call recorded as a success.
	AbandonedReached []string
}

// Verify holds rec against the ledger led, the switch's record of every
// channel it made.
//
// A stillborn channel (the switch made the session and refused the call at
// once, as for an unknown gateway) is held to the same rule as any other:
// the dialer learns of it from its events and records it, with the
// switch's cause and no bill time. It never lives, so it takes part in no
// double dial and completes nothing.
func Verify(led sim.Ledger, rec Recorded) Report {
	r := Report{Members: len(rec.Members), Records: len(rec.Records), Attempts: rec.Attempts, Open: rec.Open}
	// An agent's leg (rung for one call, or a persistent session) is not a
	// member call: it has no record of its own, counts as no attempt, and
	// its agent is called again and again by design. VerifyAgents holds
	// the agents' legs to their own rules.
	// A call that came in is the caller's, not the dialer's: no attempt,
	// no double dial of the number the caller dialed.
	var memberCalls, callbacks []sim.CallRecord
	for _, c := range led.Calls {
		switch {
		case c.Endpoint == sim.InboundEndpoint:
			callbacks = append(callbacks, c)
		case !isAgentLeg(c):
			memberCalls = append(memberCalls, c)
		}
	}
	r.DoubleDials = sim.Ledger{Calls: memberCalls}.Overlaps()

	byAttempt := map[string][]store.CallRecord{}
	for _, cr := range rec.Records {
		byAttempt[cr.Attempt] = append(byAttempt[cr.Attempt], cr)
		if cr.Cause == "DIALER_LOST_CALL" {
			r.Lost++
		}
	}
	completes := func(c sim.CallRecord) bool {
		return !c.Stillborn && !c.Answered.IsZero() && c.Billmsec >= int64(rec.MinBillSec)*1000 &&
			(!rec.Agents || len(c.Bridges) > 0)
	}
	abandoned := map[string]bool{} // members with an answer no agent took
	longAlone := map[string]bool{} // ... billed minBillSec
	channels := map[string]bool{}
	perMember := map[string][]sim.CallRecord{}
	for _, c := range memberCalls {
		if c.Variables["dialer_campaign_id"] != rec.Campaign {
			continue
		}
		r.Channels++
		channels[c.UUID] = true
		member := c.Variables["dialer_member_id"]
		perMember[member] = append(perMember[member], c)
		switch {
		case c.Stillborn:
			r.Stillborn++
		case !c.Answered.IsZero():
			r.Answered++
		}
		if completes(c) {
			r.Completed++
		}
		if rec.Agents && !c.Stillborn && !c.Answered.IsZero() && len(c.Bridges) == 0 {
			abandoned[member] = true
			longAlone[member] = longAlone[member] || c.Billmsec >= int64(rec.MinBillSec)*1000
		}
		recs := byAttempt[c.UUID]
		switch len(recs) {
		case 0:
			r.Unrecorded = append(r.Unrecorded, fmt.Sprintf("%s (member %s, %s): no call record; the switch says %s after %d ms", c.UUID, member, c.Destination, c.HangupCause, c.Billmsec))
			continue
		case 1:
		default:
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("%s (member %s): %d call records", c.UUID, member, len(recs)))
		}
		cr := recs[0]
		if cr.Cause != c.HangupCause || cr.BillMsec != c.Billmsec || (cr.AnsweredAt != 0) != !c.Answered.IsZero() {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s (member %s): recorded %s after %d ms (answered %v), the switch says %s after %d ms (answered %v)",
				c.UUID, member, cr.Cause, cr.BillMsec, cr.AnsweredAt != 0, c.HangupCause, c.Billmsec, !c.Answered.IsZero()))
		}
	}
	for _, c := range callbacks {
		channels[c.UUID] = true
	}
	for _, cr := range rec.Records {
		if !channels[cr.Attempt] {
			r.Phantoms = append(r.Phantoms, fmt.Sprintf("%s (member %s): recorded %s, but the switch made no such channel", cr.Attempt, cr.Member, cr.Cause))
		}
	}

	reached := map[string]bool{}
	for member, calls := range perMember {
		sort.Slice(calls, func(i, j int) bool { return calls[i].CreatedSeq < calls[j].CreatedSeq })
		for i, c := range calls {
			if !completes(c) {
				continue
			}
			reached[member] = true
			if later := calls[i+1:]; len(later) > 0 {
				r.Redials = append(r.Redials, fmt.Sprintf("member %s: %s answered for %d ms, then %d more call(s), the first %s", member, c.UUID, c.Billmsec, len(later), later[0].UUID))
			}
			break
		}
	}

	r.checkCallbacks(callbacks, byAttempt, perMember, reached, completes)

	ids := make([]string, 0, len(rec.Members))
	for id := range rec.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := rec.Members[id]
		switch {
		case m.State == store.MemberDone:
			if got, want := m.EndCause == "NORMAL_CLEARING", reached[id]; got && !want && longAlone[id] {
				r.AbandonedReached = append(r.AbandonedReached, fmt.Sprintf("member %s ended NORMAL_CLEARING, but no agent took any of their answers", id))
			} else if got != want {
				r.EndCauses = append(r.EndCauses, fmt.Sprintf("member %s ended %s, but in truth it was reached: %v", id, m.EndCause, want))
			} else if m.EndCause == "ABANDONED" && !abandoned[id] {
				r.EndCauses = append(r.EndCauses, fmt.Sprintf("member %s ended ABANDONED, but every answer of theirs was bridged to an agent", id))
			}
		case (m.State == store.MemberWaiting && m.NextTryAt > 0) || m.State == store.MemberReady:
			// scheduled: a run that stops before the campaign ends leaves some
		default:
			r.LostMembers = append(r.LostMembers, fmt.Sprintf("member %s: %s", id, m.State))
		}
	}
	return r
}

// checkCallbacks holds the callbacks the dialer took (it answered them:
// the simulator's fallback does not) to the dialer's records: one record
// each, as the member's; none while the dialer had a call to that member
// up (the member is leased for its callback); a callback an agent talked
// through for minBillSec reached its member (the campaign's rules judge
// it, unless the member was finished already), and no call to the member
// follows it.
func (r *Report) checkCallbacks(callbacks []sim.CallRecord, byAttempt map[string][]store.CallRecord,
	perMember map[string][]sim.CallRecord, reached map[string]bool, completes func(sim.CallRecord) bool) {
	for _, c := range callbacks {
		if c.Answered.IsZero() {
			continue
		}
		r.Callbacks++
		recs := byAttempt[c.UUID]
		switch len(recs) {
		case 0:
			r.Unrecorded = append(r.Unrecorded, fmt.Sprintf("%s (a callback from %s): no call record; the switch says %s after %d ms", c.UUID, c.Caller, c.HangupCause, c.Billmsec))
			continue
		case 1:
		default:
			r.Duplicated = append(r.Duplicated, fmt.Sprintf("%s (a callback from %s): %d call records", c.UUID, c.Caller, len(recs)))
		}
		member := recs[0].Member
		until := c.HungUp
		if until.IsZero() {
			until = time.Unix(1<<40, 0) // still up
		}
		for _, m := range perMember[member] {
			mEnd := m.HungUp
			if mEnd.IsZero() {
				mEnd = time.Unix(1<<40, 0)
			}
			if !m.Stillborn && m.Created.Before(until) && c.Answered.Before(mEnd) {
				r.Clashes = append(r.Clashes, fmt.Sprintf("member %s: their callback %s (answered %s) and the call %s to them (created %s) at once",
					member, c.UUID, c.Answered.Format(time.RFC3339Nano), m.UUID, m.Created.Format(time.RFC3339Nano)))
			}
		}
		if !completes(c) || strings.HasPrefix(recs[0].Outcome, "inbound_") {
			continue // (inbound_*: the member was finished already; the callback left it so)
		}
		reached[member] = true
		for _, m := range perMember[member] {
			if m.CreatedSeq > c.HungUpSeq && c.HungUpSeq > 0 {
				r.Redials = append(r.Redials, fmt.Sprintf("member %s: their callback %s was talked through (%d ms; recorded %s, %s), then the call %s", member, c.UUID, c.Billmsec, recs[0].Outcome, recs[0].Cause, m.UUID))
				break
			}
		}
	}
}

// isAgentLeg tells an agent's leg (the dialer sets dialer_agent_id on
// every originate to an agent: rung for one call, or a session) from a
// member's call.
func isAgentLeg(c sim.CallRecord) bool { return c.Variables["dialer_agent_id"] != "" }

// Problems lists every fault found, the attempts counter that disagrees
// with the switch's channels, and journal entries left open.
func (r Report) Problems() []string {
	var out []string
	for _, o := range r.DoubleDials {
		out = append(out, "double dial: "+o.String())
	}
	for _, group := range []struct {
		what string
		list []string
	}{
		{"lost member", r.LostMembers}, {"unrecorded call", r.Unrecorded}, {"duplicated record", r.Duplicated},
		{"record of no call", r.Phantoms}, {"outcome mismatch", r.Mismatches}, {"redial after a completed call", r.Redials},
		{"wrong end cause", r.EndCauses}, {"abandoned, recorded reached", r.AbandonedReached},
		{"callback during a call", r.Clashes},
	} {
		for _, s := range group.list {
			out = append(out, group.what+": "+s)
		}
	}
	if r.Attempts != int64(r.Channels) {
		out = append(out, fmt.Sprintf("attempts: the dialer counted %d, the switch made %d channels", r.Attempts, r.Channels))
	}
	if r.Open != 0 {
		out = append(out, fmt.Sprintf("journal: %d attempts left open", r.Open))
	}
	return out
}
