package dialer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// agentsScenario: subscribers answer after a ring and talk a while; agent
// phones 100-102 answer, 200 never does, 201 rejects, 202 is busy, 203 is
// not registered.
const agentsScenario = `
seed: 21
gateways: [{name: gw}]
default: {answer: 1, ring: 3, talk: 40}
numbers:
  - {pattern: "^2", busy: 1, setup: 0.5}
agents:
  - {extension: "100", answer_delay: 1}
  - {extension: "101", answer_delay: 2}
  - {extension: "102", answer_delay: 1}
  - {extension: "200", answer: 0}
  - {extension: "201", answer: 0, reject: 1, answer_delay: 2}
  - {extension: "202", answer: 0, busy: 1}
  - {extension: "203", unregistered: true}
`

func (w *world) agent(a *store.Agent, status string) {
	w.t.Helper()
	if _, err := w.st.PutAgent(w.t.Context(), a, w.clk.Now()); err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.SetAgentStatus(w.t.Context(), a.ID, status, w.clk.Now()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) agentLive(id string) *store.AgentLive {
	w.t.Helper()
	_, l, err := w.st.GetAgent(w.t.Context(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

func progressive(w *world, edit func(c *store.Campaign)) *store.Campaign {
	return w.campaign(func(c *store.Campaign) {
		c.Type, c.Broadcast = store.TypeProgressive, store.Broadcast{}
		c.Parameters.MinBillSec = 5
		if edit != nil {
			edit(c)
		}
	})
}

// agentCalls returns the switch's channels to agent phones and to
// members, of one campaign.
func agentCalls(w *world, c *store.Campaign) (agents, members []sim.CallRecord) {
	for _, call := range w.sw.Calls() {
		if call.Variables["dialer_campaign_id"] != c.ID {
			continue
		}
		if call.Variables["dialer_agent_id"] != "" {
			agents = append(agents, call)
		} else {
			members = append(members, call)
		}
	}
	return agents, members
}

// TestProgressiveBridgesEveryAnsweredMember: with three agents, every
// member who answers is bridged to an agent who answered first: not one
// abandoned call, no agent with two calls at once (by the switch's own
// record), every member's outcome the switch's.
func TestProgressiveBridgesEveryAnsweredMember(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	for _, id := range []string{"100", "101", "102"} {
		w.agent(&store.Agent{ID: id, Skills: []string{"sales"}, WrapUpTime: 5}, store.AgentAvailable)
	}
	c := progressive(w, func(c *store.Campaign) { c.Skills = []string{"sales"} })
	var ms []*store.Member
	for i := 0; i < 12; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38091%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	for _, id := range ids {
		if m, _ := w.member(c, id); m.EndCause != "NORMAL_CLEARING" || m.Attempts != 1 {
			t.Errorf("member %s: %s after %d attempts", id, m.EndCause, m.Attempts)
		}
	}
	led := w.sw.Ledger()
	if o := led.Overlaps(); len(o) > 0 {
		t.Fatalf("a number or an agent had two calls at once: %+v", o)
	}
	agents, members := agentCalls(w, c)
	byUUID := map[string]sim.CallRecord{}
	for _, a := range agents {
		byUUID[a.UUID] = a
	}
	for _, m := range members {
		if m.Answered.IsZero() {
			continue
		}
		a, ok := byUUID[m.BridgedTo]
		switch {
		case !ok:
			t.Errorf("member call %s answered and not bridged to an agent: abandoned", m.UUID)
		case a.Answered.After(m.Created):
			t.Errorf("member %s was dialed before its agent answered", m.Destination)
		}
	}
	talked := 0
	for _, id := range []string{"100", "101", "102"} {
		l := w.agentLive(id)
		talked += l.CallsAnswered
		if l.Attempt != "" || l.TalkTime == 0 {
			t.Errorf("agent %s after the campaign: %+v", id, l)
		}
	}
	if talked != len(ids) {
		t.Errorf("agents answered %d calls, want %d", talked, len(ids))
	}
}

// TestAgentRules: an agent who does not answer gets no_answer_delay_time,
// and max_no_answer misses in a row put them On Break; one who rejects or
// is busy gets its delay; an unregistered phone is not offered calls
// again until someone sets a status. None of it costs a member an
// attempt: every attempt counted is a member's channel on the switch.
func TestAgentRules(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "nobody", Contact: "user/200", CallTimeout: 10, NoAnswerDelayTime: 30, MaxNoAnswer: 2}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "rejecter", Contact: "user/201", RejectDelayTime: 600}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "busy", Contact: "user/202", BusyDelayTime: 600}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "gone", Contact: "user/203"}, store.AgentAvailable)
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"nobody", "rejecter", "busy", "gone"} })
	ids := w.add(c, mem("+380920000001"), mem("+380920000002"))
	w.start(c)
	w.runUntil("the agents are all out", 10*time.Minute, func() bool {
		return w.agentLive("nobody").Status == store.AgentOnBreak &&
			w.agentLive("rejecter").Reason == store.IdleRejected && w.agentLive("busy").Reason == store.IdleBusy &&
			w.agentLive("gone").Reason == store.IdleUnregistered
	})
	if l := w.agentLive("nobody"); l.NoAnswerCount != 2 || l.Reason != store.IdleMaxNoAnswer {
		t.Errorf("agent who never answers: %+v", l)
	}
	now := w.clk.Now()
	if l := w.agentLive("rejecter"); l.ReadyTime < now.Add(500*time.Second).Unix() {
		t.Errorf("rejecter ready at %d, want about %d", l.ReadyTime, now.Add(600*time.Second).Unix())
	}
	_, members := agentCalls(w, c)
	if len(members) != 0 {
		t.Fatalf("%d members dialed with no agent on the line", len(members))
	}
	for _, id := range ids {
		if m, st := w.member(c, id); m.Attempts != 0 || st == store.MemberDone {
			t.Errorf("member %s: %d attempts, %s, though no agent could take it", id, m.Attempts, st)
		}
	}
	// the unregistered phone is not offered calls again, an hour later
	offered := len(w.sw.Calls())
	w.step = 5 * time.Second // nothing happens at a finer grain now
	w.runUntil("an hour", 2*time.Hour, after(w, time.Hour))
	agents, _ := agentCalls(w, c)
	for _, a := range agents[offered:] {
		if a.Variables["dialer_agent_id"] == "gone" {
			t.Errorf("the unregistered agent was offered a call again")
		}
	}
	if _, err := w.eng.StopCampaign(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
}

// TestMemberBucket: a member bound to a bucket is offered only to the
// bucket's agents.
func TestMemberBucket(t *testing.T) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	w.agent(&store.Agent{ID: "100"}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "101", Buckets: []string{"vip"}}, store.AgentAvailable)
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"100", "101"} })
	vip := mem("+380930000001")
	vip.Bucket = "vip"
	ids := w.add(c, vip, mem("+380930000002"), mem("+380930000003"))
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	agents, members := agentCalls(w, c)
	agentOf := map[string]string{}
	for _, a := range agents {
		agentOf[a.UUID] = a.Variables["dialer_agent_id"]
	}
	for _, m := range members {
		if m.Variables["dialer_member_id"] == ids[0] && agentOf[m.BridgedTo] != "101" {
			t.Errorf("the vip member was bridged to %q", agentOf[m.BridgedTo])
		}
	}
}

// TestTwoDialersShareTheAgents: two dialers on one Redis run a campaign
// each, served by the same three agents: no agent ever has two calls (by
// the switch's own record), and every member of both is reached. Agents
// reached by a session are called once, by one of the two.
func TestTwoDialersShareTheAgents(t *testing.T) {
	for _, reach := range []string{store.ReachRing, store.ReachSession} {
		t.Run(reach, func(t *testing.T) { twoDialersShareTheAgents(t, reach) })
	}
}

func twoDialersShareTheAgents(t *testing.T, reach string) {
	w := newWorld(t, agentsScenario)
	w.startEngine()
	_, stop, exited := w.newEngine(func(c *dialer.Config) { c.Instance = "second-dialer" })
	t.Cleanup(func() { stop(); <-exited })
	for _, id := range []string{"100", "101", "102"} {
		w.agent(&store.Agent{ID: id, Skills: []string{"sales"}, WrapUpTime: 2, Reach: reach}, store.AgentAvailable)
	}
	var camps []*store.Campaign
	var all [][]string
	for k := 0; k < 2; k++ {
		c := progressive(w, func(c *store.Campaign) { c.Skills = []string{"sales"} })
		var ms []*store.Member
		for i := 0; i < 8; i++ {
			ms = append(ms, mem(fmt.Sprintf("+3809%d%06d", 5+k, i)))
		}
		camps, all = append(camps, c), append(all, w.add(c, ms...))
		// each campaign to its own dialer: the other sees it held
		owner := []string{"test-dialer", "second-dialer"}[k]
		if ok, err := w.st.AcquireRunner(t.Context(), c.ID, store.Runner{Instance: owner, Token: "placed-by-the-test"}, w.clk.Now(), w.clk.Now().Add(time.Hour)); !ok || err != nil {
			t.Fatal(ok, err)
		}
		w.start(c)
	}
	w.runUntil("calls of both campaigns", 10*time.Minute, func() bool {
		_, m0 := agentCalls(w, camps[0])
		_, m1 := agentCalls(w, camps[1])
		return len(m0) > 0 && len(m1) > 0
	})
	for k, c := range camps {
		owner, _ := w.st.Client().Get(t.Context(), "dialer:{"+c.ID+"}:runner").Result()
		if want := []string{"test-dialer|", "second-dialer|"}[k]; !strings.HasPrefix(owner, want) {
			t.Fatalf("campaign %d run by %q, want %s", k, owner, want)
		}
	}
	w.runUntil("every member of both done", 60*time.Minute, func() bool { return w.ended(camps[0], all[0]...)() && w.ended(camps[1], all[1]...)() })
	led := w.sw.Ledger()
	if o := led.Overlaps(); len(o) > 0 {
		t.Fatalf("an agent or a number had two calls at once: %+v", o)
	}
	if o := led.BridgeOverlaps(); len(o) > 0 {
		t.Fatalf("an agent had two members on the line at once: %v", o)
	}
	if reach == store.ReachSession {
		for _, id := range []string{"100", "101", "102"} {
			if n := len(sessionLegs(w, id)); n != 1 {
				t.Errorf("agent %s called %d times for a session, want once", id, n)
			}
		}
	}
}
