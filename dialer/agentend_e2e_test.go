package dialer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/internal/tcpproxy"
	"github.com/fsdialer/fsdialer/store"
)

// TestAgentEndWrittenAfterARedisOutage: a member's call ends while the
// dialer cannot reach Redis (an outage, or a failover: TestChaosFailover
// found it), so the agent's end of the call cannot be written. Once Redis
// is back the end is written, and the agent goes to its wrap-up and takes
// the next call, instead of sitting in the finished call until its
// reservation lapses (lease_ttl, a minute by default).
func TestAgentEndWrittenAfterARedisOutage(t *testing.T) {
	w := newWorld(t, agentsScenario) // members talk 40 s; agent 100 answers after 1 s
	// The dialer reaches Redis through a proxy the test cuts: its commands
	// then fail, and none runs later (a paused Redis would run them).
	proxy, err := tcpproxy.New(strings.TrimPrefix(w.redis.URL, "redis://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	direct := w.st
	if w.st, err = store.Open(context.Background(), store.Config{URL: "redis://" + proxy.Addr(), Timeout: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	w.startEngine()
	state := func() string {
		_, l, err := direct.GetAgent(context.Background(), "100")
		if err != nil {
			t.Fatal(err)
		}
		return l.State
	}
	w.agent(&store.Agent{ID: "100", WrapUpTime: 2}, store.AgentAvailable)
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"100"} })
	ids := w.add(c, mem("+380970000001"), mem("+380970000002"))
	w.start(c)
	w.runUntil("the agent talking", time.Minute, func() bool { return state() == store.AgentInCall })
	talking := w.clk.Now()
	w.runUntil("35 s of talk", time.Minute, func() bool { return w.clk.Now().Sub(talking) >= 35*time.Second })
	const outage = 3 * time.Second // real time
	cut := time.Now()
	proxy.Cut(outage)
	w.runUntil("the first member hung up", time.Minute, func() bool {
		for _, m := range w.sw.Ledger().Calls {
			if m.Variables["dialer_agent_id"] == "" && !m.HungUp.IsZero() {
				return true
			}
		}
		return false
	})
	time.Sleep(outage - time.Since(cut) + 100*time.Millisecond) // the clock stands still
	if got := state(); got != store.AgentInCall {
		t.Fatalf("the agent is %q: the end was written during the outage, the test proves nothing", got)
	}
	// Well within the reservation's lease (renewed 20 s before the outage
	// at the latest, so good for 40 s more).
	w.runUntil("the agent out of the finished call", 20*time.Second, func() bool { return state() != store.AgentInCall })
	w.runUntil("both members done", 5*time.Minute, w.ended(c, ids...))
}
