package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// plan is one version of a campaign made ready to dial: its rules, routes
// and calendar. It never changes once built, so the campaign loop and its
// workers share it freely; a campaign edit builds a new one.
type plan struct {
	camp   *store.Campaign
	rules  *rules
	router *router
	// direct: the campaign is the dialer's calls campaign, whose calls
	// are click-to-calls: placed on request only, each tried once.
	direct bool
	// broken says why this version cannot dial (stored before a check
	// the API now makes, its calendar gone); its attempts in flight are
	// still classified by its rules.
	broken error
}

// buildPlan prepares a campaign; it reads its calendar, and fails only
// when the store does.
func buildPlan(ctx context.Context, st *store.Store, c *store.Campaign) (*plan, error) {
	p := &plan{camp: c}
	sched := AlwaysOpen
	if c.Calendar.ID != "" {
		cal, err := st.GetCalendar(ctx, c.Calendar.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.broken = fmt.Errorf("campaign %s: its calendar %s: %w", c.ID, c.Calendar.ID, err)
		case err != nil:
			return nil, fmt.Errorf("calendar of campaign %s: %w", c.ID, err)
		default:
			s, err := NewSchedule(cal)
			if err != nil {
				p.broken = fmt.Errorf("campaign %s: its calendar %s: %w", c.ID, c.Calendar.ID, err)
			} else {
				sched = s
			}
		}
	}
	if err := c.Validate(); err != nil {
		p.broken = fmt.Errorf("campaign %s: %w", c.ID, err)
	}
	rt, err := newRouter(c)
	if err != nil {
		p.broken = fmt.Errorf("campaign %s: routes: %w", c.ID, err)
		rt = &router{}
	}
	p.rules, p.router = newRules(c, sched), rt
	return p, nil
}

// placement is what one dial turn made of the members it claimed.
type placement struct {
	calls   []*placed               // journaled, with a line: originate them
	writes  []*memberWrite          // members put back or ended without a call
	blocked bool                    // the lines or the switches ran out
	err     error                   // the store failed
	op      string                  // where it failed
	invalid []invalidMember         // members whose data cannot go in a command
	agents  *agentPicker            // who takes the calls, for campaigns with agents
	dnc     map[string]store.DNCHit // the claimed numbers that a do-not-call list has
}

type invalidMember struct {
	id  string
	err error
}

// placed is a member ready to be called.
type placed struct {
	journal *store.Attempt
	member  *store.Member // as claimed: the version to write over
	token   string
	choice  choice
	target  target
	release func() // the node's line
	args    string // of the originate
	// A call for an agent: the agent reserved, its terms in this
	// campaign, how long it had waited, the originate that rings it.
	agent     *store.Agent
	terms     agentTerms
	waited    time.Duration
	agentArgs string
}

// place claims up to n ready members of the campaign and prepares a call
// for each: the rules decide whether and which number now, the router the
// gateway, a slot of the gateway and a line of a switch are taken, and the
// attempt is journaled. It runs on the campaign's store worker, never on
// its loop; it reads the plan and the engine's shared state only.
func (e *Engine) place(ctx context.Context, r *runner, p *plan, n int) placement {
	var res placement
	now := e.clock.Now()
	res.agents = &agentPicker{e: e, c: p.camp, now: now}
	var claimed []store.Claimed
	err := e.timed("claim", func() (err error) {
		claimed, err = e.st.ClaimMembers(ctx, r.id, n, now, now.Add(e.cfg.LeaseTTL))
		return err
	})
	if err != nil {
		res.err, res.op = err, "claim"
		return res
	}
	if len(claimed) == 0 {
		e.lines.drop(r) // nothing to dial: no claim on anyone's lines
		return res
	}
	if err := e.timed("dnc", func() (err error) { res.dnc, err = e.st.CheckDNC(ctx, r.id, dialable(claimed)); return err }); err != nil {
		res.err, res.op = err, "do-not-call check"
		for _, cl := range claimed {
			res.writes = append(res.writes, putBack(p, cl, "", 0))
		}
		return res
	}
	for i, cl := range claimed {
		if r.stopping.Load() || res.blocked || res.err != nil {
			res.writes = append(res.writes, putBack(p, cl, "", 0))
			continue
		}
		e.placeOne(ctx, r, p, cl, now, &res)
		if res.blocked || res.err != nil {
			for _, rest := range claimed[i+1:] {
				res.writes = append(res.writes, putBack(p, rest, "", 0))
			}
			break
		}
	}
	return res
}

// placeOne decides one claimed member.
func (e *Engine) placeOne(ctx context.Context, r *runner, p *plan, cl store.Claimed, now time.Time, res *placement) {
	m := cloneMember(cl.Member)
	fallback := p.rules.schedule.Location()
	localTime := func(number string) time.Time { return now.In(e.zones.of(m, number, fallback)) }
	switch {
	case m.EndCause != "":
		res.writes = append(res.writes, putBack(p, cl, "", 0))
		return
	case m.Expire > 0 && now.UnixMilli() >= m.Expire:
		res.writes = append(res.writes, e.memberEnd(p, endMember(p, cl, EndMemberExpired)))
		return
	case m.Terminate:
		res.writes = append(res.writes, e.memberEnd(p, endMember(p, cl, EndTerminated)))
		return
	}
	ch, ok, wait := p.rules.chooseNumber(m, localTime)
	for ok { // a listed number is stopped, on the member written back
		hit, listed := res.dnc[m.Communications[ch.index].Number]
		if !listed {
			break
		}
		stopListed(cl.Member, ch.index, now)
		m.Communications[ch.index].Stopped = true
		e.m.DNCListed.WithLabelValues(r.id, cmp.Or(hit.List, "global")).Inc()
		ch, ok, wait = p.rules.chooseNumber(m, localTime)
	}
	if !ok {
		if wait.IsZero() { // no number left at all
			cause := ""
			if everyNumberListed(cl.Member) {
				cause = EndDNCListed
			}
			res.writes = append(res.writes, e.memberEnd(p, endMember(p, cl, cause)))
		} else { // none allowed at this hour
			res.writes = append(res.writes, putBackAt(p, cl, wait))
		}
		return
	}
	number := m.Communications[ch.index].Number
	if next, open := p.rules.schedule.NextOpen(now, e.zones.of(m, number, fallback)); !open {
		res.writes = append(res.writes, putBack(p, cl, "", 0)) // the calendar is over: the campaign will finish
		return
	} else if next.After(now) {
		res.writes = append(res.writes, putBackAt(p, cl, next)) // outside the person's local hours
		return
	}
	if p.camp.Compliance == store.ComplianceUS {
		if next := usCallingHours(localTime(number)); !next.IsZero() {
			res.writes = append(res.writes, putBackAt(p, cl, next)) // 8:00-21:00 in the called party's time
			return
		}
	}
	a := &store.Attempt{ID: esl.NewUUID(), Campaign: r.id, Member: m.ID, Token: cl.Token, Number: number,
		CommIndex: ch.index, RangeIndex: ch.rangeIdx, RangeDay: ch.day, StartedAt: now.UnixMilli(), EndRecord: e.endRecords}
	targets := p.router.targets(number)
	if len(targets) == 0 {
		res.writes = append(res.writes, withEvents(noRoute(p, cl, a, ch), func(m *store.Member, v verdict, now time.Time) [][]byte {
			return e.outcomeEvents(p.camp, m, a, nil, attempt.Outcome{Cause: "NO_ROUTE_DESTINATION"}, v, now)
		}))
		return
	}
	var agent *candidate
	if needsAgent(p.camp) {
		var err error
		if agent, err = res.agents.reserve(ctx, r, m.Bucket, a.ID); err != nil {
			res.err, res.op = err, "reserve agent"
			res.writes = append(res.writes, putBack(p, cl, "", 0))
			return
		}
		if agent == nil {
			if m.Bucket != "" { // its agents are busy: others may still be called
				res.writes = append(res.writes, putBackAt(p, cl, now.Add(bucketWait)))
				return
			}
			res.blocked = true // no agent is ready: nor for the members after it
			res.writes = append(res.writes, putBack(p, cl, "", 0))
			return
		}
	}
	e.dial(ctx, r, p, cl, m, a, ch, targets, agent, now, res)
}

// dial takes a gateway slot and a switch line for an attempt of a claimed
// member, builds its originates and journals it: the end of every
// placement, the campaign's turns' and click-to-call's. The agent, if
// any, is reserved already; it is given back if the call cannot be placed.
func (e *Engine) dial(ctx context.Context, r *runner, p *plan, cl store.Claimed, m *store.Member, a *store.Attempt, ch choice, targets []target, agent *candidate, now time.Time, res *placement) {
	if agent != nil {
		a.Agent, a.AgentLeg = agent.ID, esl.NewUUID()
		if agent.leg.Session != "" { // the member is bridged into the agent's session
			a.AgentLeg, a.AgentSession = agent.leg.Session, true
		}
	}
	// unreserve gives the agent back when the call cannot be placed.
	unreserve := func() {
		if agent != nil {
			e.releaseAgent(ctx, agent.ID, a.ID)
		}
	}
	var tgt *target
	for i := range targets {
		t := &targets[i]
		if e.lines.outranked(t.GwName, r, r.prio()) {
			continue // a campaign of higher priority waits for this gateway
		}
		ok, err := e.st.AcquireSlot(ctx, t.GwName, a.ID, t.Limit, now, now.Add(e.cfg.LeaseTTL))
		if err != nil {
			unreserve()
			res.err, res.op = err, "slot"
			res.writes = append(res.writes, putBack(p, cl, "", 0))
			return
		}
		if ok {
			e.lines.got(t.GwName, r)
			tgt = t
			break
		}
		e.lines.want(t.GwName, r, r.prio())
	}
	if tgt == nil { // every destination is at its limit
		unreserve()
		res.blocked = true
		res.writes = append(res.writes, putBack(p, cl, "", 0))
		return
	}
	release := func() { e.releaseSlot(tgt.GwName, a.ID) }
	var sw Switch
	var releaseLine func()
	var err error
	if a.AgentSession { // a bridge joins two legs of one switch
		sw, releaseLine, err = e.sw.AcquireOn(agent.leg.SessionNode)
	} else {
		sw, releaseLine, err = e.sw.Acquire()
	}
	if err != nil {
		unreserve()
		release()
		res.blocked = true
		res.writes = append(res.writes, putBack(p, cl, "", 0))
		return
	}
	a.Node, a.Gateway, a.DialString = sw.Name(), tgt.GwName, tgt.Endpoint()
	args, err := originateArgs(p.camp, m, a, *tgt, e.endRecords)
	pl := &placed{journal: a, member: cl.Member, token: cl.Token, choice: ch, target: *tgt, release: releaseLine, args: args}
	if agent != nil && err == nil {
		pl.agent, pl.terms, pl.waited = agent.Agent, termsOf(agent.Agent, p.camp), agent.waited
		if !a.AgentSession {
			pl.agentArgs, err = agentOriginateArgs(p.camp, m, a, agent.Agent, pl.terms, e.endRecords)
		}
	}
	if err != nil {
		unreserve()
		// The campaign was checked when its plan was built, so the
		// member's own data cannot be sent (stored before the API
		// refused such values): it is set aside, not dialed.
		releaseLine()
		release()
		res.invalid = append(res.invalid, invalidMember{m.ID, err})
		res.writes = append(res.writes, e.memberEnd(p, endMember(p, cl, EndInvalidMember)))
		return
	}
	if err := e.timed("journal", func() error { return e.st.OpenAttempt(ctx, a) }); err != nil {
		unreserve()
		releaseLine()
		release()
		res.err, res.op = err, "journal"
		res.writes = append(res.writes, putBack(p, cl, "", 0))
		return
	}
	res.calls = append(res.calls, pl)
}

// dialable lists the numbers claimed members may still be called on.
func dialable(claimed []store.Claimed) []string {
	var out []string
	for _, cl := range claimed {
		for _, cm := range cl.Member.Communications {
			if !cm.Stopped {
				out = append(out, cm.Number)
			}
		}
	}
	return out
}

// stopListed stops a member's number that a do-not-call list has, and
// says so in its history.
func stopListed(m *store.Member, idx int, now time.Time) {
	cm := &m.Communications[idx]
	cm.Stopped, cm.LastCause = true, EndDNCListed
	m.History = appendHistory(m.History, store.CallSummary{At: now.UnixMilli(), Number: cm.Number, Cause: EndDNCListed, Outcome: "dnc"})
}

// everyNumberListed reports whether each of a member's numbers was stopped
// for a do-not-call list.
func everyNumberListed(m *store.Member) bool {
	for _, cm := range m.Communications {
		if !cm.Stopped || cm.LastCause != EndDNCListed {
			return false
		}
	}
	return len(m.Communications) > 0
}

// memberEnd stores a member_end event with a write that may end a member
// without a call.
func (e *Engine) memberEnd(p *plan, mw *memberWrite) *memberWrite {
	return withEvents(mw, func(m *store.Member, v verdict, now time.Time) [][]byte {
		return e.outcomeEvents(p.camp, m, nil, nil, attempt.Outcome{NotPlaced: true}, v, now)
	})
}

// bucketWait is how long a member bound to busy agents waits before it is
// claimed again.
const bucketWait = 10 * time.Second

// needsAgent reports whether a campaign's calls need an agent.
func needsAgent(c *store.Campaign) bool {
	return c.Type == store.TypeProgressive || c.Type == store.TypePreview
}

// agentPicker hands out the candidates of one placement, best first: the
// campaign's are ordered once per placement, a bucket's when a member
// bound to it comes.
type agentPicker struct {
	e   *Engine
	c   *store.Campaign
	now time.Time
	// node, when set, is the switch of a member already called: an agent
	// reached by a session elsewhere cannot be bridged to it.
	node   string
	cands  []candidate
	next   int
	sorted bool
}

// reserve reserves the best ready agent for an attempt; none (nil) when
// no candidate could be had. Candidates taken meanwhile by another
// campaign or dialer are skipped.
func (ap *agentPicker) reserve(ctx context.Context, r *runner, bucket, attemptID string) (*candidate, error) {
	e := ap.e
	cands, next := &ap.cands, &ap.next
	var own []candidate
	var ownNext int
	if bucket != "" {
		own = e.agents.candidates(ap.c, bucket, ap.now)
		cands, next = &own, &ownNext
	} else if !ap.sorted {
		ap.cands, ap.sorted = e.agents.candidates(ap.c, "", ap.now), true
	}
	for tries := 0; *next < len(*cands) && tries < maxReserveTries; tries++ {
		cand := &(*cands)[*next]
		*next++
		if ap.node != "" && cand.Live.Session != "" && cand.Live.SessionNode != ap.node {
			tries--
			continue
		}
		start := time.Now()
		until := ap.now.Add(e.cfg.LeaseTTL)
		leg, err := e.st.ReserveAgent(ctx, cand.ID, store.AgentReservation{Attempt: attemptID, Campaign: ap.c.ID, Owner: r.owner(), Until: until}, ap.now)
		e.m.ReserveLat.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			e.agents.reserved(cand.ID, attemptID, until)
			got := *cand
			got.leg = leg
			return &got, nil
		case errors.Is(err, store.ErrAgentNotReady):
		default:
			return nil, err
		}
	}
	return nil, nil
}

// maxReserveTries bounds the candidates one placement tries: a view that
// is that stale is refreshed before the next turn.
const maxReserveTries = 5

// releaseAgent gives back an agent reserved for a call never placed.
func (e *Engine) releaseAgent(ctx context.Context, agent, attemptID string) {
	if err := e.st.AgentEvent(ctx, agent, attemptID, store.AgentRelease, e.clock.Now()); err != nil && !errors.Is(err, store.ErrConflict) {
		e.log.Warn("dialer: agent reservation left to lapse", "agent", agent, "attempt", attemptID, "error", err)
	}
}

// releaseSlot frees a gateway slot; one that cannot be freed lapses with
// its lease.
func (e *Engine) releaseSlot(gateway, attempt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.st.ReleaseSlot(ctx, gateway, attempt); err != nil && !errors.Is(err, context.Canceled) {
		e.log.Warn("dialer: gateway slot left to lapse", "gateway", gateway, "attempt", attempt, "error", err)
	}
}
