package dialer

import (
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/store"
)

// Hooks is where the engine's call events go out to CRMs: it says which
// events a campaign's hooks want and is told when new ones are stored
// (package hooks's Dispatcher delivers them from the campaign's outbox).
type Hooks interface {
	Wants(campaign, event string) bool
	Notify(campaign string)
}

// The events of a call are stored in order through the campaign's writer:
// offering and bridged as they happen, missed, ended and member_end in
// the same script as the outcome they report, so an event is stored if and
// only if what it reports is, and a call's events reach a hook in the
// order they happened.

func (e *Engine) wants(campaign, event string) bool {
	return e.cfg.Hooks != nil && e.cfg.Hooks.Wants(campaign, event)
}

// callOf is what every event of an attempt says.
func callOf(c *store.Campaign, m *store.Member, a *store.Attempt) hooks.Call {
	call := hooks.Call{Campaign: c.ID, CampaignName: c.Name, Member: m.ID, MemberName: m.Name, Variables: m.Variables}
	if a != nil {
		call.Attempt, call.UUID, call.CID, call.Inbound = a.ID, a.ID, a.Number, a.Inbound
	}
	return call
}

func agentOf(f *flight) hooks.Agent {
	ext := ""
	if f.agent != nil {
		ext = f.agent.Contact
	}
	return hooks.Agent{ID: f.a.AgentID, Extension: ext}
}

// callEvent stores an offering or bridged event of a flight.
func (r *runner) callEvent(f *flight, name string, at time.Time) {
	if !r.e.wants(r.id, name) {
		return
	}
	call := callOf(r.camp, f.member, f.journal)
	ev := hooks.NewOffering(call, agentOf(f), at)
	switch {
	case name == hooks.Bridged:
		ev = hooks.NewBridged(call, agentOf(f), at)
	case f.a.State == attempt.Offered:
		ev.Preview = true
	}
	r.appendEvents(ev)
}

// appendEvents stores events through the writer, in order with the
// campaign's member writes.
func (r *runner) appendEvents(evs ...hooks.Event) {
	bodies, err := hooks.Marshal(evs...)
	if err != nil {
		r.e.log.Error("dialer: call events not stored", "campaign", r.id, "error", err)
		return
	}
	r.writer.push(&memberWrite{events: bodies, done: func(verdict, error) { r.e.notifyHooks(r.id) }})
}

func (e *Engine) notifyHooks(campaign string) {
	if e.cfg.Hooks != nil {
		e.cfg.Hooks.Notify(campaign)
	}
}

// outcomeEvents are the events an attempt's outcome stores with the
// member: missed (the agent did not take it), ended, and member_end when
// the member is finished.
func (e *Engine) outcomeEvents(c *store.Campaign, m *store.Member, a *store.Attempt, f *flight, o attempt.Outcome, v verdict, now time.Time) [][]byte {
	call := callOf(c, m, a)
	var evs []hooks.Event
	if f != nil && f.a.Agent != nil && o.Agent != attempt.AgentEnded && o.Agent != attempt.AgentReleased && e.wants(c.ID, hooks.Missed) {
		evs = append(evs, hooks.NewMissed(call, agentOf(f), now))
	}
	end := hooks.End{Cause: o.Cause, Outcome: v.Outcome, EndCause: m.EndCause, BillMsec: o.BillMsec}
	if !o.AnsweredAt.IsZero() {
		end.AnsweredAt = o.AnsweredAt.UnixMilli()
	}
	if !o.NotPlaced && e.wants(c.ID, hooks.Ended) {
		evs = append(evs, hooks.NewEnded(call, end, now))
	}
	if m.EndCause != "" && e.wants(c.ID, hooks.MemberEnd) {
		evs = append(evs, hooks.NewMemberEnd(call, end, now))
	}
	bodies, err := hooks.Marshal(evs...)
	if err != nil {
		e.log.Error("dialer: call events not stored", "campaign", c.ID, "error", err)
		return nil
	}
	return bodies
}
