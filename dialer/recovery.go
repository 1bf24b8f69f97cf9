package dialer

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// renew extends the leases of the members the campaign holds (in a call,
// or with a write waiting), the gateway slots of its calls, and its own
// runner lease.
func (r *runner) renew() func(ctx context.Context) func() {
	byToken := map[string][]string{}
	type slot struct{ gateway, attempt string }
	var slots []slot
	var agents []string
	for _, f := range r.flights {
		tok := f.lease.get()
		byToken[tok] = append(byToken[tok], f.member.ID)
		if f.a.State >= attempt.Classified {
			continue
		}
		if f.slot != "" {
			slots = append(slots, slot{f.slot, f.a.ID})
		}
		if f.a.Agent != nil {
			agents = append(agents, f.a.AgentID)
		}
	}
	owner := r.owner()
	for id, l := range r.held {
		tok := l.get()
		byToken[tok] = append(byToken[tok], id)
	}
	lease := r.lease
	return func(ctx context.Context) func() {
		now := r.e.clock.Now()
		until := now.Add(r.e.cfg.LeaseTTL)
		for token, ids := range byToken {
			if _, err := r.e.st.RenewLeases(ctx, r.id, token, ids, until); err != nil {
				return func() { r.storeFailed("renew leases", err) }
			}
		}
		for _, s := range slots {
			if err := r.e.st.RenewSlot(ctx, s.gateway, s.attempt, until); err != nil {
				return func() { r.storeFailed("renew slots", err) }
			}
		}
		if _, err := r.e.st.RenewAgents(ctx, owner, agents, until); err != nil {
			return func() { r.storeFailed("renew agents", err) }
		}
		ok, err := r.e.st.RenewRunner(ctx, r.id, lease, now, until)
		return func() {
			switch {
			case err != nil:
				r.storeFailed("renew runner", err)
			case !ok && r.dialing:
				r.e.log.Warn("dialer: another dialer took the campaign; finishing calls in flight", "campaign", r.id)
				r.dialing = false
			}
		}
	}
}

// sweepResults ends the waits for a call result that did not come in
// time: the call counts as not successful.
func (r *runner) sweepResults() func(ctx context.Context) func() {
	p := r.plan
	return func(ctx context.Context) func() {
		now := r.e.clock.Now()
		taken, err := r.e.st.TakeDueResults(ctx, r.id, 100, now, now.Add(r.e.cfg.LeaseTTL))
		if err != nil {
			return func() { r.storeFailed("results", err) }
		}
		return func() {
			for _, t := range taken {
				r.hold(r.e.memberEnd(p, resultWaitEnd(p, t)))
			}
		}
	}
}

// sweepLapsed takes the members whose lease ran out: ours (renewal failed
// during an outage) continue under the new lease, a dead dialer's
// journaled calls are adopted, and those never dialed go back to the queue.
func (r *runner) sweepLapsed() func(ctx context.Context) func() {
	p := r.plan
	return func(ctx context.Context) func() {
		now := r.e.clock.Now()
		taken, err := r.e.st.TakeLapsedLeases(ctx, r.id, 200, now, now.Add(r.e.cfg.LeaseTTL))
		if err != nil || len(taken) == 0 {
			if err != nil {
				return func() { r.storeFailed("lapsed", err) }
			}
			return nil
		}
		journal, err := r.e.st.OpenAttempts(ctx, r.id)
		if err != nil {
			return func() { r.storeFailed("journal", err) }
		}
		byMember := make(map[string]*store.Attempt, len(journal))
		for _, a := range journal {
			byMember[a.Member] = a
		}
		return func() {
			ours := map[string]*memberLease{}
			for _, f := range r.flights {
				ours[f.member.ID] = f.lease
			}
			for id, l := range r.held {
				ours[id] = l
			}
			for _, t := range taken {
				switch a := byMember[t.Member.ID]; {
				case ours[t.Member.ID] != nil:
					ours[t.Member.ID].set(t.Token)
				case a != nil && r.flights[a.ID] == nil:
					a.Token = t.Token
					r.adopt(a, t.Member)
				default:
					r.hold(putBack(p, t, "", 0)) // leased, never dialed
				}
			}
		}
	}
}

// reconcile adopts the journal's open attempts: a dialer that stopped,
// crashed or lost Redis left them. Until it has read the whole journal,
// housekeeping asks again.
func (r *runner) reconcile() func(ctx context.Context) func() {
	return func(ctx context.Context) func() {
		attempts, err := r.e.st.OpenAttempts(ctx, r.id)
		if err != nil {
			return func() { r.storeFailed("journal", err) }
		}
		type found struct {
			a *store.Attempt
			m *store.Member
		}
		adopt := make([]found, 0, len(attempts))
		for _, a := range attempts {
			m, _, err := r.e.st.GetMember(ctx, r.id, a.Member)
			if errors.Is(err, store.ErrNotFound) {
				err = r.e.st.CloseAttempt(ctx, r.id, a.ID)
			}
			if err != nil {
				return func() { r.storeFailed("journal", err) }
			}
			if m != nil {
				adopt = append(adopt, found{a, m})
			}
		}
		return func() {
			r.unreconciled = false
			for _, f := range adopt {
				if r.flights[f.a.ID] == nil {
					r.adopt(f.a, f.m)
				}
			}
			// After the adoptions' AdoptAgent on the same worker: the
			// agents are back in their calls' hands.
			r.do(func(context.Context) { r.adopted() })
		}
	}
}

// adopted notes, once, that the loop's adopted calls hold their agents
// again: the engine's campaigns may dial when every loop has.
func (r *runner) adopted() {
	if r.adoptDone.CompareAndSwap(false, true) {
		r.e.adopting.Add(-1)
		r.e.Wake()
	}
}

// adopt takes over a journaled attempt: nothing is known of it since its
// originate, so its switch is asked (or it waits for its switch to come
// back).
func (r *runner) adopt(a *store.Attempt, m *store.Member) {
	f := &flight{a: attempt.Adopt(a.ID, a.Node, time.UnixMilli(a.StartedAt), a.EndRecord),
		journal: a, member: m, lease: newLease(a.Token),
		choice: choice{index: a.CommIndex, rangeIdx: a.RangeIndex, day: a.RangeDay},
		slot:   a.Gateway, release: r.e.sw.Hold(a.Node)}
	if f.choice.index >= len(m.Communications) {
		f.choice.index = 0
	}
	if predictive(r.camp) && a.Agent == "" { // still waiting for an agent, or not yet answered
		f.a.Connect = connectOf(r.camp)
	}
	if a.Agent != "" {
		// A call for an agent: this runner takes its agent's reservation
		// over, and the agent's terms come from the view (the agent may
		// be gone: then the defaults).
		f.a.Agent, f.a.AgentID = &attempt.Leg{UUID: a.AgentLeg, Node: a.Node}, a.Agent
		if a.AgentSession { // up before the call, and kept after it
			f.a.Agent.Session, f.a.Agent.Answered, f.a.AgentKept = true, true, true
		}
		f.agent = &store.Agent{ID: a.Agent}
		if v, ok := r.e.agents.get(a.Agent); ok {
			f.agent = v.Agent
		}
		f.terms = termsOf(f.agent, r.camp)
		agent, id, owner, until, now := a.Agent, a.ID, r.owner(), r.now().Add(r.e.cfg.LeaseTTL), r.now()
		r.do(func(ctx context.Context) {
			if err := r.e.st.AdoptAgent(ctx, agent, id, owner, until, now); err != nil {
				r.post(func() { r.agentFailed(agent, "adopt", err) })
			}
		})
	}
	r.track(f)
	if r.e.sw.Connected(a.Node) {
		r.verify(f, "adopted")
	} else {
		r.step(f, attempt.Input{Kind: attempt.NodeLost})
	}
}

// verify has an attempt's switch asked about it, as one of a round of
// such questions whose answers are logged together.
func (r *runner) verify(f *flight, why string) {
	if !f.verifying {
		f.verifying = true
		r.recon.pending++
		r.recon.why = why
	}
	r.step(f, attempt.Input{Kind: attempt.Verify})
}

// reconcileRound counts what the switch said of the attempts it was asked
// about after a restart or a reconnect.
type reconcileRound struct {
	why                                           string
	pending                                       int
	up, recorded, ended, notPlaced, lost, unknown int
}

// reconciled counts an answer of a round; the last one logs the round.
func (r *runner) reconciled(f *flight, in attempt.Input) {
	if !f.verifying {
		return
	}
	f.verifying = false
	rc := &r.recon
	rc.pending--
	switch {
	case !in.Known:
		rc.unknown++
	case in.Exists:
		rc.up++
	case f.a.State < attempt.Classified:
		rc.unknown++ // too soon after its originate to tell: asked again
	case f.outcome.NotPlaced:
		rc.notPlaced++
	case f.outcome.From == "end record":
		rc.recorded++
	case f.outcome.From == "lost":
		rc.lost++
	default:
		rc.ended++ // its events came first
	}
	if rc.pending > 0 {
		return
	}
	r.e.log.Info("dialer: calls reconciled with the switch", "campaign", r.id, "after", rc.why,
		"still_up", rc.up, "ended_by_switch_record", rc.recorded, "ended_by_events", rc.ended,
		"never_placed", rc.notPlaced, "lost", rc.lost, "not_known_yet", rc.unknown)
	r.recon = reconcileRound{}
}

// checkLeg asks a switch whether a channel exists (uuid_exists reads the
// session table: unlike "show channels", it does not lag the events) and,
// if it does not, for the end record the switch kept of it.
func checkLeg(ctx context.Context, sw Switch, uuid string, records bool) attempt.Input {
	in := attempt.Input{Kind: attempt.SwitchAnswer, Leg: uuid}
	out, err := sw.API(ctx, "uuid_exists "+uuid)
	if err != nil {
		return in
	}
	in.Known = true
	if strings.TrimSpace(out) == "true" {
		in.Exists = true
		return in
	}
	if !records {
		return in
	}
	out, err = sw.API(ctx, "db select/"+endRecordRealm+"/"+uuid)
	var ce *esl.CommandError
	switch {
	case err == nil:
		in.End, _ = parseEndRecord(out)
	case errors.As(err, &ce) && strings.Contains(ce.Reply, "no reply"):
		// mod_db answers nothing for a missing key: no record
	case errors.As(err, &ce):
		in.Unrecorded = true // no mod_db on this switch
	default:
		in.Known = false
	}
	return in
}
