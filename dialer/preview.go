package dialer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/store"
)

// Preview dialing: a member is claimed and an agent reserved as for a
// progressive call, but nothing is dialed until the agent has seen the
// member (the offer, in Redis, so any API instance shows it and takes the
// answer) and accepted; a skip puts the member back with no attempt
// counted. The answer reaches the campaign's loop at once when this
// dialer runs the campaign, else by the loop's look at its offers every
// second.

// offerTimeoutOf is how long a campaign's offers wait for the agent.
func offerTimeoutOf(c *store.Campaign) time.Duration {
	s := c.Preview.OfferTimeout
	if s <= 0 {
		s = store.DefaultOfferTimeout
	}
	return time.Duration(s) * time.Second
}

// offer shows a flight's member to its agent, and tells the CRMs
// (offering, with preview true).
func (r *runner) offer(f *flight, now time.Time) {
	o := &store.Offer{Agent: f.a.AgentID, Campaign: r.id, Attempt: f.a.ID, Member: f.member.ID, Name: f.member.Name,
		Number: f.journal.Number, OfferedAt: now.UnixMilli(), ExpiresAt: now.Add(f.a.OfferFor).UnixMilli(), OnTimeout: store.PreviewSkip}
	if f.a.DialOnTimeout {
		o.OnTimeout = store.PreviewDial
	}
	r.callEvent(f, hooks.Offering, now)
	r.do(func(ctx context.Context) {
		if err := r.e.st.PutOffer(ctx, o); err != nil {
			r.post(func() { r.storeFailed("offer", err) })
		}
	})
}

// withdraw takes an answered or expired offer down.
func (r *runner) withdraw(f *flight) {
	agent, id := f.a.AgentID, f.a.ID
	r.do(func(ctx context.Context) {
		if err := r.e.st.DropOffer(ctx, agent, id); err != nil {
			r.e.log.Warn("dialer: offer left up", "agent", agent, "attempt", id, "error", err)
		}
	})
}

// expireOffer answers an offer whose time is up as the campaign says,
// through the store's first-answer-stands: an agent's answer stored just
// before wins (the API told them it was taken).
func (r *runner) expireOffer(f *flight) {
	decision := store.PreviewSkip
	if f.a.DialOnTimeout {
		decision = store.PreviewAccept
	}
	agent, id := f.a.AgentID, f.a.ID
	r.do(func(ctx context.Context) {
		o, err := r.e.st.DecideOffer(ctx, agent, decision, "no answer")
		d, why := decision, "no answer"
		switch {
		case err == nil || errors.Is(err, store.ErrConflict) && o != nil && o.Attempt == id:
			d, why = o.Decision, o.Reason
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
			// no offer stored (or another's): the campaign's answer
		default:
			r.post(func() { r.storeFailed("offer", err) })
		}
		r.post(func() { r.answered(id, d, why) })
	})
}

// answered applies an agent's answer to a flight's offer.
func (r *runner) answered(attemptID, decision, reason string) {
	f := r.flights[attemptID]
	if f == nil || f.a.State != attempt.Offered {
		return
	}
	kind := attempt.Skipped
	if decision == store.PreviewAccept {
		kind = attempt.Accepted
	}
	r.step(f, attempt.Input{Kind: kind, Cause: reason})
}

// checkOffers reads the answers to the loop's offers an API of another
// dialer took.
func (r *runner) checkOffers() func(ctx context.Context) func() {
	var ids []string
	for id, f := range r.flights {
		if f.a.State == attempt.Offered {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return func(ctx context.Context) func() {
		type answer struct{ id, decision, reason string }
		var got []answer
		for _, id := range ids {
			d, why, err := r.e.st.OfferDecision(ctx, id)
			if err != nil {
				return func() { r.storeFailed("offer answers", err) }
			}
			if d != "" {
				got = append(got, answer{id, d, why})
			}
		}
		return func() {
			for _, a := range got {
				r.answered(a.id, a.decision, a.reason)
			}
		}
	}
}

// Offer returns the member an agent is offered now (preview dialing);
// ErrNotFound when none. An offer whose attempt no longer holds the agent
// (its dialer died) is taken down.
func (e *Engine) Offer(ctx context.Context, agent string) (*store.Offer, error) {
	o, err := e.st.GetOffer(ctx, agent)
	if err != nil {
		return nil, err
	}
	_, live, err := e.st.GetAgent(ctx, agent)
	if err != nil {
		return nil, err
	}
	if live.Attempt != o.Attempt {
		if err := e.st.DropOffer(ctx, agent, o.Attempt); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("agent %s: %w: no offer", agent, store.ErrNotFound)
	}
	return o, nil
}

// AnswerOffer takes an agent's answer to their offer: store.PreviewAccept
// places the call, store.PreviewSkip puts the member back (reason is
// kept with the call's record). The first answer stands: another is
// ErrConflict.
func (e *Engine) AnswerOffer(ctx context.Context, agent, decision, reason string) (*store.Offer, error) {
	if _, err := e.Offer(ctx, agent); err != nil {
		return nil, err
	}
	o, err := e.st.DecideOffer(ctx, agent, decision, reason)
	if err != nil {
		return o, err
	}
	e.mu.Lock()
	r := e.runners[o.Campaign]
	e.mu.Unlock()
	if r != nil { // ours: at once (another dialer's loop reads it within a second)
		r.post(func() { r.answered(o.Attempt, decision, reason) })
	}
	return o, nil
}
