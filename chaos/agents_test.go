package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// agentSizeOf is the size of an agents run: the faults of TestChaos's
// sizes, on a progressive campaign of 20 agents.
func agentSizeOf(name string) (size, bool) {
	switch name {
	case "", "short":
		return size{name: "short", members: 200, limit: 40, dialerKills: 3, eslDrops: 3, redisRestarts: 3,
			redisDown: time.Second, redisUp: 1500 * time.Millisecond, dialerDown: 1500 * time.Millisecond, dialerUp: 1500 * time.Millisecond,
			deadline: 5 * time.Minute, channelsPerMember: 1.5, stall: 30 * time.Second}, true
	case "full":
		return size{name: "full", members: 2000, limit: 40, dialerKills: 20, eslDrops: 20, redisRestarts: 5,
			redisDown: 3 * time.Second, deadline: 45 * time.Minute,
			channelsPerMember: 1.5, stall: time.Minute}, true
	}
	return size{}, false
}

// The agents: 1000-1009 rung for each call, 1010-1019 reached by a
// persistent session (the simulator's phones user/1000 ...).
const (
	ringAgents    = 10
	sessionAgents = 10
	firstAgent    = 1000
)

// agentsScenario is the world of TestChaosAgents: members answer, are busy,
// reject and ring out as in TestChaos, talk 4 to 20 s once they hear an
// agent (some calls too short to count), and wait 4 to 12 s in silence
// after answering before they give up; every agent answers their phone 0.5
// to 1.5 s after it rings and never hangs up. There is no gateway or
// session throttle: progressive dialing places one call per ready agent,
// never a burst.
func agentsScenario() string {
	var b strings.Builder
	b.WriteString(`
gateways: [{name: gw}]
default:
  answer: 0.68
  busy: 0.2
  reject: 0.02
  ring: {dist: uniform, mean: 3, spread: 2}
  talk: {dist: uniform, mean: 12, spread: 8}
  patience: {dist: uniform, mean: 8, spread: 4}
agents:
`)
	for i := range ringAgents + sessionAgents {
		fmt.Fprintf(&b, "  - {extension: \"%d\", answer_delay: {dist: uniform, mean: 1, spread: 0.5}}\n", firstAgent+i)
	}
	return b.String()
}

// callbacksScenario: every 10 s of the switch's clock one of 40 members
// calls the dialer at addr; the dialplan's fallback takes those it hands
// back.
func callbacksScenario(addr string, members int) string {
	var callers []string
	for i := 0; i < 40; i++ {
		callers = append(callers, fmt.Sprintf("%q", fmt.Sprintf("+38050%07d", i*members/40)))
	}
	return fmt.Sprintf(`extensions: {fallback: {duration: 10}}
inbound: {socket: %q, rate: 6, callers: [%s], patience: 30, talk: {dist: uniform, mean: 12, spread: 8}}
`, addr, strings.Join(callers, ", "))
}

// faultBefore and faultGrace widen each fault window on the switch's
// clock (see TestChaosAgents).
const (
	faultBefore = 5 * time.Second  // 250 ms real
	faultGrace  = 20 * time.Second // 1 s real
)

// TestChaosAgents runs a progressive campaign through the real dialerd,
// fsim over ESL and a redis-server with AOF, with 20 agents: ten rung for
// each call, ten reached by a persistent session (park_after_bridge), all
// answering. It applies TestChaos's faults (dialerd killed, its event
// socket cut, Redis killed, each at random moments) and holds the dialer's
// records and the switch's ledger to VerifyAgents: the member calls as
// TestChaos does, no agent in two bridges or two calls at once, no member
// answered and left alone unless a fault explains it, no agent leg left up
// but the sessions the store holds.
//
// A fault window runs, on the switch's clock, from faultBefore before the
// fault struck (a bridge is sent within milliseconds of the answer, but an
// answer the dialer had just read dies with it) to the moment what it broke
// was back: for a dialerd kill or a socket cut, the first event
// subscription the switch reads after dialerd was started again or the
// socket let through, for Redis its first PONG; then faultGrace more (a
// dialer that just came back reconciles its calls with the switch before
// it bridges a member who answered meanwhile, and a member who answered
// in the window waits up to 12 s before hanging up).
func TestChaosAgents(t *testing.T) { chaosAgents(t, store.TypeProgressive) }

// TestChaosPredictive is TestChaosAgents on a predictive campaign: the
// members are dialed ahead of the agents, and each answer is bridged to
// an agent within the connect threshold or hears the safe-harbor message
// (abandoned, and ended ABANDONED). VerifyAgents holds it to that too: a
// member answered and neither bridged nor told, or told late, outside the
// fault windows, fails the run.
func TestChaosPredictive(t *testing.T) { chaosAgents(t, store.TypePredictive) }

func chaosAgents(t *testing.T, kind string) {
	sz, ok := agentSizeOf(os.Getenv(envSize))
	if !ok {
		t.Fatalf("%s=%q: want short or full", envSize, os.Getenv(envSize))
	}
	seed := runSeed(t, sz.name == "full")
	t.Logf("chaos agents run %s (%s), seed %d (replay: %s=%s %s=%d)", sz.name, kind, seed, envSize, sz.name, envSeed, seed)
	began := time.Now()
	r := newRun(t, sz, seed)
	// Members call back all along (a callback to a member the dialer is
	// calling goes back to the dialplan): agents are given to callers and
	// to the campaign's answers by the same reservations.
	inbound := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.scenario = agentsScenario() + callbacksScenario(inbound, sz.members)
	r.startProcesses("inbound: {listen: " + inbound + ", wait: 8s}\n")
	r.agentCampaign(kind, ringAgents, sessionAgents)
	chaosStart := time.Now()
	r.runFaults(r.plan())
	r.settle()
	took := time.Since(chaosStart)

	rec := r.recorded()
	rec.Agents = true
	run := r.agentRun()
	if kind == store.TypePredictive {
		run.SafeHarbor, run.Connect, run.MaxAbandon = safeHarborFile, connectThreshold, maxAbandon
	}
	r.fs.stop()
	led := r.ledger()
	rep := VerifyAgents(led, rec, run)
	ends := r.fromLogs()
	r.agentReport(led, rep, run, ends, seed, took, time.Since(began))
	r.checkEnd(len(rec.Members), sz.members, rep.Problems())
	if rep.AgentsBridged != ringAgents+sessionAgents {
		t.Errorf("%d agents talked to a member, want all %d", rep.AgentsBridged, ringAgents+sessionAgents)
	}
	if ends.races > 0 || ends.panics > 0 {
		t.Errorf("dialerd logged %d data races and %d panics (see %s)", ends.races, ends.panics, r.dir)
	}
	if t.Failed() && os.Getenv(envDir) == "" {
		t.Logf("the run's files are gone with the test; keep them with %s=DIR", envDir)
	}
}

// The predictive campaign's message, connect threshold and ceiling (%).
const (
	safeHarborFile   = "/sounds/safe-harbor.wav"
	connectThreshold = 2 * time.Second
	maxAbandon       = 5.0
)

// progressive creates the agents and a progressive campaign (see
// agentCampaign).
func (r *run) progressive(ring, session int) { r.agentCampaign(store.TypeProgressive, ring, session) }

// agentCampaign creates the agents (ring of them rung per call, then
// session of them in a session, from firstAgent on), makes them
// available, and creates, fills and starts a campaign of kind
// (progressive or predictive) for them, all through the REST API.
func (r *run) agentCampaign(kind string, ring, session int) {
	t := r.t
	var agents []any
	var ids []string
	for i := range ring + session {
		id := strconv.Itoa(firstAgent + i)
		reach := store.ReachRing
		if i >= ring {
			reach = store.ReachSession
		}
		ids = append(ids, id)
		agents = append(agents, map[string]any{"id": id, "name": "agent " + id, "reach": reach,
			"call_timeout": 10, "wrap_up_time": 2, "no_answer_delay_time": 5})
	}
	r.mustCall("POST", "/api/v2/callcenter/agent", map[string]any{"items": agents}, nil)
	for _, id := range ids {
		r.mustCall("POST", "/api/v2/callcenter/agent/"+id+"/status", map[string]any{"status": store.AgentAvailable}, nil)
	}
	camp := campaignBody("chaos agents", kind, r.size.limit, r.size.limit)
	camp["agents"], camp["agentStrategy"] = ids, "longest-idle-agent"
	params := camp["parameters"].(map[string]any)
	if kind == store.TypePredictive {
		// Dial ahead from the 30th call, aiming at 3 % abandoned; answers
		// no agent takes within 2 s hear the message, and end ABANDONED.
		params["predictAdjust"], params["targetPredictiveSilentCalls"], params["maxPredictiveSilentCalls"] = 30, 3, maxAbandon
		camp["predictive"] = map[string]any{"safeHarborFile": safeHarborFile, "connectThreshold": connectThreshold.Seconds()}
	}
	r.camp = r.createCampaign(camp)
	items := make([]any, r.size.members)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprintf("member %d", i), "communications": []any{map[string]any{"number": fmt.Sprintf("+38050%07d", i)}}}
	}
	var added struct {
		Data struct {
			InsertedCount int `json:"insertedCount"`
		} `json:"data"`
	}
	r.mustCall("POST", "/api/v2/dialer/"+r.camp+"/members", map[string]any{"items": items}, &added)
	if added.Data.InsertedCount != r.size.members {
		t.Fatalf("%d members inserted of %d", added.Data.InsertedCount, r.size.members)
	}
	r.mustCall("PUT", "/api/v2/dialer/"+r.camp+"/state/1", nil, nil)
}

// campaignFinished reports whether the run's campaign has finished.
func (r *run) campaignFinished() bool {
	c, err := r.st.GetCampaign(context.Background(), r.camp)
	return err == nil && c.State == store.StateFinished
}

// agentProblems waits for the campaign to finish, lets dialerd stop and
// holds what it recorded against the switch's ledger (VerifyAgents).
func (r *run) agentProblems() []string {
	r.waitFor("the campaign to finish", 2*time.Minute, r.campaignFinished)
	r.settle()
	rec := r.recorded()
	rec.Agents = true
	run := r.agentRun()
	r.fs.stop()
	return VerifyAgents(r.ledger(), rec, run).Problems()
}

// settle lets the last call's agent leg go (the campaign is finished once
// its members are; the agent's leg is hung up just after), then stops
// dialerd in order. fsim runs on: the agents' sessions are still up.
func (r *run) settle() {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		up := 0
		for _, c := range r.ledgerNow().Calls {
			if c.Variables["dialer_agent_id"] != "" && c.Variables["dialer_session"] == "" && c.HungUpSeq == 0 && !c.Stillborn {
				up++
			}
		}
		if up == 0 {
			break
		}
	}
	if err := r.d.stop(); err != nil {
		r.t.Errorf("dialerd's orderly stop: %v; its last lines:\n%s", err, tail(r.d.logPath(r.d.n), 20))
	}
}

// agentRun reads the agents from the store and the ledger's end once
// dialerd has stopped, and puts the run's faults on the switch's clock.
func (r *run) agentRun() AgentRun {
	t, ctx := r.t, context.Background()
	run := AgentRun{Agents: map[string]AgentEnd{}, Grace: faultGrace}
	all, err := r.st.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		run.Agents[a.ID] = AgentEnd{Reach: a.Reach, Status: a.Live.Status, Session: a.Live.Session, SessionState: a.Live.SessionState}
	}
	led := r.ledgerNow()
	run.EndSeq = lastSeq(led)
	for _, w := range r.windows {
		fw := FaultWindow{Kind: w.kind, From: r.simTime(w.start).Add(-faultBefore)}
		end := w.end
		if end.IsZero() {
			end = time.Now()
		}
		fw.Until = r.simTime(end)
		if w.kind != "redis" {
			// back once dialerd subscribes to the switch's events again
			for _, c := range led.Commands {
				if strings.HasPrefix(c.Line, "event ") && !c.At.Before(fw.Until) {
					fw.Until = c.At
					break
				}
			}
		}
		run.Faults = append(run.Faults, fw)
	}
	return run
}

// lastSeq is the sequence of the ledger's last entry.
func lastSeq(led sim.Ledger) uint64 {
	var n uint64
	for _, c := range led.Commands {
		n = max(n, c.Seq)
	}
	for _, l := range led.Logs {
		n = max(n, l.Seq)
	}
	for _, c := range led.Calls {
		n = max(n, c.CreatedSeq, c.HungUpSeq)
		for _, b := range c.Bridges {
			n = max(n, b.FromSeq, b.UntilSeq)
		}
	}
	return n
}

// agentReport prints the run's figures as the table docs/chaos.md keeps.
func (r *run) agentReport(led sim.Ledger, rep AgentReport, run AgentRun, logs fromLogs, seed uint64, chaos, total time.Duration) {
	byReach := map[string]int{}
	reachOf := map[string]string{}
	var waits []time.Duration // answer to bridge, of members bridged
	for _, c := range led.Calls {
		if a := c.Variables["dialer_agent_id"]; a != "" {
			reachOf[c.UUID] = legKind(c)
		}
	}
	for _, c := range led.Calls {
		if c.Variables["dialer_agent_id"] != "" || c.Variables["dialer_campaign_id"] != r.camp || len(c.Bridges) == 0 {
			continue
		}
		byReach[reachOf[c.Bridges[0].Other]]++
		waits = append(waits, c.Bridges[0].From.Sub(c.Answered))
	}
	// answers excused by a window's grace only: after what the fault broke
	// was back (how wide the grace must be)
	inGrace, latest := 0, time.Duration(0)
	for _, c := range led.Calls {
		if c.Variables["dialer_agent_id"] != "" || c.Variables["dialer_campaign_id"] != r.camp || c.Answered.IsZero() || len(c.Bridges) > 0 {
			continue
		}
		after, inside := time.Duration(-1), false
		for _, w := range run.Faults {
			switch d := c.Answered.Sub(w.Until); {
			case !c.Answered.Before(w.From) && d <= 0:
				inside = true
			case d > 0 && d <= run.Grace && (after < 0 || d < after):
				after = d
			}
		}
		if !inside && after >= 0 {
			inGrace++
			latest = max(latest, after)
		}
	}
	// how much of the campaign the windows cover, and how many answers
	// fall outside them all: those the abandon check holds to the rule
	var first, last time.Time
	outside := 0
	for _, c := range led.Calls {
		if c.Variables["dialer_agent_id"] != "" || c.Variables["dialer_campaign_id"] != r.camp {
			continue
		}
		if first.IsZero() || c.Created.Before(first) {
			first = c.Created
		}
		last = maxTime(last, c.Created, c.HungUp)
		if !c.Answered.IsZero() && len(excuses(run, c.Answered)) == 0 {
			outside++
		}
	}
	spans := make([][2]time.Time, 0, len(run.Faults))
	for _, w := range run.Faults {
		spans = append(spans, [2]time.Time{w.From, w.Until.Add(run.Grace)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0].Before(spans[j][0]) })
	var covered time.Duration
	var end time.Time
	for _, sp := range spans {
		from := sp[0]
		if from.Before(end) {
			from = end
		}
		if sp[1].After(from) {
			covered += sp[1].Sub(from)
			end = sp[1]
		}
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	q := func(p float64) string {
		if len(waits) == 0 {
			return "-"
		}
		return (waits[int(p*float64(len(waits)-1))] / timeScale).Round(time.Millisecond).String()
	}
	var down time.Duration
	for _, w := range run.Faults {
		down += w.Until.Add(run.Grace).Sub(w.From)
	}
	statuses := map[string]int{}
	for _, a := range run.Agents {
		statuses[a.Status]++
	}
	var st []string
	for s, n := range statuses {
		st = append(st, fmt.Sprintf("%d %s", n, s))
	}
	sort.Strings(st)
	checks := func(list ...[]string) string {
		n := 0
		for _, l := range list {
			n += len(l)
		}
		return strconv.Itoa(n)
	}
	rows := [][2]string{
		{"run, seed", fmt.Sprintf("%s, %d", r.size.name, seed)},
		{"members", strconv.Itoa(rep.Members)},
		{"agents", fmt.Sprintf("%d (%d rung per call, %d in a session); at the end %s", rep.Agents, ringAgents, sessionAgents, strings.Join(st, ", "))},
		{"member calls (channels the switch made)", fmt.Sprintf("%d (%d answered, %d reached their member, %d stillborn)", rep.Channels, rep.MembersUp, rep.Completed, rep.Stillborn)},
		{"agent legs", fmt.Sprintf("%d rung for a call, %d session calls (%d sessions up at the end)", rep.RingLegs, rep.SessionLegs, rep.SessionsUp)},
		{"members bridged to an agent", fmt.Sprintf("%d (%d to a rung agent, %d into a session), by %d agents", rep.Bridged, byReach["ring"], byReach["session"], rep.AgentsBridged)},
		{"callbacks (members who called in) the dialer took / **during a call to them**", fmt.Sprintf("%d / %d", rep.Callbacks, len(rep.Clashes))},
		{"answer to bridge, real time (p50 / p99 / max)", fmt.Sprintf("%s / %s / %s", q(0.5), q(0.99), q(1))},
	}
	if run.SafeHarbor != "" {
		rows = append(rows, [][2]string{
			{"members bridged within the connect threshold (2 s, switch's clock)", fmt.Sprintf("%d of %d bridged", rep.ConnectedInTime, rep.Bridged)},
			{"members answered and told the safe-harbor message (abandoned)", fmt.Sprintf("%d (%.1f %% of the %d answered)", rep.SafeHarbor, 100*float64(rep.SafeHarbor)/max(float64(rep.MembersUp), 1), rep.MembersUp)},
			{"**late safe-harbor messages / late bridges** (past the threshold + " + LateSlack.String() + ", outside any window)", fmt.Sprintf("%d / %d", len(rep.LateMessages), len(rep.LateBridges))},
			{"answers told the message: all (at most 3 times the 5 % ceiling) / outside every window", fmt.Sprintf("%.1f %% / %d of %d", 100*float64(rep.SafeHarbor)/max(float64(rep.MembersUp), 1), rep.QuietTold, rep.QuietAnswers)},
		}...)
	}
	rows = append(rows, [][2]string{
		{"dialer kills (SIGKILL)", strconv.Itoa(r.kills)},
		{"ESL drops", strconv.Itoa(r.drops)},
		{"Redis restarts (SIGKILL)", strconv.Itoa(r.restarts)},
		{"dialerd processes", fmt.Sprintf("%d (%d start-ups refused while Redis was down)", logs.incarnations, r.refusals)},
		{"fault windows, with grace (switch's clock)", fmt.Sprintf("%d, %s summed", len(run.Faults), down.Round(time.Second))},
		{"calls that ended unseen, classified by the switch's end record", strconv.Itoa(logs.byRecord)},
		{"calls recorded DIALER_LOST_CALL", strconv.Itoa(rep.Lost)},
		{"answered members never bridged, within a fault window (excused)", strconv.Itoa(len(rep.Excused))},
		{"of which in a grace only (answered after what broke was back)", fmt.Sprintf("%d, the latest %v after (%v real)", inGrace, latest.Round(time.Millisecond), (latest / timeScale).Round(time.Millisecond))},
		{"answered members outside every window (held to the abandon rule)", fmt.Sprintf("%d of %d; the windows cover %.0f %% of the campaign's %v", outside, rep.MembersUp, 100*covered.Seconds()/max(last.Sub(first).Seconds(), 1), last.Sub(first).Round(time.Second))},
		{"**abandoned members** (answered, never bridged, outside any window)", strconv.Itoa(len(rep.Abandoned))},
		{"**agents in two bridges at once**", strconv.Itoa(len(rep.AgentOverlaps))},
		{"**agents called twice at once**", strconv.Itoa(len(rep.AgentDoubles))},
		{"**stranded agent legs / ghost sessions**", fmt.Sprintf("%d / %d", len(rep.Stranded), len(rep.Ghosts))},
		{"**double dials**", strconv.Itoa(len(rep.DoubleDials))},
		{"**lost members / wrong end causes**", fmt.Sprintf("%d / %d", len(rep.LostMembers), len(rep.EndCauses))},
		{"members ended NORMAL_CLEARING whose answers no agent took (known defect)", strconv.Itoa(len(rep.AbandonedReached))},
		{"**outcome mismatches** (wrong, missing, duplicated, invented records)", checks(rep.Mismatches, rep.Unrecorded, rep.Duplicated, rep.Phantoms)},
		{"**redials after a completed call**", strconv.Itoa(len(rep.Redials))},
		{"attempts counted / member channels", fmt.Sprintf("%d / %d", rep.Attempts, rep.Channels)},
		{"wall time", fmt.Sprintf("%s of chaos, %s in all (builds included)", chaos.Round(time.Second), total.Round(time.Second))},
	}...)
	var b strings.Builder
	b.WriteString("\n| | |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	for _, w := range run.Faults {
		fmt.Fprintf(&b, "fault window: %s\n", w)
	}
	for _, e := range limit(rep.Excused, 10) {
		fmt.Fprintf(&b, "excused: %s\n", e)
	}
	r.t.Log(b.String())
	_ = os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(b.String()), 0o644)
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
