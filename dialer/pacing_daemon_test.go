package dialer_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/pacing/shiftsim"
	"github.com/fsdialer/fsdialer/store"
)

// TestPacingDaemonAgainstBenchmark is issue 13's end-to-end check: one
// scenario of deploy/pacing-scenarios.json played by the real engine (a
// predictive campaign paced by pacing.Forecast, its agents in sessions, a
// real redis-server, the simulator over TCP ESL, on the fake clock
// stepped fast) and by the benchmark's simulation (shiftsim.Run, policy
// forecast) for the same shift. Occupancy and the abandon rate must agree
// within 3 points; the daemon's figures come from the simulator's ledger,
// not from the dialer.
//
// Slow (minutes): runs only with PACING_E2E=1 (make pacing-e2e; CI runs
// it after make test, .ci/run).
// PACING_E2E_SCENARIO names the scenario (default "20 agents, 30% answer,
// talk 60s"), PACING_E2E_HOURS the shift (default 2), PACING_E2E_STEP the
// clock's step (default 100ms, each followed by 2 ms of real time).
//
// Simplified on both sides alike: the team logs in at once and takes no
// break (breakEveryHours and loginSpreadMinutes 0); scenarios with team
// changes or machines are refused.
func TestPacingDaemonAgainstBenchmark(t *testing.T) {
	if os.Getenv("PACING_E2E") == "" {
		t.Skip("slow (3-4 min): set PACING_E2E=1 (make pacing-e2e, which .ci/run runs after make test)")
	}
	name := envOr("PACING_E2E_SCENARIO", "20 agents, 30% answer, talk 60s")
	hours := must[float64](t)(strconv.ParseFloat(envOr("PACING_E2E_HOURS", "2"), 64))
	step := must[time.Duration](t)(time.ParseDuration(envOr("PACING_E2E_STEP", "100ms")))
	sc := pacingScenario(t, name)
	sc.Hours, sc.BreakEveryHours, sc.LoginSpreadMinutes = hours, 0, 0

	var policy shiftsim.Policy
	for _, p := range shiftsim.Policies() {
		if p.Name == shiftsim.Forecast {
			policy = p
		}
	}
	bench := shiftsim.Run(sc, policy)

	real := time.Now()
	d := runPacingDaemon(t, sc, int(float64(bench.Attempts)*1.3)+200, step)
	wall := time.Since(real)

	t.Logf("%q, %g h, time step %v: %v of wall time", sc.Name, sc.Hours, step, wall.Round(time.Second))
	t.Logf("%-10s %10s %10s %8s %8s %8s %8s", "", "occupancy", "abandon", "live", "aband.", "bridged", "calls")
	t.Logf("%-10s %9.2f%% %9.2f%% %8d %8d %8d %8d", "benchmark", 100*bench.Occupancy, bench.AbandonRate, bench.Live, bench.Abandoned, bench.Bridged, bench.Attempts)
	t.Logf("%-10s %9.2f%% %9.2f%% %8d %8d %8d %8d", "daemon", 100*d.occupancy, d.abandonRate(), d.live, d.abandoned, d.bridged, d.calls)
	t.Logf("daemon: %d live answers after the shift's end, %d abandoned of them; a bridge %.3f s after the answer on average, %d over the threshold (the longest %v); %d wrap-ups cut short (by %v at most); the dialer counted %d live, %d abandoned",
		d.liveLate, d.abandonedLate, d.answerToBridge.Seconds(), d.lateBridges, d.worstWait, d.cutWraps, d.worstCut, d.dialerLive, d.dialerAbandoned)
	if d.exhausted {
		t.Fatalf("the campaign ran out of members before the shift's end")
	}
	occ, ab := 100*(d.occupancy-bench.Occupancy), d.abandonRate()-bench.AbandonRate
	t.Logf("daemon - benchmark: occupancy %+.2f points, abandon rate %+.2f points (at most 3 each)", occ, ab)
	if math.Abs(occ) > 3 {
		t.Errorf("occupancy: the daemon's is %.2f points off the benchmark's (more than 3)", occ)
	}
	if math.Abs(ab) > 3 {
		t.Errorf("abandon rate: the daemon's is %.2f points off the benchmark's (more than 3)", ab)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func pacingScenario(t *testing.T, name string) shiftsim.Scenario {
	t.Helper()
	data := must[[]byte](t)(os.ReadFile("../deploy/pacing-scenarios.json"))
	scs := must[[]shiftsim.Scenario](t)(shiftsim.Parse(data))
	for _, sc := range scs {
		if sc.Name != name {
			continue
		}
		if !sc.Stationary() || sc.MachineShare > 0 || sc.AMDSeconds > 0 || sc.Lines > 0 {
			t.Fatalf("%q: only stationary scenarios without machines, AMD or a line limit are played by the daemon", name)
		}
		return sc
	}
	t.Fatalf("no scenario %q in deploy/pacing-scenarios.json", name)
	return shiftsim.Scenario{}
}

// simScenario is the switch's world for a pacing scenario: shiftsim's
// draws (lognormal with the same mean and log standard deviation, the
// same bounds) in the simulator's terms (a lognormal's spread is its
// standard deviation: mean·sqrt(exp(σ²)-1)).
func simScenario(sc shiftsim.Scenario) string {
	sd := func(mean, sigma float64) float64 { return mean * math.Sqrt(math.Expm1(sigma*sigma)) }
	var b strings.Builder
	fmt.Fprintf(&b, "seed: %d\nsessions_per_second: 0\nplayback: %g\ngateways: [{name: gw}]\n", sc.Seed, sc.SafeHarborSec)
	fmt.Fprintf(&b, "default: {answer: %g, ring: {dist: lognormal, mean: %g, spread: %g, max: %g},"+
		" talk: {dist: lognormal, mean: %g, spread: %g, min: 1}, patience: {dist: lognormal, mean: %g, spread: %g, min: 1}}\n",
		sc.AnswerRate, sc.RingSeconds, sd(sc.RingSeconds, 0.5), sc.NoAnswerSeconds,
		sc.TalkSeconds, sd(sc.TalkSeconds, sc.TalkSigma), sc.PatienceSeconds, sd(sc.PatienceSeconds, 0.6))
	b.WriteString("agents:\n")
	for i := range sc.Agents {
		fmt.Fprintf(&b, "  - {extension: %q, answer_delay: 0.2}\n", agentID(i))
	}
	return b.String()
}

func agentID(i int) string { return strconv.Itoa(1000 + i) }

// daemonRun is what the switch's ledger says of a shift.
type daemonRun struct {
	occupancy                       float64
	calls, live, abandoned, bridged int
	liveLate, abandonedLate         int // answered after the shift's end
	answerToBridge                  time.Duration
	lateBridges, cutWraps           int
	worstWait                       time.Duration // of a live answer for its bridge
	worstCut                        time.Duration // of a wrap-up cut short
	dialerLive, dialerAbandoned     int64
	exhausted                       bool
}

func (d daemonRun) abandonRate() float64 {
	if d.live == 0 {
		return 0
	}
	return 100 * float64(d.abandoned) / float64(d.live)
}

// runPacingDaemon plays the scenario's shift through the engine: members
// enough for it, the team in sessions, the campaign started at the
// shift's start and stopped at its end, then every call played out.
func runPacingDaemon(t *testing.T, sc shiftsim.Scenario, members int, step time.Duration) daemonRun {
	w := newWorld(t, simScenario(sc))
	w.startEngine()
	var agents []string
	for i := range sc.Agents {
		agents = append(agents, agentID(i))
		w.agent(&store.Agent{ID: agentID(i), Reach: store.ReachSession, WrapUpTime: int(sc.WrapSeconds)}, store.AgentAvailable)
	}
	w.runUntil("the sessions up", time.Minute, func() bool {
		for _, id := range agents {
			if w.agentLive(id).SessionState != store.SessionUp {
				return false
			}
		}
		return true
	})
	c := predictiveCampaign(w, func(c *store.Campaign) {
		c.Agents, c.AgentStrategy = agents, sc.Strategy
		c.Parameters.Limit, c.Parameters.OriginateTimeout = 100000, int(sc.NoAnswerSeconds)
		c.Parameters.WrapUpTime, c.Parameters.PredictAdjust = int(sc.WrapSeconds), sc.PredictAdjust
		c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = sc.Target, sc.Max
		c.Predictive.ConnectThreshold = sc.ConnectSeconds
	})
	for from := 0; from < members; from += 1000 {
		var ms []*store.Member
		for i := from; i < min(from+1000, members); i++ {
			ms = append(ms, mem(fmt.Sprintf("+38050%07d", i)))
		}
		w.add(c, ms...)
	}
	start := w.clk.Now()
	end := start.Add(time.Duration(sc.Hours * float64(time.Hour)))
	w.start(c)
	for next := start.Add(15 * time.Minute); w.clk.Now().Before(end); {
		w.clk.Advance(step)
		time.Sleep(2 * time.Millisecond)
		if !w.clk.Now().Before(next) {
			t.Logf("%v of the shift: %d calls", w.clk.Now().Sub(start), len(w.sw.Calls()))
			next = next.Add(15 * time.Minute)
		}
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if _, err := w.eng.StopCampaign(context.Background(), c.ID); err != nil {
			t.Error(err)
		}
	}()
	// then the calls in progress play out (a talk may last long: the
	// lognormal's tail)
	up := func() (n int) {
		_, ms := agentCalls(w, c)
		for _, m := range ms {
			if m.HungUpSeq == 0 {
				n++
			}
		}
		return n
	}
	w.runUntil("the campaign stopped", time.Minute, func() bool {
		select {
		case <-stopped:
			return true
		default:
			return false
		}
	})
	for w.clk.Now().Sub(end) < 2*time.Hour && up() > 0 {
		w.clk.Advance(time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	if n := up(); n > 0 {
		t.Fatalf("%d member calls still up 2 hours after the shift", n)
	}
	t.Logf("every call ended %v after the shift", w.clk.Now().Sub(end).Round(time.Second))

	var d daemonRun
	_, ms := agentCalls(w, c)
	d.calls = len(ms)
	d.exhausted = d.calls >= members
	threshold := time.Duration(sc.ConnectSeconds * float64(time.Second))
	var waited time.Duration
	for _, m := range ms {
		if m.Answered.IsZero() || m.AMDResult == "MACHINE" {
			continue
		}
		d.live++
		late := !m.Answered.Before(end)
		if late {
			d.liveLate++
		}
		if len(m.Bridges) == 0 {
			d.abandoned++
			if late {
				d.abandonedLate++
			}
			continue
		}
		d.bridged++
		wait := m.Bridges[0].From.Sub(m.Answered)
		waited += wait
		if wait > threshold {
			d.lateBridges++
		}
		d.worstWait = max(d.worstWait, wait)
	}
	if d.bridged > 0 {
		d.answerToBridge = waited / time.Duration(d.bridged)
	}
	// Occupancy as shiftsim counts it: each agent's time on calls
	// (their session leg's bridges) and in wrap-up (the campaign's, from
	// the call's end until the next call at the latest), over their time
	// logged in: from the shift's start to its end, or to the end of the
	// wrap-up of a call that outlasts it.
	wrap := time.Duration(sc.WrapSeconds * float64(time.Second))
	var busy, avail time.Duration
	for _, id := range agents {
		legs := sessionLegs(w, id)
		if len(legs) != 1 {
			t.Fatalf("agent %s: %d session legs, want one all along", id, len(legs))
		}
		out := end
		bs := legs[0].Bridges
		for i, b := range bs {
			if b.From.Before(start) {
				continue
			}
			until := b.Until.Add(wrap)
			if i+1 < len(bs) && bs[i+1].From.Before(until) {
				until = bs[i+1].From
				d.cutWraps++
				d.worstCut = max(d.worstCut, b.Until.Add(wrap).Sub(until))
			}
			busy += until.Sub(b.From)
			if until.After(out) {
				out = until
			}
		}
		avail += out.Sub(start)
	}
	d.occupancy = float64(busy) / float64(avail)
	st := must[*store.Stats](t)(w.st.CampaignStats(t.Context(), c.ID, w.clk.Now()))
	d.dialerLive, d.dialerAbandoned = st.Counters["live"], st.Counters["abandoned"]
	return d
}
