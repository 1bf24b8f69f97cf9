package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

const demoSynopsis = `Usage: dialerd demo [flags]

Runs the dialer with nothing installed: an in-process Redis, the FreeSWITCH
simulator on a loopback event socket with simulated agents, and a
predictive campaign (or -type progressive, or a voice broadcast: -type
broadcast), all on one clock that can run faster than real time. It prints the API's address
and token, the campaign's progress and, when it finishes, a summary; the
API stays up until Ctrl-C (or -exit-when-done).
`

type demoFlags struct {
	listen       string
	scale        float64
	members      int
	agents       int
	reach        string
	kind         string
	seed         uint64
	every        time.Duration
	exitWhenDone bool
}

func demoFlagSet() (*flag.FlagSet, *demoFlags) {
	f := &demoFlags{}
	fs := flag.NewFlagSet("dialerd demo", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "REST API and metrics `address`")
	fs.Float64Var(&f.scale, "time-scale", 1, "run this many times faster than real time (engine and simulator together)")
	fs.IntVar(&f.members, "members", 3000, "members of the demo campaign")
	fs.StringVar(&f.kind, "type", "predictive", "the demo campaign: predictive (dialed ahead of the agents), progressive (an agent reserved first) or broadcast (a message)")
	fs.IntVar(&f.agents, "agents", 20, "simulated agents of a predictive or progressive demo (1 to 1,000)")
	fs.StringVar(&f.reach, "reach", "session", "how the demo's agents are reached: session (called once, members bridged in) or ring (each call rings them)")
	fs.Uint64Var(&f.seed, "seed", 1, "the simulator's seed")
	fs.DurationVar(&f.every, "report", 3*time.Second, "real time between progress lines")
	fs.BoolVar(&f.exitWhenDone, "exit-when-done", false, "exit once the campaign finishes instead of serving the API until Ctrl-C")
	return fs, f
}

// errDemoDone ends the demo when its campaign finished and -exit-when-done
// asked for that.
var errDemoDone = errors.New("the campaign finished (-exit-when-done)")

// runDemo runs the dialer on its embedded defaults: an in-process Redis,
// the simulator behind a loopback event socket, and a voice broadcast
// campaign, on one clock.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := demoFlagSet()
	if err := parse(fs, demoSynopsis, args, stdout, stderr); err != nil {
		return err
	}
	if f.scale <= 0 || f.members < 1 || f.members > 1000000 || f.every <= 0 || f.agents < 1 || f.agents > 1000 {
		return errors.New("demo: -time-scale and -report must be above 0, -members from 1 to 1,000,000, -agents from 1 to 1,000")
	}
	if f.kind != "predictive" && f.kind != "progressive" && f.kind != "broadcast" {
		return fmt.Errorf("demo: -type %q: predictive, progressive or broadcast", f.kind)
	}
	if f.reach != store.ReachRing && f.reach != store.ReachSession {
		return fmt.Errorf("demo: -reach %q: ring or session", f.reach)
	}
	cfg, err := loadConfig("")
	if err != nil {
		return err
	}
	cfg.Redis.URL = "embedded"
	cfg.HTTP.Listen = f.listen
	cfg.Inbound.Listen = "127.0.0.1:0" // the simulator's callers dial in
	// Before anything is printed: a taken port must not follow a banner.
	ls, err := openListeners(cfg, demoListenHint)
	if err != nil {
		return err
	}
	api := ls[0].Addr().String() // the port chosen, if -listen asked for :0
	if len(cfg.API.Tokens) == 0 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cfg.API.Tokens = []string{hex.EncodeToString(b)}
	}
	var clk clock.Clock = clock.Real{}
	if f.scale != 1 {
		clk = clock.NewScaled(f.scale)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	sc := sim.DefaultScenario()
	sc.Seed = f.seed
	for i := len(sc.Agents); i < f.agents; i++ { // the default world has 20 phones
		sc.Agents = append(sc.Agents, sim.AgentSpec{Extension: fmt.Sprint(1000 + i), AnswerDelay: sc.Agents[0].AnswerDelay})
	}
	// The desk phone, whose agent takes no campaign call: click-to-call's.
	sc.Agents = append(sc.Agents, sim.AgentSpec{Extension: demoDeskExtension, AnswerDelay: sc.Agents[0].AnswerDelay})
	cfg.Dialer.CallsCampaign = demoCallsCampaign
	// Callers dial in twice a minute: two members calling back, and a
	// stranger whom the dialplan's fallback takes.
	sc.Extensions = map[string]sim.Extension{"fallback": {Duration: sim.Dist{Mean: 30}}}
	sc.Inbound = &sim.InboundSpec{Socket: ls[len(ls)-1].Addr().String(), Rate: 2,
		Callers: []string{"+380500000001", "380500000002", "+380441234567"}}
	if err := sc.Prepare(); err != nil {
		closeAll(ls)
		return err
	}
	sw := sim.New(sc, clk, sim.Options{DiscardLedger: true}) // a demo runs for hours: the record would only grow
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeAll(ls)
		return err
	}
	go sw.Serve(l)
	defer sw.Close()
	cfg.FreeSWITCH.Nodes = []Node{{Name: "sim", Address: l.Addr().String(), Password: "ClueCon"}}

	d, err := newDaemon(ctx, cfg, clk, log)
	if err != nil {
		closeAll(ls)
		return err
	}
	start := d.clock.Now()
	c, err := seedDemo(ctx, d, f)
	if err != nil {
		closeAll(ls)
		d.store.Close()
		return fmt.Errorf("demo campaign: %w", err)
	}
	token := cfg.API.Tokens[0]
	who := ""
	if f.kind != "broadcast" {
		who = fmt.Sprintf(", %d agents (reach %s)", f.agents, f.reach)
	}
	fmt.Fprintf(stdout, "fsdialer demo: a %s campaign of %d members%s, campaign %s, simulator on %s, time x%g\n", f.kind, f.members, who, c.ID, l.Addr(), f.scale)
	fmt.Fprintf(stdout, "  REST API  http://%s/api/v2/dialer   (X-Access-Token: %s)\n", api, token)
	fmt.Fprintf(stdout, "  metrics   http://%s/metrics\n", api)
	fmt.Fprintf(stdout, "  try       curl -H 'X-Access-Token: %s' http://%s/api/v2/dialer/%s/stats\n", token, api, c.ID)
	fmt.Fprintf(stdout, "  call      curl -H 'X-Access-Token: %s' -d '{\"destination\":\"+380501234567\",\"from\":{\"extension\":\"%s\"}}' http://%s/api/calls\n", token, demoDeskExtension, api)
	fmt.Fprintf(stdout, "  inbound   callers dial in twice a minute (members calling back go to an agent): dialer_inbound_calls_total on /metrics\n")
	fmt.Fprintf(stdout, "  stop      Ctrl-C\n")

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	w := &watcher{d: d, campaign: c.ID, every: f.every, scale: f.scale, api: api, out: stdout, started: start, realStart: time.Now(), agents: f.kind != "broadcast"}
	if f.exitWhenDone {
		w.done = func() { stop(errDemoDone) }
	}
	var watching sync.WaitGroup
	watching.Go(func() { w.watch(runCtx) })
	watching.Go(func() { sw.RunInbound(runCtx) })
	err = d.run(runCtx, ls)
	stop(nil)
	watching.Wait()
	if err != nil {
		return err
	}
	if cause := context.Cause(runCtx); !errors.Is(cause, errDemoDone) {
		fmt.Fprintf(stdout, "fsdialer demo: stopped (%v). Goodbye.\n", cause)
	} else {
		fmt.Fprintln(stdout, "fsdialer demo: stopped, as -exit-when-done asks. Goodbye.")
	}
	return nil
}

// demoListenHint: the demo's address is a flag.
func demoListenHint(_, addr string) (name, advice string) {
	free := freeNear(addr)
	return "-listen", fmt.Sprintf("choose a free one, such as -listen %s (make run ARGS='-listen %s')", free, free)
}

// The demo's click-to-call: its campaign (by name) and the extension of
// the desk agent who clicks.
const (
	demoCallsCampaign = "click-to-call"
	demoDeskExtension = "2000"
)

// seedDemo creates the demo's agents and campaigns (the demo's and
// click-to-call's), and starts them.
func seedDemo(ctx context.Context, d *daemon, f *demoFlags) (*store.Campaign, error) {
	if err := seedClickToCall(ctx, d); err != nil {
		return nil, err
	}
	n := f.members
	c := &store.Campaign{
		Name: "Demo voice broadcast", Description: "members of the simulator's default world", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 100, MinBillSec: 5, OriginateTimeout: 30, MaxTryCount: 3, IntervalTryCount: 120},
		Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
			{GwName: "subscribers", DialString: "$1", GwProto: "sip", Limit: 300, Enabled: true, CallerIDNumber: "380440000000"},
		}}},
		Broadcast: store.Broadcast{File: "/usr/share/freeswitch/sounds/demo-message.wav"},
	}
	if f.kind != "broadcast" {
		c.Name, c.Type, c.Broadcast = "Demo progressive", store.TypeProgressive, store.Broadcast{}
		if f.kind == "predictive" {
			c.Name, c.Type = "Demo predictive", store.TypePredictive
			c.Parameters.PredictAdjust, c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = 100, 2.5, 3
			c.Compliance = store.ComplianceUK
			c.Predictive.SafeHarborFile = "/usr/share/freeswitch/sounds/fsdialer/safe-harbor.wav"
		}
		c.Skills, c.AgentStrategy = []string{"demo"}, "longest-idle-agent"
		c.AgentParams = store.AgentParams{WrapUpTime: 10, NoAnswerDelayTime: 30, MaxNoAnswer: 3}
		for i := 0; i < f.agents; i++ {
			id := fmt.Sprint(1000 + i) // the simulator's phones user/1000 ...
			if _, err := d.store.PutAgent(ctx, &store.Agent{ID: id, Name: fmt.Sprintf("Demo agent %d", i+1), Skills: []string{"demo"}, Reach: f.reach}, d.clock.Now()); err != nil {
				return nil, err
			}
			if err := d.store.SetAgentStatus(ctx, id, store.AgentAvailable, d.clock.Now()); err != nil {
				return nil, err
			}
		}
	}
	if err := d.store.CreateCampaign(ctx, c, d.clock.Now()); err != nil {
		return nil, err
	}
	const batch = 10000
	for base := 0; base < n; base += batch {
		var ms []*store.Member
		for i := base; i < min(base+batch, n); i++ {
			m := &store.Member{Name: fmt.Sprintf("Demo member %d", i+1),
				Communications: []store.Communication{{Number: fmt.Sprintf("+38050%07d", i), Priority: 2}}}
			if i%3 == 0 {
				m.Communications = append(m.Communications, store.Communication{Number: fmt.Sprintf("+38067%07d", i), Priority: 1})
			}
			ms = append(ms, m)
		}
		if _, err := d.store.InsertMembers(ctx, c, ms, d.clock.Now()); err != nil {
			return nil, err
		}
	}
	return d.engine.StartCampaign(ctx, c.ID)
}

// seedClickToCall creates the click-to-call campaign and its desk agent,
// who serves no other campaign (no skill), and runs the campaign.
func seedClickToCall(ctx context.Context, d *daemon) error {
	desk := &store.Agent{ID: "desk", Name: "Demo desk", Contact: "user/" + demoDeskExtension}
	if _, err := d.store.PutAgent(ctx, desk, d.clock.Now()); err != nil {
		return err
	}
	if err := d.store.SetAgentStatus(ctx, desk.ID, store.AgentAvailable, d.clock.Now()); err != nil {
		return err
	}
	// The gateway's limit is the gateway's, the same in every campaign
	// using it; the higher priority puts a click before the campaign's
	// next calls when the lines are short.
	c := &store.Campaign{Name: demoCallsCampaign, Description: "POST /api/calls: the desk agent's calls", Type: store.TypeProgressive,
		Priority:   10,
		Parameters: store.Parameters{Limit: 10, MinBillSec: 5, OriginateTimeout: 30},
		Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
			{GwName: "subscribers", DialString: "$1", GwProto: "sip", Limit: 300, Enabled: true, CallerIDNumber: "380440000000"},
		}}},
		Agents: []string{desk.ID},
	}
	if err := d.store.CreateCampaign(ctx, c, d.clock.Now()); err != nil {
		return err
	}
	_, err := d.engine.StartCampaign(ctx, c.ID)
	return err
}

// watcher follows the demo campaign: a progress line with an estimate of
// the time left every interval while it runs, a summary when it finishes.
// It polls the store: a finished campaign is a state the engine writes
// there, and members added through the API count as well.
type watcher struct {
	d         *daemon
	campaign  string
	every     time.Duration // real time between progress lines
	scale     float64
	api       string
	out       io.Writer
	done      func() // called once the campaign finished; nil: keep serving
	started   time.Time
	realStart time.Time
	agents    bool // a demo with agents: show them
}

func (w *watcher) watch(ctx context.Context) {
	poll := time.NewTicker(min(w.every, 250*time.Millisecond))
	defer poll.Stop()
	state := store.StateRunning
	est := estimator{since: w.started}
	lastLine := time.Now()
	var placedBefore int64
	placedAt := w.started
	for {
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, errDemoDone) {
				fmt.Fprintf(w.out, "fsdialer demo: %v: stopping (Ctrl-C again to quit at once)\n", cause)
			}
			return
		case <-poll.C:
		}
		c, err := w.d.store.GetCampaign(ctx, w.campaign)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) && state != "deleted" {
				fmt.Fprintf(w.out, "fsdialer demo: the campaign was deleted through the API; the API stays up at http://%s, Ctrl-C stops it\n", w.api)
				state = "deleted"
			}
			continue // Redis errors: the next poll tries again
		}
		counts, err := w.d.store.MemberCounts(ctx, w.campaign)
		if err != nil {
			continue
		}
		var total int64
		for _, n := range counts {
			total += n
		}
		done, now := counts[store.MemberDone], w.d.clock.Now()
		switch {
		case c.State == store.StateFinished && state != store.StateFinished:
			w.summary(ctx, c)
			if w.done != nil {
				w.done()
				return
			}
			fmt.Fprintf(w.out, "The REST API stays up at http://%s/api/v2/dialer (add members with ?autoRun=true to dial again); Ctrl-C stops it.\n", w.api)
		case c.State == store.StateRunning && state != store.StateRunning:
			fmt.Fprintf(w.out, "demo %s  the campaign runs again\n", fmtElapsed(now.Sub(w.started)))
			est = estimator{since: now, doneBefore: done}
		case c.State != store.StateRunning && c.State != state:
			fmt.Fprintf(w.out, "demo %s  the campaign is %s (through the API)\n", fmtElapsed(now.Sub(w.started)), c.State)
		case c.State == store.StateRunning && time.Since(lastLine) >= w.every:
			var p struct {
				placed, answered int64
				inFlight         int
			}
			for _, pr := range w.d.engine.Progress() {
				if pr.Campaign == w.campaign {
					p.placed, p.answered, p.inFlight = pr.Placed, pr.Answered, pr.InFlight
				}
			}
			rate := float64(p.placed-placedBefore) / max(now.Sub(placedAt).Seconds(), 1e-9)
			placedBefore, placedAt = p.placed, now
			fmt.Fprintf(w.out, "demo %s  done %d/%d  placed %d  answered %d  in flight %d  %.1f calls/s  %s\n",
				fmtElapsed(now.Sub(w.started)), done, total, p.placed, p.answered, p.inFlight, rate, w.left(est, now, done, total))
			if w.agents {
				fmt.Fprintf(w.out, "           %s\n", w.agentLine(ctx, now))
				fmt.Fprintf(w.out, "           %s\n", w.silentLine(ctx, now))
			}
			lastLine = time.Now()
		}
		state = c.State
	}
}

// agentLine says what the campaign's agents do (the click-to-call desk
// is not one): how many in each state, their occupancy (in a call or
// wrap-up, of the available ones) and the calls each has answered per
// hour so far.
func (w *watcher) agentLine(ctx context.Context, now time.Time) string {
	c, err := w.d.store.GetCampaign(ctx, w.campaign)
	if err != nil {
		return "agents: not known"
	}
	views, err := w.d.store.ListAgents(ctx)
	var all []store.AgentView
	for _, a := range views {
		if c.ServedBy(a.Agent) {
			all = append(all, a)
		}
	}
	if err != nil || len(all) == 0 {
		return "agents: not known"
	}
	byState := map[string]int{}
	available, busy, answered := 0, 0, 0
	for _, a := range all {
		st := a.Live.Shown(now)
		byState[st]++
		answered += a.Live.CallsAnswered
		if store.Available(a.Live.Status) {
			available++
			if st != store.AgentWaiting && st != store.AgentIdle {
				busy++
			}
		}
	}
	var parts []string
	for _, st := range []string{store.AgentInCall, store.AgentWrapUp, store.AgentOffering, store.AgentReserved, store.AgentWaiting, store.AgentIdle} {
		if n := byState[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", strings.ToLower(st), n))
		}
	}
	occupancy := 0.0
	if available > 0 {
		occupancy = float64(busy) / float64(available)
	}
	perHour := 0.0
	if h := now.Sub(w.started).Hours(); h > 0 {
		perHour = float64(answered) / float64(len(all)) / h
	}
	return fmt.Sprintf("agents %d: %s  occupancy %.0f%%  %.1f calls per agent-hour", len(all), strings.Join(parts, ", "), 100*occupancy, perHour)
}

// silentLine says how the campaign keeps to the silent-call rules: the
// abandon rate (abandoned over live answers) over each window, and the
// share of live answers connected to an agent within the 2 s threshold.
func (w *watcher) silentLine(ctx context.Context, now time.Time) string {
	st, err := w.d.store.CampaignStats(ctx, w.campaign, now)
	if err != nil {
		return "abandon rate: not known"
	}
	c, err := w.d.store.GetCampaign(ctx, w.campaign)
	if err != nil {
		return "abandon rate: not known"
	}
	rates := st.AbandonRates(c.FalseMachineShare())
	var p dialer.Progress
	for _, pr := range w.d.engine.Progress() {
		if pr.Campaign == w.campaign {
			p = pr
		}
	}
	return fmt.Sprintf("abandoned %d of %d live answers: %.1f%% 1h, %.1f%% 24h, %.1f%% 30d  connected within 2 s: %s",
		st.Counters["abandoned"], st.Counters["live"], 100*rates["1h"], 100*rates["24h"], 100*rates["30d"], percent(p.ConnectedInTime, p.Live))
}

// left words the estimate of the time left, in simulated time and, when
// the clock is sped up, in real time.
func (w *watcher) left(est estimator, now time.Time, done, total int64) string {
	d, ok := est.left(now, done, total)
	if !ok {
		return "time left: not known yet"
	}
	s := "about " + fmtElapsed(d)[1:] + " left"
	if w.scale != 1 {
		s += fmt.Sprintf(" (%s real)", (time.Duration(float64(d) / w.scale)).Round(time.Second))
	}
	return s
}

// estimator tells the time left from the rate members have finished at
// since it began.
type estimator struct {
	since      time.Time
	doneBefore int64 // members already done at since
}

// left: how long the members not yet done take at the rate so far; false
// while no member has finished (no rate to go by).
func (e estimator) left(now time.Time, done, total int64) (time.Duration, bool) {
	finished, elapsed := done-e.doneBefore, now.Sub(e.since)
	if finished <= 0 || elapsed <= 0 {
		return 0, false
	}
	if done >= total {
		return 0, true
	}
	return time.Duration(float64(elapsed) * float64(total-done) / float64(finished)).Round(time.Second), true
}

// summary prints how the campaign went: members by end cause, calls,
// answers, mean talk time and how long it took.
func (w *watcher) summary(ctx context.Context, c *store.Campaign) {
	took := time.UnixMilli(c.UpdatedAt).Sub(w.started)
	fmt.Fprintf(w.out, "demo %s  the campaign finished after %s of simulated time (%s real)\n",
		fmtElapsed(took), took.Round(time.Second), time.Since(w.realStart).Round(time.Second))
	st, err := w.d.store.CampaignStats(ctx, c.ID, w.d.clock.Now())
	if err != nil {
		fmt.Fprintf(w.out, "  (no summary: %v)\n", err)
		return
	}
	fmt.Fprintf(w.out, "  members   %d done: %s\n", st.Members[store.MemberDone], endCauses(st.Counters))
	calls, answered := st.Counters["attempts"], st.Counters["answered"]
	fmt.Fprintf(w.out, "  calls     %d, answered %d (%s)", calls, answered, percent(answered, calls))
	if talk, n, ok := w.meanTalk(ctx, c.ID, calls); ok {
		fmt.Fprintf(w.out, ", mean talk %s", time.Duration(talk*float64(time.Second)).Round(time.Second))
		if n < calls {
			fmt.Fprintf(w.out, " (over the last %d calls kept in the history)", n)
		}
	}
	fmt.Fprintln(w.out)
}

// endCauses lists the members' end causes, the most frequent first.
func endCauses(counters map[string]int64) string {
	type cause struct {
		name string
		n    int64
	}
	var cs []cause
	for k, n := range counters {
		if name, ok := strings.CutPrefix(k, "end:"); ok && n > 0 {
			cs = append(cs, cause{name, n})
		}
	}
	if len(cs) == 0 {
		return "none ended"
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].n != cs[j].n {
			return cs[i].n > cs[j].n
		}
		return cs[i].name < cs[j].name
	})
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c.name, c.n)
	}
	return strings.Join(parts, ", ")
}

func percent(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// meanTalk averages the billed seconds of the answered calls in the
// campaign's history (the statistics count calls, not their seconds); it
// also returns how many calls the history held.
func (w *watcher) meanTalk(ctx context.Context, campaign string, calls int64) (mean float64, seen int64, ok bool) {
	var sum, answered int64
	before := ""
	for {
		recs, next, err := w.d.store.History(ctx, campaign, before, 1000)
		if err != nil {
			return 0, 0, false
		}
		for _, r := range recs {
			seen++
			if r.AnsweredAt != 0 {
				sum += int64(r.BillSec)
				answered++
			}
		}
		if next == "" || seen >= calls {
			break
		}
		before = next
	}
	if answered == 0 {
		return 0, seen, false
	}
	return float64(sum) / float64(answered), seen, true
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("+%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
