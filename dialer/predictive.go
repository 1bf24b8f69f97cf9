package dialer

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// Predictive dialing: members are dialed ahead of the agents at the rate
// the pacer sets, with no agent reserved; a live answer waits for one at
// most the connect threshold. The loop keeps the answers waiting in order
// and hands their reservations to the campaign's seeker, a worker of its
// own so a reservation never queues behind a batch of claims; an agent
// found is journaled with the attempt before its leg is rung or bridged,
// so a dialer that dies meanwhile leaves its successor the leg to hang up.

func predictive(c *store.Campaign) bool { return c.Type == store.TypePredictive }

// connectOf is the campaign's connect threshold.
func connectOf(c *store.Campaign) time.Duration {
	secs := c.Predictive.ConnectThreshold
	if secs <= 0 {
		secs = store.DefaultConnect
	}
	return time.Duration(secs * float64(time.Second))
}

// connectedInTime reports whether a live answer reached its agent within
// the connect threshold, which runs from the answer or the AMD verdict.
func connectedInTime(o attempt.Outcome, connect time.Duration) bool {
	return !o.BridgedAt.IsZero() && !o.AnsweredAt.IsZero() && o.BridgedAt.Sub(o.AnsweredAt.Add(o.AMDWait)) <= connect
}

// usCallingHours is when a call to a person whose local time is local may
// next be made under the US rules (8:00 to 21:00 their time): zero when it
// may now.
func usCallingHours(local time.Time) time.Time {
	y, m, d := local.Date()
	switch h := local.Hour(); {
	case h < 8:
		return time.Date(y, m, d, 8, 0, 0, 0, local.Location())
	case h >= 21:
		return time.Date(y, m, d+1, 8, 0, 0, 0, local.Location())
	}
	return time.Time{}
}

// lockoutOf is how long a number whose call was abandoned is not dialed
// predictively again.
func lockoutOf(c *store.Campaign) time.Duration {
	h := c.Predictive.AbandonLockoutHours
	if h <= 0 {
		h = store.DefaultAbandonLockout
	}
	return time.Duration(h) * time.Hour
}

// connectBy is when a live answer's wait for an agent ends.
func (f *flight) connectBy() time.Time {
	return f.a.Member.AnsweredAt.Add(f.a.AMDWait + f.a.Connect)
}

// findAgent queues a live answer for an agent (once: an answer whose
// rung agent did not take it may still be in the queue).
func (r *runner) findAgent(f *flight) {
	if !slices.Contains(r.waiting, f) {
		r.waiting = append(r.waiting, f)
	}
	r.seek()
}

// seekRequest is a live answer the seeker reserves an agent for.
type seekRequest struct {
	f       *flight
	journal store.Attempt // a copy: the seeker journals the agent in it
	bucket  string
	// anyAgent: when nobody of the bucket is free, an agent of the
	// campaign will do (a caller who called in).
	anyAgent bool
}

// agentOffer is an agent the seeker reserved for a live answer.
type agentOffer struct {
	f       *flight
	cand    *candidate
	journal *store.Attempt // with the agent
}

// seek hands the answers still waiting to the seeker, oldest first; one
// round at a time. A round that found nobody waits for the next turn or a
// change of the agents (the scheduler runs a turn on either).
func (r *runner) seek() {
	if r.seeking || len(r.waiting) == 0 || r.e.adopting.Load() > 0 {
		return // (while adoptions take their agents back, a free-looking agent may be on an adopted call)
	}
	var reqs []seekRequest
	keep := r.waiting[:0]
	for _, f := range r.waiting {
		if r.flights[f.a.ID] == f && f.a.State == attempt.WaitingAgent && f.a.Agent == nil && !f.a.Member.Ended {
			keep = append(keep, f)
			reqs = append(reqs, seekRequest{f: f, journal: *f.journal, bucket: f.member.Bucket, anyAgent: f.journal.Inbound})
		}
	}
	clear(r.waiting[len(keep):])
	r.waiting = keep
	// The answer whose wait ends first is served first: a predictive
	// answer has the connect threshold (2 s) before it is abandoned, a
	// caller who called in waits longer, hearing music.
	slices.SortStableFunc(reqs, func(a, b seekRequest) int { return a.f.connectBy().Compare(b.f.connectBy()) })
	now := r.now()
	if len(reqs) == 0 || r.e.agents.ready(r.camp, now) == 0 {
		return // nobody to seek for, or nobody ready as far as the view knows
	}
	r.seeking = true
	camp := r.camp
	r.seeker.Push(func(ctx context.Context) {
		offers, err := r.e.reserveFor(ctx, r, camp, reqs, now)
		r.post(func() {
			r.seeking = false
			if err != nil {
				r.storeFailed("reserve agent", err)
			}
			for _, o := range offers {
				r.agentFound(o)
			}
			if len(offers) > 0 {
				r.seek() // more may be ready
			}
		})
	})
}

// reserveFor reserves agents for live answers, in order, each on the
// answer's switch when reached by a session (a bridge joins two legs of
// one switch), and journals each with its attempt before anything is sent
// to the agent. Many answers at once cost a few round trips, not one each:
// the reservations go in pipelined rounds (a refused one is offered the
// next candidate in the next round), the journal in one more. It runs on
// the seeker.
func (e *Engine) reserveFor(ctx context.Context, r *runner, c *store.Campaign, reqs []seekRequest, now time.Time) ([]agentOffer, error) {
	var won []agentOffer
	byNode := map[string][]seekRequest{}
	var nodes []string
	for _, req := range reqs {
		if req.bucket != "" { // its bucket's agents only: one at a time
			ap := &agentPicker{e: e, c: c, now: now, node: req.journal.Node}
			cand, err := ap.reserve(ctx, r, req.bucket, req.journal.ID)
			if err != nil {
				offers, _ := e.journalOffers(ctx, c, won)
				return offers, err
			}
			if cand != nil {
				won = append(won, agentOffer{f: req.f, cand: cand, journal: &req.journal})
				continue
			}
			if !req.anyAgent {
				continue
			}
		}
		if byNode[req.journal.Node] == nil {
			nodes = append(nodes, req.journal.Node)
		}
		byNode[req.journal.Node] = append(byNode[req.journal.Node], req)
	}
	owner, until := r.owner(), now.Add(e.cfg.LeaseTTL)
	for _, node := range nodes {
		var cands []candidate
		for _, cand := range e.agents.candidates(c, "", now) {
			if cand.Live.Session == "" || cand.Live.SessionNode == node {
				cands = append(cands, cand)
			}
		}
		pending, next := byNode[node], 0
		for round := 0; round < maxReserveTries && len(pending) > 0 && next < len(cands); round++ {
			n := min(len(pending), len(cands)-next)
			bids := make([]store.AgentBid, n)
			for i := range bids {
				bids[i] = store.AgentBid{Agent: cands[next+i].ID,
					AgentReservation: store.AgentReservation{Attempt: pending[i].journal.ID, Campaign: c.ID, Owner: owner, Until: until}}
			}
			start := time.Now()
			results, err := e.st.ReserveAgents(ctx, bids, now)
			took := time.Since(start).Seconds()
			if err != nil {
				// Bids Redis may have taken lapse with their lease.
				offers, _ := e.journalOffers(ctx, c, won)
				return offers, err
			}
			var again []seekRequest
			for i, res := range results {
				e.m.ReserveLat.Observe(took)
				cand := cands[next+i]
				switch {
				case res.Err == nil && res.Session != "" && res.SessionNode != node:
					// the view was older than the session: it is on another switch
					e.releaseAgent(ctx, cand.ID, pending[i].journal.ID)
					again = append(again, pending[i])
				case res.Err == nil:
					e.agents.reserved(cand.ID, pending[i].journal.ID, until)
					cand.leg = res.Reserved
					won = append(won, agentOffer{f: pending[i].f, cand: &cand, journal: &pending[i].journal})
				case errors.Is(res.Err, store.ErrAgentNotReady):
					again = append(again, pending[i]) // taken meanwhile: the next candidate
				default:
					e.log.Warn("dialer: agent not reserved", "agent", cand.ID, "error", res.Err)
					again = append(again, pending[i])
				}
			}
			next += n
			pending = append(again, pending[n:]...)
		}
	}
	return e.journalOffers(ctx, c, won)
}

// journalOffers writes each reserved agent into its attempt's journal
// entry in one round trip; an attempt already over gets nobody, and its
// agent goes back.
func (e *Engine) journalOffers(ctx context.Context, c *store.Campaign, won []agentOffer) ([]agentOffer, error) {
	if len(won) == 0 {
		return nil, nil
	}
	journals := make([]*store.Attempt, len(won))
	for i, o := range won {
		j := *o.journal
		j.Agent, j.AgentLeg, j.AgentSession = o.cand.ID, esl.NewUUID(), false
		if o.cand.leg.Session != "" {
			j.AgentLeg, j.AgentSession = o.cand.leg.Session, true
		}
		journals[i], won[i].journal = &j, &j
	}
	open, err := e.st.UpdateAttempts(ctx, c.ID, journals)
	if err != nil {
		for _, o := range won {
			e.releaseAgent(ctx, o.cand.ID, o.journal.ID)
		}
		return nil, err
	}
	offers := won[:0]
	for i, o := range won {
		if open[i] {
			offers = append(offers, o)
		} else { // the call is over: nobody to ring
			e.releaseAgent(ctx, o.cand.ID, o.journal.ID)
		}
	}
	return offers, nil
}

// agentFound gives a waiting answer the agent the seeker reserved.
func (r *runner) agentFound(o agentOffer) {
	f, agent := o.f, o.cand.Agent
	if r.flights[f.a.ID] != f {
		r.releaseReserved(agent.ID, f.a.ID, "", agentTerms{})
		return
	}
	terms := termsOf(agent, r.camp)
	var args string
	if !o.journal.AgentSession {
		var err error
		if args, err = agentOriginateArgs(r.camp, f.member, o.journal, agent, terms, f.a.EndRecords); err != nil {
			r.e.log.Error("dialer: agent cannot be called", "campaign", r.id, "agent", agent.ID, "error", err)
			r.releaseReserved(agent.ID, f.a.ID, "", agentTerms{})
			return
		}
	}
	found := &attempt.Found{Agent: agent.ID, Leg: o.journal.AgentLeg, Session: o.journal.AgentSession,
		Ring: time.Duration(terms.callTimeout) * time.Second}
	if f.a.State != attempt.WaitingAgent || f.a.Agent != nil {
		r.step(f, attempt.Input{Kind: attempt.AgentFound, Found: found}) // it says to give the agent back
		return
	}
	f.journal, f.agent, f.terms, f.waited, f.agentArgs = o.journal, agent, terms, o.cand.waited, args
	r.e.m.AgentWait.Observe(o.cand.waited.Seconds())
	r.legs[found.Leg] = f
	r.e.route(found.Leg, r)
	r.step(f, attempt.Input{Kind: attempt.AgentFound, Found: found})
}

// agentLeft gives back an agent the attempt no longer needs (found too
// late, or rung and not answering), with what the call meant for them.
func (r *runner) agentLeft(f *flight, c attempt.Command) {
	if r.legs[c.Leg] == f && c.Leg != f.a.Member.UUID {
		delete(r.legs, c.Leg)
		r.e.unroute(c.Leg, r)
	}
	terms := f.terms
	if f.agent == nil || f.agent.ID != c.Agent {
		terms = agentTerms{}
	}
	r.releaseReserved(c.Agent, f.a.ID, c.Event, terms)
}

// releaseReserved tells the store an agent reserved for an attempt is
// free of it: ready again, or after the delay a missed call calls for.
func (r *runner) releaseReserved(agent, attemptID, outcome string, t agentTerms) {
	r.tellAgent(agent, attemptID, attempt.Outcome{Agent: outcome}, t)
}

// safeHarbor plays the campaign's safe-harbor message to a live answer no
// agent took in time, then hangs up.
func (r *runner) safeHarbor(f *flight) {
	if f.journal.Inbound { // a caller: back to the dialplan's fallback
		r.e.handBack(f.a.ID)
		return
	}
	r.e.m.SafeHarbor.WithLabelValues(r.id).Inc()
	file := r.camp.Predictive.SafeHarborFile
	if file == "" {
		file = store.DefaultSafeHarborFile
	}
	r.transferInline(f, file)
}

// transferInline plays a file to the member, then hangs up: an inline
// dialplan runs both on the switch, so the member is not left on the line
// if the dialer goes away. A file that cannot go in one (stored before
// the API checked it) ends the call instead. It goes as a job, like a
// bridge: the safe-harbor message is due within the connect threshold
// too, and must not wait behind other calls' commands.
func (r *runner) transferInline(f *flight, file string) {
	var cb commandBuilder
	cb.raw("uuid_transfer ")
	cb.token("uuid", f.a.Member.UUID)
	cb.raw(" playback:")
	cb.soundFile("file", file)
	cb.raw(",hangup:NORMAL_CLEARING inline")
	cmd, err := cb.String()
	if err != nil {
		r.e.log.Error("dialer: message not played: fix the campaign's file", "campaign", r.id, "error", err)
		cmd = "uuid_kill " + f.a.Member.UUID + " NORMAL_CLEARING"
	}
	r.urgent(f, cmd)
}

// resume plays a broadcast's message to a person the amd application
// still holds (it gave no verdict): the originate's application never ran.
func (r *runner) resume(f *flight) {
	bc := r.camp.Broadcast
	if bc.Extension == "" {
		r.transferInline(f, "${"+broadcastFileVar+"}")
		return
	}
	var cb commandBuilder
	cb.raw("uuid_transfer ")
	cb.token("uuid", f.a.Member.UUID)
	cb.raw(" ")
	cb.token("extension", bc.Extension)
	cb.raw(" ")
	cb.token("dialplan", cmp.Or(bc.Dialplan, "XML"))
	cb.raw(" ")
	cb.token("context", cmp.Or(bc.Context, "default"))
	cmd, err := cb.String()
	if err != nil {
		r.e.log.Error("dialer: broadcast not resumed", "campaign", r.id, "error", err)
		cmd = "uuid_kill " + f.a.Member.UUID + " NORMAL_CLEARING"
	}
	r.query(f, cmd)
}

// amdWait is how long the dialer waits for mod_amd's verdict: its
// analysis time and a margin (on a line without audio it never gives one).
func amdWait(a store.AMD) time.Duration {
	ms := a.TotalAnalysisTime
	if ms <= 0 {
		ms = store.DefaultAMDAnalysis
	}
	return time.Duration(ms)*time.Millisecond + amdMargin
}

// amdMargin is the dialer's allowance over mod_amd's analysis time.
const amdMargin = time.Second
