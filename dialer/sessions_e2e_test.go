package dialer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// sessionLegs returns the switch's session legs of an agent, oldest first.
func sessionLegs(w *world, agent string) []sim.CallRecord {
	var out []sim.CallRecord
	for _, c := range w.sw.Calls() {
		if c.Variables["dialer_agent_id"] == agent && c.Variables["dialer_session"] == "true" {
			out = append(out, c)
		}
	}
	return out
}

// TestSessionAgentsTakeCallsWithoutRinging: agents reached by a session
// are called once when they become available; every member who answers is
// bridged into a session leg at once, with no ringing; each leg outlives
// its calls and is never bridged to two members at once (by the switch's
// own record). A logout hangs the leg up; an agent who hangs up is logged
// out.
func TestSessionAgentsTakeCallsWithoutRinging(t *testing.T) {
	w := newWorld(t, agentsScenario)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics = metrics }
	w.startEngine()
	agents := []string{"100", "101"}
	for _, id := range agents {
		w.agent(&store.Agent{ID: id, Reach: store.ReachSession, WrapUpTime: 3}, store.AgentAvailable)
	}
	w.runUntil("both sessions up", time.Minute, func() bool {
		return w.agentLive("100").SessionState == store.SessionUp && w.agentLive("101").SessionState == store.SessionUp
	})
	w.runUntil("the gauge says so", time.Minute, func() bool {
		return testutil.ToFloat64(metrics.AgentSessions.WithLabelValues(store.SessionUp)) == 2
	})
	c := progressive(w, func(c *store.Campaign) { c.Agents = agents })
	var ms []*store.Member
	for i := 0; i < 10; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38094%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))

	led := w.sw.Ledger()
	if o := led.Overlaps(); len(o) > 0 {
		t.Fatalf("a number or an agent had two channels at once: %v", o)
	}
	if o := led.BridgeOverlaps(); len(o) > 0 {
		t.Fatalf("an agent had two members on the line at once: %v", o)
	}
	legOf := map[string]string{} // session uuid -> agent
	for _, id := range agents {
		legs := sessionLegs(w, id)
		if len(legs) != 1 || legs[0].HungUpSeq != 0 || legs[0].Answered.IsZero() {
			t.Fatalf("agent %s: session legs %+v, want one, up all along", id, legs)
		}
		if legs[0].Variables["park_after_bridge"] != "true" {
			t.Errorf("agent %s: the leg does not park after a bridge: %v", id, legs[0].Variables)
		}
		legOf[legs[0].UUID] = id
	}
	_, members := agentCalls(w, c)
	answered := 0
	for _, m := range members {
		if m.Answered.IsZero() {
			continue
		}
		answered++
		if _, ok := legOf[m.BridgedTo]; !ok {
			t.Errorf("member call %s answered and not bridged into a session: abandoned", m.UUID)
			continue
		}
		if wait := m.Bridged.Sub(m.Answered); wait > 2*time.Second {
			t.Errorf("member call %s waited %v after answering for the agent", m.UUID, wait)
		}
	}
	talked := 0
	for _, id := range agents {
		talked += w.agentLive(id).CallsAnswered
	}
	if answered != len(ids) || talked != answered {
		t.Errorf("%d members answered, agents talked to %d, want %d", answered, talked, len(ids))
	}
	for _, id := range ids {
		if m, _ := w.member(c, id); m.Attempts != 1 {
			t.Errorf("member %s: %d attempts", id, m.Attempts)
		}
	}

	// A logout ends the session: the dialer hangs the leg up.
	if err := w.st.SetAgentStatus(t.Context(), "100", store.AgentLoggedOut, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	w.runUntil("agent 100's leg hung up", time.Minute, func() bool { return sessionLegs(w, "100")[0].HungUpSeq != 0 })
	w.runUntil("and its session cleared", time.Minute, func() bool { return w.agentLive("100").Session == "" })
	// The agent who hangs up is logged out, and not called again.
	leg := sessionLegs(w, "101")[0].UUID
	w.sw.API(t.Context(), "uuid_kill", leg)
	w.runUntil("agent 101 logged out", time.Minute, func() bool {
		l := w.agentLive("101")
		return l.Status == store.AgentLoggedOut && l.Reason == store.IdleHungUp && l.Session == ""
	})
	w.runUntil("a while", 2*time.Minute, after(w, time.Minute))
	for _, id := range agents {
		if n := len(sessionLegs(w, id)); n != 1 {
			t.Errorf("agent %s called %d times, want once", id, n)
		}
	}
	// Available again: a new session.
	if err := w.st.SetAgentStatus(t.Context(), "101", store.AgentAvailable, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	w.runUntil("agent 101 called again", time.Minute, func() bool { return len(sessionLegs(w, "101")) == 2 })
}

// TestSessionRules: a session call the agent does not answer, rejects or
// finds busy follows the agent's rules for a missed call, and the agent is
// called again after the delay; a phone that is not registered is not
// called again until someone sets a status.
func TestSessionRules(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "nobody", Contact: "user/200", Reach: store.ReachSession, CallTimeout: 10, NoAnswerDelayTime: 20, MaxNoAnswer: 3}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "rejecter", Contact: "user/201", Reach: store.ReachSession, RejectDelayTime: 30}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "gone", Contact: "user/203", Reach: store.ReachSession}, store.AgentAvailable)
	w.runUntil("three misses in a row put nobody on a break", 10*time.Minute, func() bool {
		return w.agentLive("nobody").Status == store.AgentOnBreak
	})
	if n := len(sessionLegs(w, "nobody")); n != 3 {
		t.Errorf("the agent who never answers was called %d times, want 3 (max_no_answer)", n)
	}
	legs := sessionLegs(w, "nobody")
	// ready_time is in seconds, as mod_callcenter's: up to one less
	if gap := legs[1].Created.Sub(legs[0].HungUp); gap < 19*time.Second {
		t.Errorf("called again %v after a miss, want no_answer_delay_time (20 s)", gap)
	}
	if l := w.agentLive("rejecter"); len(sessionLegs(w, "rejecter")) < 2 {
		t.Errorf("the agent who rejects was not called again after the delay: %+v", l)
	}
	// No channel is made for a phone that is not registered: count the
	// originates the switch received.
	called := 0
	for _, cmd := range w.sw.Commands() {
		if strings.Contains(cmd.Line, "dialer_agent_id=gone,") {
			called++
		}
	}
	if l := w.agentLive("gone"); called != 1 || l.Reason != store.IdleUnregistered {
		t.Errorf("the unregistered phone: called %d times, %+v", called, l)
	}
}

// TestSessionTakenOverAfterACrash: a dialer that dies leaves its agents'
// legs up; another takes them over once its hold lapses, and bridges its
// members into them, and hangs them up when the agent leaves: the agent
// is never called twice, and never has two members at once.
func TestSessionTakenOverAfterACrash(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.cfg = func(c *dialer.Config) { c.LeaseTTL = 10 * time.Second }
	w.startEngine()
	w.agent(&store.Agent{ID: "100", Reach: store.ReachSession, WrapUpTime: 1}, store.AgentAvailable)
	w.runUntil("the session up", time.Minute, func() bool { return w.agentLive("100").SessionState == store.SessionUp })
	w.stopEngine()
	_, stop, exited := w.newEngine(func(c *dialer.Config) { c.Instance = "second-dialer" })
	t.Cleanup(func() { stop(); <-exited })
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"100"} })
	ids := w.add(c, mem("+380950000001"), mem("+380950000002"), mem("+380950000003"))
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	if legs := sessionLegs(w, "100"); len(legs) != 1 || legs[0].HungUpSeq != 0 {
		t.Fatalf("session legs %+v, want the first one, still up", legs)
	}
	led := w.sw.Ledger()
	if o := led.BridgeOverlaps(); len(o) > 0 {
		t.Fatalf("two members on the line at once: %v", o)
	}
	if o := led.Overlaps(); len(o) > 0 {
		t.Fatalf("two channels at once: %v", o)
	}
	if n := len(sessionLegs(w, "100")[0].Bridges); n != len(ids) {
		t.Errorf("%d bridges into the session, want %d", n, len(ids))
	}
	// The second dialer keeps the leg now: it hangs it up at logout.
	if err := w.st.SetAgentStatus(t.Context(), "100", store.AgentLoggedOut, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	w.runUntil("the leg hung up", time.Minute, func() bool { return sessionLegs(w, "100")[0].HungUpSeq != 0 })
}

// TestSessionGoneWhileItsKeeperIsAway: the agent hangs up while the dialer
// keeping the session is dead, so nobody sees it; another dialer reserves
// the agent (the store still says the session is up), and its bridge
// fails. It finds the leg gone, hangs up the member who answered, ends the
// session in the store, and the agent gets a new one for the next members.
func TestSessionGoneWhileItsKeeperIsAway(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "100", Reach: store.ReachSession, WrapUpTime: 1}, store.AgentAvailable)
	w.runUntil("the session up", time.Minute, func() bool { return w.agentLive("100").SessionState == store.SessionUp })
	w.stopEngine()
	first := sessionLegs(w, "100")[0].UUID
	w.sw.API(t.Context(), "uuid_kill", first) // nobody listens
	_, stop, exited := w.newEngine(func(c *dialer.Config) { c.Instance = "second-dialer" })
	t.Cleanup(func() { stop(); <-exited })
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"100"} })
	ids := w.add(c, mem("+380960000001"), mem("+380960000002"), mem("+380960000003"))
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	legs := sessionLegs(w, "100")
	if len(legs) != 2 || legs[1].HungUpSeq != 0 {
		t.Fatalf("session legs %+v, want the dead one and a new one", legs)
	}
	_, members := agentCalls(w, c)
	lost := 0
	for _, m := range members {
		switch {
		case m.Answered.IsZero():
		case m.BridgedTo == legs[1].UUID:
		case m.BridgedTo == "" && m.HangupCause == "NORMAL_CLEARING":
			lost++ // the call whose bridge failed, hung up at once
			if held := m.HungUp.Sub(m.Answered); held > 2*time.Second {
				t.Errorf("the member nobody could take waited %v in silence", held)
			}
		default:
			t.Errorf("member call %+v", m)
		}
	}
	if lost != 1 {
		t.Errorf("%d members answered with no agent, want the one whose bridge failed", lost)
	}
	if o := w.sw.Ledger().BridgeOverlaps(); len(o) > 0 {
		t.Fatalf("two members on the line at once: %v", o)
	}
}

// TestSessionAnsweredDuringARedisOutage: the agent answers the session
// call while Redis does not answer; once it is back, the answer is stored
// and the agent takes calls on that leg.
func TestSessionAnsweredDuringARedisOutage(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "101", Reach: store.ReachSession}, store.AgentAvailable) // answers after 2 s
	w.runUntil("the session called", time.Minute, func() bool { return w.agentLive("101").SessionState == store.SessionRinging })
	if err := w.redis.Pause(); err != nil {
		t.Fatal(err)
	}
	w.runUntil("the agent answered", time.Minute, func() bool {
		legs := sessionLegs(w, "101")
		return len(legs) == 1 && !legs[0].Answered.IsZero()
	})
	time.Sleep(time.Second) // the store's timeout: the answer is not stored
	if err := w.redis.Resume(); err != nil {
		t.Fatal(err)
	}
	w.runUntil("the session up in the store", time.Minute, func() bool { return w.agentLive("101").SessionState == store.SessionUp })
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"101"} })
	ids := w.add(c, mem("+380970000001"))
	w.start(c)
	w.runUntil("the member done", 10*time.Minute, w.ended(c, ids...))
	if legs := sessionLegs(w, "101"); len(legs) != 1 || len(legs[0].Bridges) != 1 {
		t.Fatalf("session legs %+v, want one, with the member bridged in", legs)
	}
}
