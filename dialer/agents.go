package dialer

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/agentorder"
	"github.com/fsdialer/fsdialer/dialer/pacing"
	"github.com/fsdialer/fsdialer/store"
)

// agentPool is this dialer's view of every agent, shared by its campaigns:
// it orders the candidates for a call by the campaign's strategy, and is
// kept current from the store's stream of agent changes. The view only
// chooses: a reservation is made in Redis, atomically across every dialer
// sharing it (store.ReserveAgent), so one agent never has two calls
// whatever the views say.
type agentPool struct {
	st    *store.Store
	clock clock.Clock
	// changed is told when agents changed (one may be ready now): live
	// answers wait for one.
	changed func()

	mu     sync.Mutex
	agents map[string]store.AgentView
	cursor store.AgentCursor
	loaded bool
}

func newAgentPool(st *store.Store, clk clock.Clock) *agentPool {
	return &agentPool{st: st, clock: clk, agents: map[string]store.AgentView{}}
}

// run keeps the view current until ctx ends, and the agent gauges every
// gaugeEvery refreshes.
func (p *agentPool) run(ctx context.Context, every time.Duration, m *Metrics, failed func(error)) {
	t := clock.NewTicker(p.clock, every)
	defer t.Stop()
	for n := 0; ; n++ {
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			failed(err)
		}
		if n%gaugeEvery == 0 {
			p.gauges(m, p.clock.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh reads the agents changed since the last refresh (all of them
// the first time, or after falling behind the stream).
func (p *agentPool) refresh(ctx context.Context) error {
	p.mu.Lock()
	loaded, cursor := p.loaded, p.cursor
	p.mu.Unlock()
	if !loaded {
		return p.reload(ctx)
	}
	for {
		ids, next, missed, err := p.st.AgentChanges(ctx, cursor)
		if err != nil {
			return err
		}
		if missed {
			return p.reload(ctx)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			a, l, err := p.st.GetAgent(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				p.mu.Lock()
				delete(p.agents, id)
				p.mu.Unlock()
			case err != nil:
				return err
			default:
				p.mu.Lock()
				p.agents[id] = store.AgentView{Agent: a, Live: l}
				p.mu.Unlock()
			}
		}
		p.mu.Lock()
		p.cursor = next
		p.mu.Unlock()
		cursor = next
		if p.changed != nil {
			p.changed()
		}
	}
}

func (p *agentPool) reload(ctx context.Context) error {
	cursor, err := p.st.AgentCursorNow(ctx)
	if err != nil {
		return err
	}
	all, err := p.st.ListAgents(ctx)
	if err != nil {
		return err
	}
	agents := make(map[string]store.AgentView, len(all))
	for _, v := range all {
		agents[v.ID] = v
	}
	p.mu.Lock()
	p.agents, p.cursor, p.loaded = agents, cursor, true
	p.mu.Unlock()
	return nil
}

// gaugeEvery is how many refreshes pass between two updates of the agent
// gauges.
const gaugeEvery = 50

// gauges counts the agents by status and state, and the occupancy of the
// available ones (in a call or its wrap-up).
func (p *agentPool) gauges(m *Metrics, now time.Time) {
	p.mu.Lock()
	counts := map[[2]string]int{}
	available, busy := 0, 0
	sessions := map[string]int{store.SessionRinging: 0, store.SessionUp: 0}
	for _, v := range p.agents {
		if v.Live.Session != "" {
			sessions[v.Live.SessionState]++
		}
		state := v.Live.Shown(now)
		counts[[2]string{v.Live.Status, state}]++
		if store.Available(v.Live.Status) {
			available++
			if state != store.AgentWaiting && state != store.AgentIdle {
				busy++
			}
		}
	}
	p.mu.Unlock()
	m.Agents.Reset()
	for k, n := range counts {
		m.Agents.WithLabelValues(k[0], k[1]).Set(float64(n))
	}
	for state, n := range sessions {
		m.AgentSessions.WithLabelValues(state).Set(float64(n))
	}
	if available > 0 {
		m.Occupancy.Set(float64(busy) / float64(available))
	} else {
		m.Occupancy.Set(0)
	}
}

// reserved notes in the view a reservation this dialer just made, so the
// next placements do not try the agent again before the view is read
// anew.
func (p *agentPool) reserved(id, attempt string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.agents[id]
	if !ok {
		return
	}
	l := *v.Live
	l.State, l.Attempt, l.Until = store.AgentReserved, attempt, until.UnixMilli()
	v.Live = &l
	p.agents[id] = v
}

// withSessions returns the agents reached by a session, and any other
// with a session leg (its reach changed since).
func (p *agentPool) withSessions() []store.AgentView {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []store.AgentView
	for _, v := range p.agents {
		if v.Reach == store.ReachSession || v.Live.Session != "" {
			out = append(out, v)
		}
	}
	return out
}

// all returns the view of every agent.
func (p *agentPool) all() []store.AgentView {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]store.AgentView, 0, len(p.agents))
	for _, v := range p.agents {
		out = append(out, v)
	}
	return out
}

// get returns the view of one agent.
func (p *agentPool) get(id string) (store.AgentView, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.agents[id]
	return v, ok
}

// candidate is an agent who may take a call now.
type candidate struct {
	store.AgentView
	waited time.Duration  // since the agent was last ready
	leg    store.Reserved // once reserved: the agent's session, if reached by one
}

// candidates returns the agents who serve the campaign and are ready at
// now, best first by its strategy; with a bucket, only that bucket's.
func (p *agentPool) candidates(c *store.Campaign, bucket string, now time.Time) []candidate {
	p.mu.Lock()
	var out []candidate
	for _, v := range p.agents {
		if !v.Live.Ready(now) {
			continue
		}
		if bucket != "" && !slices.Contains(v.Buckets, bucket) || bucket == "" && !c.ServedBy(v.Agent) {
			continue
		}
		out = append(out, candidate{AgentView: v, waited: now.Sub(readySince(v.Live))})
	}
	p.mu.Unlock()
	agentorder.Sort(out, c.AgentStrategy, func(c candidate) agentorder.Agent {
		return agentorder.Agent{ID: c.ID, Calls: c.Live.CallsAnswered, TalkTime: c.Live.TalkTime, Waited: c.waited}
	}, rand.Shuffle)
	return out
}

// readySince is when an agent last became ready: the end of its wrap-up or
// delay, its last call, or its status change, whichever is latest.
func readySince(l *store.AgentLive) time.Time {
	return time.Unix(max(l.ReadyTime, l.LastBridgeEnd, l.LastStatusChange), 0)
}

// load is what the pacer sees of a campaign's agents at now: those ready,
// each busy one's time in its call (a reservation not yet talking counts
// as a call just begun), and each one's wrap-up or delay left. Agents not
// available are no one's.
func (p *agentPool) load(c *store.Campaign, now time.Time) pacing.Agents {
	p.mu.Lock()
	defer p.mu.Unlock()
	var a pacing.Agents
	for _, v := range p.agents {
		l := v.Live
		if !store.Available(l.Status) || !c.ServedBy(v.Agent) || l.Reason == store.IdleUnregistered {
			continue
		}
		ready := time.Unix(l.ReadyTime, 0)
		switch {
		case l.Ready(now):
			a.Idle++
		case l.State == store.AgentInCall:
			a.InCall = append(a.InCall, max(now.Sub(time.Unix(l.LastBridgeStart, 0)), 0))
		case l.Reserved(now) || l.State == store.AgentReserved || l.State == store.AgentOffering:
			a.InCall = append(a.InCall, 0)
		case ready.After(now): // wrap-up, or a delay after a missed call
			a.WrapUp = append(a.WrapUp, ready.Sub(now))
		}
	}
	return a
}

// ready counts the agents who may take a call of the campaign now.
func (p *agentPool) ready(c *store.Campaign, now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.agents {
		if v.Live.Ready(now) && c.ServedBy(v.Agent) {
			n++
		}
	}
	return n
}

// agentTerms are an agent's parameters while serving a campaign: the
// campaign's agentParams where set, else the agent's own.
type agentTerms struct {
	callTimeout, wrapUp, maxNoAnswer, busyDelay, rejectDelay, noAnswerDelay int
}

func termsOf(a *store.Agent, c *store.Campaign) agentTerms {
	or := func(campaign, own int) int {
		if campaign > 0 {
			return campaign
		}
		return own
	}
	p := c.AgentParams
	return agentTerms{
		callTimeout: or(p.CallTimeout, a.CallTimeout), wrapUp: or(p.WrapUpTime, a.WrapUpTime),
		maxNoAnswer: or(p.MaxNoAnswer, a.MaxNoAnswer), busyDelay: or(p.BusyDelayTime, a.BusyDelayTime),
		rejectDelay: or(p.RejectDelayTime, a.RejectDelayTime), noAnswerDelay: or(p.NoAnswerDelayTime, a.NoAnswerDelayTime),
	}
}
