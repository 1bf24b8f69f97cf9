package dialer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/sim/simtest"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngineThroughput drives a voice broadcast through the engine on
// the real clock: subscribers answer at once and the message lasts 1 s.
// The simulator runs in its own process and Redis in its own, so this
// process's CPU is the engine's (with its ESL and Redis clients). It
// reports the sustained originates per second between the 2,000th and the
// 12,000th call, and the engine's CPU per 1,000 calls. Run with
// -benchtime 1x. "dnc=1M" has a million numbers and a thousand prefixes
// on the global do-not-call list (none of them a member's), which every
// placement checks: the check's cost, side by side with "dnc=none".
func BenchmarkEngineThroughput(b *testing.B) {
	b.Run("dnc=none", func(b *testing.B) { benchThroughput(b, 0) })
	b.Run("dnc=1M", func(b *testing.B) { benchThroughput(b, 1000000) })
}

func benchThroughput(b *testing.B, dncNumbers int) {
	const (
		members = 16000
		from    = 2000
		to      = 12000
	)
	for it := 0; it < b.N; it++ {
		addr := simtest.StartFsim(b, `
gateways: [{name: gw}]
playback: {mean: 1}
default: {answer: 1, ring: 0, talk: 3600}
`)
		eng, st, ctx, cancel, done := benchEngine(b, addr)
		c := benchBroadcast(b, ctx, st, 2000, members)
		if err := loadDNC(ctx, st, dncNumbers); err != nil {
			b.Fatal(err)
		}
		placed := func() int64 {
			for _, p := range eng.Progress() {
				if p.Campaign == c.ID {
					return p.Placed
				}
			}
			return 0
		}
		b.ResetTimer()
		if _, err := eng.StartCampaign(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		waitFor := func(n int64) {
			for deadline := time.Now().Add(3 * time.Minute); placed() < n; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("only %d calls placed", placed())
				}
			}
		}
		waitFor(from)
		start, cpu0 := time.Now(), cpuTime()
		waitFor(to)
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		calls := float64(to - from)
		b.ReportMetric(calls/elapsed.Seconds(), "originates/s")
		b.ReportMetric(float64(cpu.Milliseconds())/calls*1000, "cpu-ms/1000calls")
		var inFlight int
		for _, p := range eng.Progress() {
			inFlight = p.InFlight
		}
		b.ReportMetric(float64(inFlight), "in-flight-at-end")
		cancel()
		<-done
	}
}

// benchEngine starts an engine on the real clock with its own Redis,
// connected to the switch at addr, unpaced (the engine, not the pace, is
// measured); cancel stops it and done is closed once it has.
func benchEngine(b *testing.B, addr string) (eng *dialer.Engine, st *store.Store, ctx context.Context, cancel context.CancelFunc, done chan struct{}) {
	b.Helper()
	st = storetest.Open(b)
	client := esl.NewClient(esl.ClientConfig{
		Config: esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name:   "fs1", Address: addr, Events: dialer.Events(),
		OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
	})
	pool := esl.NewPool(esl.NewNode(client, 0))
	eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(pool), Clock: clock.Real{}, Instance: "bench",
		CallsPerSecond: -1})
	ctx, cancel = context.WithCancel(context.Background())
	go pool.Run(ctx)
	done = make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	wait, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := client.WaitState(wait, esl.Connected); err != nil {
		b.Fatal(err)
	}
	return eng, st, ctx, cancel, done
}

// benchBroadcast creates a broadcast campaign of limit lines on gateway
// gw with members +38050... and returns it, not started.
func benchBroadcast(b *testing.B, ctx context.Context, st *store.Store, limit, members int) *store.Campaign {
	b.Helper()
	c := &store.Campaign{Name: "bench", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: limit, MinBillSec: 1, OriginateTimeout: 30},
		Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
		Broadcast:  store.Broadcast{File: "/m.wav"}}
	if err := st.CreateCampaign(ctx, c, time.Now()); err != nil {
		b.Fatal(err)
	}
	ms := make([]*store.Member, members)
	for i := range ms {
		ms[i] = &store.Member{Communications: []store.Communication{{Number: fmt.Sprintf("+38050%07d", i)}}}
	}
	if _, err := st.InsertMembers(ctx, c, ms, time.Now()); err != nil {
		b.Fatal(err)
	}
	return c
}

// loadDNC lists n numbers (+38099...) and n/1000 prefixes (4470...) on
// the global do-not-call list.
func loadDNC(ctx context.Context, st *store.Store, n int) error {
	const step = store.MaxDNCBatch / 2 // with the prefixes, under the most one call adds
	for start := 0; start < n; start += step {
		var batch []string
		for i := start; i < min(start+step, n); i++ {
			batch = append(batch, fmt.Sprintf("+38099%07d", i))
			if i%1000 == 0 {
				batch = append(batch, fmt.Sprintf("4470%04d*", i/1000))
			}
		}
		if _, err := st.AddDNC(ctx, "", batch); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkProgressive: 1,000 agents and 1,000 calls in flight (2,000
// channels: each agent's and its member's) on one engine, through the
// simulator in its own process. Agents answer in 0.5 s and members after
// a 2 s ring, then talk for minutes, so calls pile up until every agent
// talks. It reports, from the simulator's own record, the time from each
// member's answer to the bridge with the agent (the member's dead air:
// the engine reads CHANNEL_ANSWER and writes uuid_bridge in between),
// p50 and p99, and the engine's CPU per call. "ring" rings each agent for
// each call; "session" has every agent's session up before the campaign
// starts, so only members are dialed.
func BenchmarkProgressive(b *testing.B) {
	b.Run("ring", func(b *testing.B) { benchAgents(b, store.TypeProgressive, store.ReachRing, 1000, 0.5) })
	b.Run("session", func(b *testing.B) { benchAgents(b, store.TypeProgressive, store.ReachSession, 1000, 0.5) })
}

// BenchmarkPredictive: 200 agents and a predictive campaign; its first
// round dials one member per agent, and all 200 answer within a second of
// each other: 200 live answers at once, each of which must find an agent
// (the seeker's reservation in Redis) and be bridged. "session": every
// agent's session is up, the member is bridged into it; "ring": the agent
// is rung once the member answered, and answers at once (auto-answer), so
// the time is the dialer's and the switch's, not a person's.
func BenchmarkPredictive(b *testing.B) {
	b.Run("session", func(b *testing.B) { benchAgents(b, store.TypePredictive, store.ReachSession, 200, 0.5) })
	b.Run("ring", func(b *testing.B) { benchAgents(b, store.TypePredictive, store.ReachRing, 200, 0) })
}

func benchAgents(b *testing.B, typ, reach string, agents int, answerDelay float64) {
	for it := 0; it < b.N; it++ {
		var sc strings.Builder
		sc.WriteString("gateways: [{name: gw}]\ndefault: {answer: 1, ring: 2, talk: 600}\nagents:\n")
		for i := 0; i < agents; i++ {
			fmt.Fprintf(&sc, "  - {extension: \"%d\", answer_delay: %g}\n", 1000+i, answerDelay)
		}
		ledger := filepath.Join(b.TempDir(), "ledger.jsonl")
		addr := simtest.StartFsim(b, sc.String(), "-ledger", ledger)
		st := storetest.Open(b)
		ctx, cancel := context.WithCancel(context.Background())
		var eng *dialer.Engine
		tap := &bridgeTap{answered: map[string]time.Time{}, bridged: map[string]time.Time{}, rung: map[string]time.Time{}, agentAnswered: map[string]time.Time{}}
		client := esl.NewClient(esl.ClientConfig{
			Config: esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) {
				if ev.Name() == "CHANNEL_ANSWER" {
					if ev.Var("dialer_agent_id") == "" {
						tap.mark(tap.answered, ev.UniqueID())
					} else if ev.Var("dialer_session") == "" { // a leg rung for this call: its attempt is the member's leg
						tap.mark(tap.agentAnswered, ev.Var("dialer_attempt_id"))
					}
				}
				eng.HandleEvent("fs1", ev)
			}},
			Name: "fs1", Address: addr, Events: dialer.Events(),
			OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
		})
		pool := esl.NewPool(esl.NewNode(client, 0))
		metrics := dialer.NewMetrics(nil)
		eng = dialer.New(dialer.Config{Store: st, Switches: tappedSwitches{dialer.PoolSwitches(pool), tap}, Clock: clock.Real{},
			Instance: "bench", CallsPerSecond: -1, Metrics: metrics})
		go pool.Run(ctx)
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		wait, stop := context.WithTimeout(ctx, 10*time.Second)
		if err := client.WaitState(wait, esl.Connected); err != nil {
			b.Fatal(err)
		}
		stop()
		for i := 0; i < agents; i++ {
			id := fmt.Sprint(1000 + i)
			if _, err := st.PutAgent(ctx, &store.Agent{ID: id, Skills: []string{"bench"}, Reach: reach}, time.Now()); err != nil {
				b.Fatal(err)
			}
			if err := st.SetAgentStatus(ctx, id, store.AgentAvailable, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		c := &store.Campaign{Name: "bench", Type: typ, Skills: []string{"bench"},
			Parameters: store.Parameters{Limit: 2 * agents, MinBillSec: 1, OriginateTimeout: 30},
			Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}}}
		if err := st.CreateCampaign(ctx, c, time.Now()); err != nil {
			b.Fatal(err)
		}
		var ms []*store.Member
		for i := 0; i < 2*agents; i++ {
			ms = append(ms, &store.Member{Communications: []store.Communication{{Number: fmt.Sprintf("+38050%07d", i)}}})
		}
		if _, err := st.InsertMembers(ctx, c, ms, time.Now()); err != nil {
			b.Fatal(err)
		}
		if reach == store.ReachSession {
			waitSessions(b, st, agents)
		}
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		if _, err := eng.StartCampaign(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		bridged := metrics.Bridged.WithLabelValues(c.ID)
		for deadline := time.Now().Add(3 * time.Minute); testutil.ToFloat64(bridged) < float64(agents); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("only %v members bridged", testutil.ToFloat64(bridged))
			}
		}
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		engine := tap.latencies()
		sort.Slice(engine, func(i, j int) bool { return engine[i] < engine[j] })
		b.ReportMetric(float64(engine[len(engine)/2].Microseconds())/1000, "answer-read-to-bridge-written-p50-ms")
		b.ReportMetric(float64(engine[len(engine)*99/100].Microseconds())/1000, "answer-read-to-bridge-written-p99-ms")
		bridges := answerToBridge(b, ledger)
		sort.Slice(bridges, func(i, j int) bool { return bridges[i] < bridges[j] })
		b.ReportMetric(float64(bridges[len(bridges)/2].Microseconds())/1000, "switch-answer-to-bridge-p50-ms")
		b.ReportMetric(float64(bridges[len(bridges)*99/100].Microseconds())/1000, "switch-answer-to-bridge-p99-ms")
		if own := tap.engineOnly(); len(own) > 0 {
			sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
			b.ReportMetric(float64(own[len(own)/2].Microseconds())/1000, "engine-only-p50-ms")
			b.ReportMetric(float64(own[len(own)*99/100].Microseconds())/1000, "engine-only-p99-ms")
		}
		if reach == store.ReachRing && typ == store.TypePredictive {
			// where a ring's time goes: to the agent's leg, its answer, the bridge
			for i, part := range ringParts(b, ledger) {
				sort.Slice(part, func(i, j int) bool { return part[i] < part[j] })
				name := []string{"answer-to-agent-leg", "agent-leg-to-its-answer", "agent-answer-to-bridge"}[i]
				b.ReportMetric(float64(part[len(part)/2].Microseconds())/1000, name+"-p50-ms")
			}
		}
		b.ReportMetric(float64(cpu.Milliseconds())/float64(agents), "cpu-ms/call")
		b.ReportMetric(elapsed.Seconds(), "s-to-all-bridged")
		if typ == store.TypePredictive {
			b.ReportMetric(testutil.ToFloat64(metrics.Abandoned.WithLabelValues(c.ID)), "abandoned")
		}
		cancel()
		<-done
	}
}

// waitSessions waits until n agents have their session up.
func waitSessions(b *testing.B, st *store.Store, n int) {
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		all, err := st.ListAgents(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		up := 0
		for _, v := range all {
			if v.Live.SessionState == store.SessionUp {
				up++
			}
		}
		if up == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sessions up", up, n)
		}
	}
}

// readLedger reads the ledger fsim wrote.
func readLedger(b *testing.B, path string) sim.Ledger {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	led, err := sim.ReadLedger(f)
	if err != nil {
		b.Fatal(err)
	}
	return led
}

// answerToBridge reads the simulator's ledger: for each member's channel
// that was bridged, the time from its answer to the bridge.
func answerToBridge(b *testing.B, path string) []time.Duration {
	led := readLedger(b, path)
	var out []time.Duration
	for _, call := range led.Calls {
		if call.Variables["dialer_agent_id"] == "" && !call.Bridged.IsZero() && !call.Answered.IsZero() {
			out = append(out, call.Bridged.Sub(call.Answered))
		}
	}
	return out
}

// ringParts splits, from the ledger, the time from a member's answer to
// the bridge of a predictive call that rang its agent: to the agent leg's
// creation, to its answer, to the bridge.
func ringParts(b *testing.B, path string) [3][]time.Duration {
	led := readLedger(b, path)
	legs := map[string]sim.CallRecord{}
	for _, call := range led.Calls {
		legs[call.UUID] = call
	}
	var out [3][]time.Duration
	for _, m := range led.Calls {
		a, ok := legs[m.BridgedTo]
		if m.Variables["dialer_agent_id"] != "" || m.Bridged.IsZero() || !ok || a.Answered.IsZero() {
			continue
		}
		out[0] = append(out[0], a.Created.Sub(m.Answered))
		out[1] = append(out[1], a.Answered.Sub(a.Created))
		out[2] = append(out[2], m.Bridged.Sub(a.Answered))
	}
	return out
}

// bridgeTap times, per member leg, the reading of its CHANNEL_ANSWER and
// the writing of its uuid_bridge: the engine's part of the dead air.
type bridgeTap struct {
	mu                sync.Mutex
	answered, bridged map[string]time.Time
	// Rung per call after the answer (predictive): when the agent's
	// originate was written and its answer read, by the member's leg.
	rung, agentAnswered map[string]time.Time
}

func (t *bridgeTap) mark(m map[string]time.Time, uuid string) {
	t.mu.Lock()
	if _, seen := m[uuid]; !seen {
		m[uuid] = time.Now()
	}
	t.mu.Unlock()
}

func (t *bridgeTap) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for uuid, b := range t.bridged {
		if a, ok := t.answered[uuid]; ok {
			out = append(out, b.Sub(a))
		}
	}
	return out
}

// tappedSwitches hands the engine switches whose uuid_bridge writes are
// timed.
type tappedSwitches struct {
	dialer.Switches
	tap *bridgeTap
}

func (ts tappedSwitches) Node(name string) dialer.Switch {
	sw := ts.Switches.Node(name)
	if sw == nil {
		return nil
	}
	return tappedSwitch{sw, ts.tap}
}

type tappedSwitch struct {
	dialer.Switch
	tap *bridgeTap
}

func (s tappedSwitch) API(ctx context.Context, command string) (string, error) {
	s.tap.command(command)
	return s.Switch.API(ctx, command)
}

func (s tappedSwitch) BgAPIJob(ctx context.Context, jobID, command string) (*esl.Job, error) {
	s.tap.command(command)
	return s.Switch.BgAPIJob(ctx, jobID, command)
}

// command times a uuid_bridge as it is written (api or bgapi).
func (t *bridgeTap) command(command string) {
	if rest, ok := strings.CutPrefix(command, "uuid_bridge "); ok {
		member, _, _ := strings.Cut(rest, " ")
		t.mark(t.bridged, member)
	}
	if strings.HasPrefix(command, "originate ") && strings.Contains(command, "dialer_agent_id=") {
		if _, rest, ok := strings.Cut(command, "dialer_attempt_id="); ok {
			member, _, _ := strings.Cut(rest, ",")
			t.mark(t.rung, member)
		}
	}
}

// engineOnly is, for calls whose agent was rung after the member's
// answer, the engine's own part of the answer-to-bridge time: from the
// member's answer read to the agent's originate written, plus from the
// agent's answer read to the bridge written (the switch's setup of the
// agent's leg and the phone's answer left out).
func (t *bridgeTap) engineOnly() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for uuid, b := range t.bridged {
		a, ok1 := t.answered[uuid]
		o, ok2 := t.rung[uuid]
		aa, ok3 := t.agentAnswered[uuid]
		if ok1 && ok2 && ok3 && o.After(a) {
			out = append(out, o.Sub(a)+b.Sub(aa))
		}
	}
	return out
}
