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

// predictiveScenario: half the members answer after a ring and talk a
// minute; people left in silence hang up after 4-8 s. Agent phones 100-103
// answer at once (sessions), 104 after 1 s, 200 never.
const predictiveScenario = `
seed: 33
gateways: [{name: gw}]
default: {answer: 0.5, ring: 3, talk: 60, patience: {kind: uniform, mean: 6, spread: 2}}
agents:
  - {extension: "100", answer_delay: 0.5}
  - {extension: "101", answer_delay: 0.5}
  - {extension: "102", answer_delay: 0.5}
  - {extension: "103", answer_delay: 0.5}
  - {extension: "104", answer_delay: 1}
  - {extension: "200", answer: 0}
`

func predictiveCampaign(w *world, edit func(c *store.Campaign)) *store.Campaign {
	return w.campaign(func(c *store.Campaign) {
		c.Type, c.Broadcast = store.TypePredictive, store.Broadcast{}
		c.Parameters.MinBillSec, c.Parameters.Limit, c.Parameters.MaxTryCount = 5, 20, 1
		c.Predictive.SafeHarborFile = "/sounds/safe-harbor.wav"
		if edit != nil {
			edit(c)
		}
	})
}

// silentCalls reads the switch's own record of a campaign's member calls:
// those answered and never bridged to anyone (the person heard no agent),
// those bridged within threshold of their answer, and those that heard
// the safe-harbor file.
func silentCalls(w *world, c *store.Campaign, threshold time.Duration) (unbridged, inTime, safeHarbor []sim.CallRecord) {
	_, members := agentCalls(w, c)
	for _, m := range members {
		switch {
		case m.Answered.IsZero():
			continue
		case len(m.Bridges) == 0:
			unbridged = append(unbridged, m)
		case m.Bridges[0].From.Sub(m.Answered) <= threshold:
			inTime = append(inTime, m)
		}
		for _, app := range m.Applications {
			if app.Name == "playback" && app.Arg == c.Predictive.SafeHarborFile {
				safeHarbor = append(safeHarbor, m)
			}
		}
	}
	return unbridged, inTime, safeHarbor
}

// TestPredictiveAbandonsAreTheSwitchs: a campaign dialing well ahead of
// its agents (a target of 30 %) abandons calls; the dialer's count of
// abandoned calls is exactly the switch's count of answered people who
// heard no agent, its count of calls connected within 2 s is the
// switch's, the safe-harbor message played to exactly those it gave up
// on, and no agent ever had two calls.
func TestPredictiveAbandonsAreTheSwitchs(t *testing.T) {
	w := newWorld(t, predictiveScenario)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics = metrics }
	w.startEngine()
	agents := []string{"100", "101", "102"}
	for _, id := range agents {
		w.agent(&store.Agent{ID: id, Reach: store.ReachSession, WrapUpTime: 2}, store.AgentAvailable)
	}
	w.agent(&store.Agent{ID: "104", WrapUpTime: 2, CallTimeout: 10}, store.AgentAvailable) // rung per call
	w.runUntil("the sessions up", time.Minute, func() bool {
		for _, id := range agents {
			if w.agentLive(id).SessionState != store.SessionUp {
				return false
			}
		}
		return true
	})
	c := predictiveCampaign(w, func(c *store.Campaign) {
		c.Agents = append(agents, "104")
		c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = 30, 50
	})
	var ms []*store.Member
	for i := 0; i < 60; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38095%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("every member done", time.Hour, w.ended(c, ids...))

	led := w.sw.Ledger()
	if o := led.Overlaps(); len(o) > 0 {
		t.Fatalf("a number or an agent had two calls at once: %+v", o)
	}
	if o := led.BridgeOverlaps(); len(o) > 0 {
		t.Fatalf("an agent's leg was bridged twice at once: %+v", o)
	}
	unbridged, inTime, safeHarbor := silentCalls(w, c, 2*time.Second)
	st, err := w.st.CampaignStats(t.Context(), c.ID, w.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	abandoned := st.Counters["abandoned"]
	t.Logf("%d live answers, %d abandoned (%d safe harbor), %d connected within 2 s", st.Counters["live"], abandoned, len(safeHarbor), len(inTime))
	if abandoned == 0 || abandoned != int64(len(unbridged)) {
		t.Fatalf("the dialer counted %d abandoned calls, the switch saw %d answered people hear no agent", abandoned, len(unbridged))
	}
	if got := st.Windows["abandoned"].Day; got != abandoned {
		t.Errorf("the 24 h window holds %d abandoned calls, want %d", got, abandoned)
	}
	if got := testutil.ToFloat64(metrics.Abandoned.WithLabelValues(c.ID)); int64(got) != abandoned {
		t.Errorf("dialer_calls_abandoned_total %g, want %d", got, abandoned)
	}
	if got := testutil.ToFloat64(metrics.ConnectedInTime.WithLabelValues(c.ID)); int(got) != len(inTime) {
		t.Errorf("dialer_calls_connected_in_time_total %g, the switch bridged %d within 2 s of the answer", got, len(inTime))
	}
	if got := testutil.ToFloat64(metrics.SafeHarbor.WithLabelValues(c.ID)); int(got) != len(safeHarbor) {
		t.Errorf("dialer_safe_harbor_total %g, the switch played it to %d", got, len(safeHarbor))
	}
	for _, m := range safeHarbor {
		if len(m.Bridges) > 0 {
			t.Errorf("member call %s heard the safe-harbor message and was bridged", m.UUID)
		}
		if m.HangupCause != "NORMAL_CLEARING" {
			t.Errorf("member call %s ended %s after the message", m.UUID, m.HangupCause)
		}
	}
	// Each abandoned member ended ABANDONED (retryAbandoned is false).
	ended := 0
	for _, id := range ids {
		if m, _ := w.member(c, id); m.EndCause == dialer.EndAbandoned {
			ended++
		}
	}
	if int64(ended) != abandoned {
		t.Errorf("%d members ended %s, %d calls were abandoned", ended, dialer.EndAbandoned, abandoned)
	}
	for _, id := range c.Agents {
		if l := w.agentLive(id); l.Attempt != "" {
			t.Errorf("agent %s still reserved after the campaign: %+v", id, l)
		}
	}
}

// TestPredictiveFallsBackAtTheCeiling: every member answers and two
// agents take them; dialing ahead abandons a few calls, and once the rate
// over the 24 h window nears maxPredictiveSilentCalls the campaign places
// only the calls next to sure to find a ready agent (here, where all
// answer, one per ready agent): no more abandons while it stays there.
// Without the ceiling the same campaign goes on abandoning.
func TestPredictiveFallsBackAtTheCeiling(t *testing.T) {
	run := func(max float64) (abandoned, live int64) {
		w := newWorld(t, strings.NewReplacer("answer: 0.5", "answer: 1", "talk: 60", "talk: 10").Replace(predictiveScenario))
		w.startEngine()
		agents := []string{"100", "101"}
		for _, id := range agents {
			w.agent(&store.Agent{ID: id, Reach: store.ReachSession, WrapUpTime: 1}, store.AgentAvailable)
		}
		c := predictiveCampaign(w, func(c *store.Campaign) {
			c.Agents = agents
			c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = max, max
		})
		var ms []*store.Member
		for i := 0; i < 30; i++ {
			ms = append(ms, mem(fmt.Sprintf("+38096%07d", i)))
		}
		ids := w.add(c, ms...)
		w.start(c)
		w.runUntil("every member done", time.Hour, w.ended(c, ids...))
		st, err := w.st.CampaignStats(t.Context(), c.ID, w.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return st.Counters["abandoned"], st.Counters["live"]
	}
	heldAb, heldLive := run(3)
	freeAb, freeLive := run(60)
	t.Logf("ceiling 3 %%: %d of %d abandoned; ceiling 60 %%: %d of %d", heldAb, heldLive, freeAb, freeLive)
	if freeAb <= heldAb {
		t.Fatalf("the ceiling did not hold: %d abandoned with it, %d without", heldAb, freeAb)
	}
	if heldAb > 4 {
		t.Fatalf("%d calls abandoned after the rate passed 3 %%: the campaign did not fall back", heldAb)
	}
}

// TestPredictiveWithAMD: mod_amd judges every answer (a fifth of them
// machines, some answers without a verdict at all); machines are hung up
// and never reach an agent, people and not-sure answers do, and an answer
// amd never judges is not left waiting: the dialer's deadline makes it
// NOTSURE. The abandoned count is still exactly the switch's count of
// answers that were not machines and heard no agent.
func TestPredictiveWithAMD(t *testing.T) {
	scenario := strings.NewReplacer("default: {answer: 0.5,", "amd: {delay: 2, no_verdict: 0.15, not_sure: 0.1}\ndefault: {machine: 0.2, answer: 0.6,", "talk: 60", "talk: 20").Replace(predictiveScenario)
	w := newWorld(t, scenario)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics = metrics }
	w.startEngine()
	agents := []string{"100", "101", "102"}
	for _, id := range agents {
		w.agent(&store.Agent{ID: id, Reach: store.ReachSession, WrapUpTime: 2}, store.AgentAvailable)
	}
	c := predictiveCampaign(w, func(c *store.Campaign) {
		c.Agents = agents
		c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = 10, 20
		c.AMD = store.AMD{Enabled: true, AllowNotSure: true, TotalAnalysisTime: 3000, MaximumNumberOfWords: 3}
	})
	var ms []*store.Member
	for i := 0; i < 50; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38097%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("every member done", time.Hour, w.ended(c, ids...))

	_, members := agentCalls(w, c)
	var machines, noVerdict, unbridgedLive int
	for _, m := range members {
		if got := m.Variables["execute_on_answer"]; got != "amd maximum_number_of_words=3,total_analysis_time=3000" {
			t.Fatalf("member call %s: execute_on_answer %q", m.UUID, got)
		}
		if m.Answered.IsZero() {
			continue
		}
		switch {
		case m.AMDResult == "MACHINE":
			machines++
			if len(m.Bridges) > 0 {
				t.Errorf("machine %s was bridged to an agent", m.UUID)
			}
		case len(m.Bridges) == 0:
			unbridgedLive++
		}
		if m.AMDResult == "" {
			noVerdict++
		}
	}
	st, err := w.st.CampaignStats(t.Context(), c.ID, w.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answered: %d machines, %d without a verdict; %d live, %d abandoned", st.Counters["answered"], machines, noVerdict, st.Counters["live"], st.Counters["abandoned"])
	if machines == 0 || noVerdict == 0 {
		t.Fatalf("the scenario gave %d machines and %d answers without a verdict: it tests nothing", machines, noVerdict)
	}
	if got := st.Windows["machine"].Day; got != int64(machines) {
		t.Errorf("the 24 h window holds %d machine verdicts, the switch's amd gave %d", got, machines)
	}
	if got := st.Counters["outcome:machine"]; got != int64(machines) {
		t.Errorf("%d attempts classified machine, the switch's amd said MACHINE %d times", got, machines)
	}
	if got := st.Counters["abandoned"]; got != int64(unbridgedLive) {
		t.Errorf("the dialer counted %d abandoned calls, the switch saw %d answers (not machines) hear no agent", got, unbridgedLive)
	}
	if got := st.Counters["live"]; got != st.Counters["answered"]-int64(machines) {
		t.Errorf("%d live answers, want %d answered less %d machines", got, st.Counters["answered"], machines)
	}
	if got := testutil.CollectAndCount(metrics.AMDWait); got == 0 {
		t.Error("no AMD verdict times observed")
	}
	if o := w.sw.Ledger().Overlaps(); len(o) > 0 {
		t.Fatalf("a number or an agent had two calls at once: %+v", o)
	}
}
