package dialer_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

func previewCampaign(w *world, edit func(c *store.Campaign)) *store.Campaign {
	return w.campaign(func(c *store.Campaign) {
		c.Type, c.Broadcast = store.TypePreview, store.Broadcast{}
		c.Parameters.MinBillSec, c.Parameters.IntervalTryCount = 5, 600
		c.Preview = store.Preview{OfferTimeout: 60}
		if edit != nil {
			edit(c)
		}
	})
}

// offerOf waits until the agent is offered a member, and returns it.
func offerOf(w *world, agent string) *store.Offer {
	w.t.Helper()
	var o *store.Offer
	w.runUntil("an offer to "+agent, time.Minute, func() bool {
		var err error
		o, err = w.eng.Offer(w.t.Context(), agent)
		return err == nil
	})
	return o
}

// TestPreviewOffersBeforeDialing: each agent is shown a member before
// anything is dialed; accepted, the agent's phone rings first (showing
// the member's number) and the member is bridged to them; skipped, or left
// unanswered, the member goes back with no attempt counted and nobody was
// called; a second answer is refused; the campaign never has more calls
// than agents.
func TestPreviewOffersBeforeDialing(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	for _, id := range []string{"100", "101", "102"} {
		w.agent(&store.Agent{ID: id, WrapUpTime: 5}, store.AgentAvailable)
	}
	c := previewCampaign(w, func(c *store.Campaign) { c.Agents = []string{"100", "101", "102"} })
	var ms []*store.Member
	for i := 0; i < 6; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38093%07d", i)))
	}
	w.add(c, ms...)
	w.start(c)
	accepted, skipped, ignored := offerOf(w, "100"), offerOf(w, "101"), offerOf(w, "102")
	w.runUntil("a few seconds", 10*time.Second, after(w, 5*time.Second))
	if agents, members := agentCalls(w, c); len(agents)+len(members) != 0 {
		t.Fatalf("%d agent and %d member calls before any offer was answered", len(agents), len(members))
	}
	ctx := t.Context()
	if _, err := w.eng.AnswerOffer(ctx, "100", store.PreviewAccept, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.AnswerOffer(ctx, "100", store.PreviewSkip, ""); !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second answer: %v", err)
	}
	if _, err := w.eng.AnswerOffer(ctx, "101", store.PreviewSkip, "asked not to be called today"); err != nil {
		t.Fatal(err)
	}
	w.runUntil("the accepted member talks to agent 100", time.Minute, func() bool {
		agents, members := agentCalls(w, c)
		return len(agents) == 1 && len(members) == 1 && !members[0].Bridged.IsZero()
	})
	agents, members := agentCalls(w, c)
	if agents[0].Variables["dialer_agent_id"] != "100" || agents[0].Created.After(members[0].Created) ||
		agents[0].Variables["origination_caller_id_number"] != members[0].Destination {
		t.Fatalf("agent leg %+v, member leg %+v", agents[0], members[0])
	}
	if m, _ := w.member(c, skipped.Member); m.Attempts != 0 || len(w.obs.calls(skipped.Member)) != 0 {
		t.Fatalf("the skipped member: %d attempts, %d calls", m.Attempts, len(w.obs.calls(skipped.Member)))
	}
	// Agent 102 never answers: after the offer's minute the member goes back.
	w.runUntil("the unanswered offer is over", 2*time.Minute, func() bool {
		o, err := w.eng.Offer(ctx, "102")
		return err != nil || o.Attempt != ignored.Attempt
	})
	if m, _ := w.member(c, ignored.Member); m.Attempts != 0 || len(w.obs.calls(ignored.Member)) != 0 {
		t.Fatalf("the unanswered member: %d attempts, %d calls", m.Attempts, len(w.obs.calls(ignored.Member)))
	}
	if m, _ := w.member(c, accepted.Member); m.Attempts != 1 || len(w.obs.calls(accepted.Member)) != 2 {
		t.Fatalf("the accepted member: %d attempts, %d channels (agent's and member's), want 1 and 2", m.Attempts, len(w.obs.calls(accepted.Member)))
	}
	if o := w.sw.Ledger().Overlaps(); len(o) > 0 {
		t.Fatalf("a number or an agent had two calls at once: %+v", o)
	}
}

// TestPreviewDialsAnUnansweredOffer: a campaign whose onTimeout is dial
// places the call when the agent does not answer the offer in time.
func TestPreviewDialsAnUnansweredOffer(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "100"}, store.AgentAvailable)
	c := previewCampaign(w, func(c *store.Campaign) {
		c.Agents, c.Preview = []string{"100"}, store.Preview{OfferTimeout: 20, OnTimeout: store.PreviewDial}
	})
	ids := w.add(c, mem("+380931111111"))
	w.start(c)
	o := offerOf(w, "100")
	if o.OnTimeout != store.PreviewDial || o.ExpiresAt-o.OfferedAt != 20000 {
		t.Fatalf("offer %+v", o)
	}
	w.runUntil("the member is called", time.Minute, func() bool { return len(w.obs.calls(ids[0])) == 1 })
	if at := w.obs.calls(ids[0])[0].at; at.Before(time.UnixMilli(o.ExpiresAt)) {
		t.Fatalf("dialed at %v, before the offer expired at %v", at, time.UnixMilli(o.ExpiresAt))
	}
}
