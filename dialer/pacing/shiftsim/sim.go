package shiftsim

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/fsdialer/fsdialer/dialer/agentorder"
	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/pacing"
)

// epoch is the virtual clock's start: a Monday 09:00 UTC. Only
// differences matter, and the abandon windows' buckets (by clock minute,
// hour and day, as the store keeps them).
var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// noLimit is the View's Lines of a scenario without a line limit.
const noLimit = 1 << 20

type evKind uint8

const (
	evInput    evKind = iota // an event of the member's channel, for the attempt
	evTimer                  // the attempt's armed deadline
	evPatience               // the answered person gives up, if nobody came
	evWrapEnd
	evLogin
	evLogout
	evBreak
	evBreakEnd
	evTurn // the pacer's turn
	evPlan // the clairvoyant's planned call
)

type event struct {
	at    time.Duration
	seq   uint64
	kind  evKind
	c     *call
	ag    *agent
	in    attempt.Kind
	cause string
	amd   string
	timer attempt.Timer
	gen   uint32 // an agent's: an old wrap-up end or break end is ignored
	idx   int    // evPlan: the member
}

type agentState uint8

const (
	offline   agentState = iota
	ready                // available, waiting for a call
	reserved             // progressive: reserved for a member being dialed
	connected            // found for a live answer, or bridged: on a call
	wrapping
	paused
)

type agent struct {
	id         string
	idx        int
	plan       agentPlan
	state      agentState
	since      time.Duration // in the current state
	readySince time.Duration
	callStart  time.Duration
	wrapEnd    time.Duration
	onShift    bool // logged in, or to log out at the end of the current call
	breakDue   bool
	nextBreak  time.Duration
	gen        uint32
	calls      int
	talk       time.Duration
	avail      time.Duration // logged in and not paused
	busy       time.Duration // on calls and in wrap-up
	planned    int           // clairvoyant: calls on their way to this agent
}

type call struct {
	idx       int
	m         member
	a         *attempt.Attempt
	sentAt    time.Duration
	agent     *agent
	intended  *agent // clairvoyant: the agent it was timed for
	answered  bool
	machine   bool
	pos       int // in sim.active
	talkStart time.Duration
}

// sim is one run of one policy on one scenario.
type sim struct {
	sc     *Scenario
	policy Policy
	pacer  pacing.Pacer
	end    time.Duration
	lines  int

	now    time.Duration
	seq    uint64
	events []event // a min-heap by (at, seq)

	agents    []*agent
	active    []*call
	waiting   []*call
	next      int // the next member to call
	completed int64
	win       windows
	kickAt    time.Duration
	kicked    bool
	shuffle   *rand.Rand
	oracleQ   []int // clairvoyant: planned calls waiting for a line
	intended  map[int]*agent

	// buffers reused by every turn
	flightBuf []pacing.Flight
	inCall    []time.Duration
	wrapUp    []time.Duration
	readyBuf  []*agent

	res   Result
	waits []time.Duration
	lives []liveMark
}

// liveMark is one live answer's classification, for the worst windows.
type liveMark struct {
	at        time.Duration
	abandoned bool
}

func newSim(sc *Scenario, p Policy) *sim {
	s := &sim{sc: sc, policy: p, end: hours(sc.Hours), lines: sc.Lines,
		shuffle: rand.New(rand.NewPCG(sc.Seed, shuffleStream)), intended: map[int]*agent{}}
	if s.lines == 0 {
		s.lines = noLimit
	}
	if p.New != nil {
		s.pacer = p.New(sc, epoch)
	}
	s.res = Result{Scenario: sc.Name, Policy: p.Name}
	n := sc.maxAgents()
	for j := range n {
		ag := &agent{id: "agent" + strconv.Itoa(100000 + j)[1:], idx: j, plan: sc.agentPlan(j)}
		ag.nextBreak = ag.plan.firstBreak
		s.agents = append(s.agents, ag)
		if j < sc.Agents {
			s.push(event{at: ag.plan.login, kind: evLogin, ag: ag})
		}
	}
	// the team's changes: joiners log in, leavers log out after their call
	team := sc.Agents
	for _, c := range sc.AgentChanges {
		at := hours(c.AtHours)
		for j := range n {
			was, is := j < team, j < c.Agents
			switch {
			case is && !was:
				s.push(event{at: at, kind: evLogin, ag: s.agents[j]})
			case was && !is:
				s.push(event{at: at, kind: evLogout, ag: s.agents[j]})
			}
		}
		team = c.Agents
	}
	for _, ag := range s.agents {
		s.push(event{at: s.end, kind: evLogout, ag: ag})
	}
	if !p.Oracle {
		s.push(event{at: 0, kind: evTurn, cause: "tick"})
	}
	return s
}

func (s *sim) t(d time.Duration) time.Time { return epoch.Add(d) }

// run plays the shift to its end and the calls still up to theirs.
func (s *sim) run() Result {
	if s.policy.Oracle {
		for _, ag := range s.agents {
			if ag.idx < s.sc.Agents {
				s.planFor(ag, ag.plan.login)
			}
		}
		for _, c := range s.sc.AgentChanges {
			for _, ag := range s.agents {
				if ag.idx >= s.sc.teamAt(hours(c.AtHours)-1) && ag.idx < c.Agents {
					s.planFor(ag, hours(c.AtHours))
				}
			}
		}
	}
	for len(s.events) > 0 {
		ev := s.pop()
		s.now = ev.at
		s.handle(ev)
	}
	return s.finish()
}

func (s *sim) handle(ev event) {
	switch ev.kind {
	case evInput:
		s.step(ev.c, attempt.Input{Kind: ev.in, Cause: ev.cause, AMD: ev.amd, App: appOf(ev.in)})
	case evTimer:
		if ev.c.a.Deadline.Gen == ev.timer.Gen && ev.c.a.State < attempt.Classified {
			s.step(ev.c, attempt.Input{Kind: attempt.TimerFired, Timer: ev.timer})
		}
	case evPatience:
		if st := ev.c.a.State; st >= attempt.Answered && st <= attempt.WaitingAgent && ev.c.a.Agent == nil || st == attempt.Detecting {
			s.step(ev.c, attempt.Input{Kind: attempt.HangupComplete, Cause: "NORMAL_CLEARING"})
		}
	case evWrapEnd:
		if ev.ag.gen == ev.gen && ev.ag.state == wrapping {
			s.free(ev.ag, false)
		}
	case evLogin:
		ag := ev.ag
		ag.onShift = true
		if ag.state == offline {
			s.free(ag, false)
		}
	case evLogout:
		ag := ev.ag
		ag.onShift = false
		if ag.state == ready || ag.state == paused {
			s.setState(ag, offline)
		}
	case evBreak:
		ag := ev.ag
		switch {
		case ev.gen != ag.gen || ag.state != ready:
		case s.policy.Oracle && ag.planned > 0:
			ag.breakDue = true // the clairvoyant's call on its way is taken first
		default:
			s.pause(ag)
		}
	case evBreakEnd:
		if ev.gen == ev.ag.gen && ev.ag.state == paused {
			s.free(ev.ag, false)
		}
	case evTurn:
		s.kicked = false
		s.turn()
		if ev.cause == "tick" {
			if next := s.now + seconds(s.sc.TurnSeconds); next < s.end {
				s.push(event{at: next, kind: evTurn, cause: "tick"})
			}
		}
	case evPlan:
		s.oracleDial(ev.idx, ev.ag)
	}
}

func appOf(k attempt.Kind) string {
	if k == attempt.ExecuteComplete {
		return "amd"
	}
	return ""
}

// kick asks for a pacing turn now (once per moment): an agent became
// ready, or a line came free.
func (s *sim) kick() {
	if s.policy.Oracle || s.now >= s.end || s.kicked && s.kickAt == s.now {
		return
	}
	s.kicked, s.kickAt = true, s.now
	s.push(event{at: s.now, kind: evTurn})
}

// turn asks the pacer how many calls to start, and starts them.
func (s *sim) turn() {
	if s.now >= s.end {
		return
	}
	n := s.pacer.Calls(s.view())
	for range n {
		var ag *agent
		if s.policy.Progressive {
			if ag = s.best(nil); ag == nil {
				return
			}
			s.setState(ag, reserved)
		}
		s.dial(s.next, ag, nil)
		s.next++
	}
}

// view builds the pacer's View as the engine's campaign view() does, and
// also fills what the engine knows and does not pass yet: the busy
// agents' time in call, the wrap-up ends, the moment.
func (s *sim) view() pacing.View {
	v := pacing.View{Lines: s.lines, Target: s.sc.Target, Max: s.sc.Max, Window: "24h",
		Completed: s.completed, PredictAdjust: s.sc.PredictAdjust, Now: s.t(s.now), Abandon: s.win.at(s.t(s.now))}
	s.flightBuf, s.inCall, s.wrapUp = s.flightBuf[:0], s.inCall[:0], s.wrapUp[:0]
	for _, c := range s.active {
		if c.a.State < attempt.Classified {
			s.flightBuf = append(s.flightBuf, pacing.Flight{State: c.a.State, Age: s.now - c.sentAt})
		}
	}
	for _, ag := range s.agents {
		switch ag.state {
		case ready:
			v.Agents.Idle++
		case connected:
			s.inCall = append(s.inCall, s.now-ag.callStart)
		case wrapping:
			s.wrapUp = append(s.wrapUp, ag.wrapEnd-s.now)
		}
	}
	v.InFlight, v.Agents.InCall, v.Agents.WrapUp = s.flightBuf, s.inCall, s.wrapUp
	return v
}

// dial places member idx: for agent ag, reserved for it (progressive), or
// with no agent (predictive). intended is the clairvoyant's agent.
func (s *sim) dial(idx int, ag, intended *agent) {
	m := s.sc.member(idx)
	c := &call{idx: idx, m: m, agent: ag, intended: intended, pos: len(s.active)}
	c.answered, c.machine = s.sc.answers(m, s.now)
	id := strconv.Itoa(idx)
	if ag != nil {
		c.a = attempt.NewForSession(id, "sim", ag.id, "agent-"+ag.id, false, false)
	} else {
		c.a = attempt.NewPredictive(id, "sim", seconds(s.sc.ConnectSeconds), false, false)
	}
	if s.sc.AMDSeconds > 0 {
		// the engine's bound on the verdict's wait: the analysis time and
		// 1 s (the simulated verdict comes by 1.5 times the mean)
		c.a.AMDWait = seconds(1.5*s.sc.AMDSeconds) + time.Second
	}
	s.active = append(s.active, c)
	s.res.Attempts++
	s.step(c, attempt.Input{Kind: attempt.Place})
}

// step hands an input to the call's attempt and carries out the commands
// it returns, as the campaign loop does with the switch and the pool.
func (s *sim) step(c *call, in attempt.Input) {
	for _, cmd := range attempt.Step(c.a, in, s.t(s.now)) {
		switch cmd.Kind {
		case attempt.Originate:
			s.originate(c)
		case attempt.Arm:
			s.push(event{at: cmd.Timer.At.Sub(epoch), kind: evTimer, c: c, timer: cmd.Timer})
		case attempt.CheckSwitch:
			// the simulated switch loses no event: the channel is up
			s.step(c, attempt.Input{Kind: attempt.SwitchAnswer, Known: true, Exists: true})
		case attempt.FindAgent:
			s.waiting = append(s.waiting, c)
			s.match()
		case attempt.Bridge:
			s.push(event{at: s.now + seconds(s.sc.BridgeSeconds), kind: evInput, c: c, in: attempt.BridgeEvent})
		case attempt.AgentEvent:
			if cmd.Event == attempt.AgentBridged {
				s.bridged(c)
			}
		case attempt.SafeHarbor:
			s.push(event{at: s.now + seconds(s.sc.SafeHarborSec), kind: evInput, c: c, in: attempt.HangupComplete, cause: "NORMAL_CLEARING"})
		case attempt.HangupLeg:
			if cmd.Leg == c.a.Member.UUID {
				s.push(event{at: s.now, kind: evInput, c: c, in: attempt.HangupComplete, cause: cmd.Cause})
			}
		case attempt.ReleaseAgent:
			for _, ag := range s.agents {
				if ag.id == cmd.Agent && ag.state == connected {
					s.free(ag, true)
				}
			}
		case attempt.Classify:
			s.classified(c, cmd.Outcome)
		}
	}
}

// originate plays the member's side of the call: ringing, then an
// answer (and AMD's verdict, and the person's patience) or no answer.
func (s *sim) originate(c *call) {
	c.sentAt = s.now
	s.push(event{at: s.now, kind: evInput, c: c, in: attempt.Create})
	if !c.answered {
		s.push(event{at: s.now + seconds(s.sc.NoAnswerSeconds), kind: evInput, c: c, in: attempt.HangupComplete, cause: "NO_ANSWER"})
		return
	}
	answer := s.now + c.m.ring
	s.push(event{at: answer, kind: evInput, c: c, in: attempt.Answer})
	if s.sc.AMDSeconds > 0 {
		verdict := "HUMAN"
		if c.machine {
			verdict = "MACHINE"
		}
		s.push(event{at: answer + c.m.amd, kind: evInput, c: c, in: attempt.ExecuteComplete, amd: verdict})
	}
	if !c.machine {
		s.push(event{at: answer + c.m.patience, kind: evPatience, c: c})
	}
}

// match gives the live answers waiting, oldest first, the best ready
// agents by the campaign's strategy (the clairvoyant's: the agent it timed
// the call for, when ready).
func (s *sim) match() {
	if s.policy.Oracle {
		s.matchIntended()
		return
	}
	for len(s.waiting) > 0 {
		c := s.waiting[0]
		if c.a.State != attempt.WaitingAgent || c.a.Agent != nil || c.a.Member.Ended {
			s.waiting = s.waiting[1:]
			continue
		}
		ag := s.best(c.intended)
		if ag == nil {
			return
		}
		s.waiting = s.waiting[1:]
		s.found(c, ag)
	}
}

// found reserves ag for the live answer c.
func (s *sim) found(c *call, ag *agent) {
	s.setState(ag, connected)
	ag.callStart = s.now // the bridge follows (bridgeSeconds)
	c.agent = ag
	s.step(c, attempt.Input{Kind: attempt.AgentFound, Found: &attempt.Found{Agent: ag.id, Leg: "agent-" + ag.id, Session: true}})
}

// best is the ready agent a call goes to: prefer, if ready, else the
// first by the strategy (agentorder, as the engine's pool orders them).
func (s *sim) best(prefer *agent) *agent {
	if prefer != nil && prefer.state == ready {
		return prefer
	}
	s.readyBuf = s.readyBuf[:0]
	for _, ag := range s.agents {
		if ag.state == ready {
			s.readyBuf = append(s.readyBuf, ag)
		}
	}
	if len(s.readyBuf) == 0 {
		return nil
	}
	agentorder.Sort(s.readyBuf, s.sc.Strategy, func(ag *agent) agentorder.Agent {
		return agentorder.Agent{ID: ag.id, Calls: ag.calls, TalkTime: int64(ag.talk / time.Second), Waited: s.now - ag.readySince}
	}, s.shuffle.Shuffle)
	return s.readyBuf[0]
}

// bridged starts the talk: the member hangs up after their talk time.
func (s *sim) bridged(c *call) {
	ag := c.agent
	if ag == nil {
		return
	}
	if ag.state != connected {
		s.setState(ag, connected)
	}
	s.waits = append(s.waits, s.now-ag.readySince)
	ag.callStart, c.talkStart = s.now, s.now
	s.push(event{at: s.now + c.m.talk, kind: evInput, c: c, in: attempt.HangupComplete, cause: "NORMAL_CLEARING"})
	if s.policy.Oracle {
		s.planFor(ag, s.now+c.m.talk+seconds(s.sc.WrapSeconds))
	}
}

// classified counts the outcome as the engine's loop does (countAttempt,
// liveAnswer) and frees the call's agent.
func (s *sim) classified(c *call, o attempt.Outcome) {
	s.completed++
	live, machine := o.Answered && o.AMD != "MACHINE", o.Answered && o.AMD == "MACHINE"
	s.win.count(s.t(s.now), live, o.Abandoned, machine)
	if live {
		s.res.Live++
		s.lives = append(s.lives, liveMark{at: s.now, abandoned: o.Abandoned})
		if o.Abandoned {
			s.res.Abandoned++
		}
		// dialer.connectedInTime: bridged within the threshold of the
		// answer, or of the verdict when AMD listened
		if !o.BridgedAt.IsZero() && o.BridgedAt.Sub(o.AnsweredAt.Add(o.AMDWait)) <= seconds(s.sc.ConnectSeconds) {
			s.res.InTime++
		}
	}
	last := s.active[len(s.active)-1]
	s.active[c.pos], last.pos = last, c.pos
	s.active = s.active[:len(s.active)-1]
	if ag := c.agent; ag != nil {
		if !o.BridgedAt.IsZero() {
			s.res.Bridged++
			ag.calls++
			ag.talk += s.now - c.talkStart
			s.setState(ag, wrapping)
			ag.gen++
			ag.wrapEnd = s.now + seconds(s.sc.WrapSeconds)
			s.push(event{at: ag.wrapEnd, kind: evWrapEnd, ag: ag, gen: ag.gen})
		} else if ag.state == reserved || ag.state == connected {
			s.free(ag, true) // nothing reached the agent: ready again at once, still waiting
		}
	}
	if s.policy.Oracle && len(s.oracleQ) > 0 && len(s.active) < s.lines {
		idx := s.oracleQ[0]
		s.oracleQ = s.oracleQ[1:]
		s.oracleDial(idx, nil)
	}
	if s.sc.Lines > 0 {
		s.kick()
	}
}

// free makes an agent available again after a call, a break or a
// login, unless they are due a break or their shift is over. still: no
// call reached them (a progressive member who did not answer), so their
// wait goes on.
func (s *sim) free(ag *agent, still bool) {
	switch {
	case !ag.onShift:
		s.setState(ag, offline)
		return
	case ag.breakDue || s.sc.BreakEveryHours > 0 && s.now >= ag.nextBreak:
		s.pause(ag)
		return
	}
	s.setState(ag, ready)
	if !still {
		ag.readySince = s.now
	}
	ag.gen++
	if s.sc.BreakEveryHours > 0 {
		s.push(event{at: ag.nextBreak, kind: evBreak, ag: ag, gen: ag.gen})
	}
	s.match()
	if ag.state == ready {
		s.kick()
		if s.policy.Oracle && ag.planned == 0 {
			s.planFor(ag, s.now)
		}
	}
}

// pause starts the agent's break now.
func (s *sim) pause(ag *agent) {
	s.setState(ag, paused)
	ag.breakDue = false
	ag.gen++
	for ag.nextBreak <= s.now {
		ag.nextBreak += hours(s.sc.BreakEveryHours)
	}
	s.push(event{at: s.now + time.Duration(s.sc.BreakMinutes*float64(time.Minute)), kind: evBreakEnd, ag: ag, gen: ag.gen})
}

// setState moves an agent on, counting the time in the state left.
func (s *sim) setState(ag *agent, st agentState) {
	d := s.now - ag.since
	switch ag.state {
	case ready, reserved:
		ag.avail += d
	case connected, wrapping:
		ag.avail += d
		ag.busy += d
	}
	ag.state, ag.since = st, s.now
}

func (s *sim) push(ev event) {
	s.seq++
	ev.seq = s.seq
	s.events = append(s.events, ev)
	h := s.events
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !before(&h[i], &h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *sim) pop() event {
	h := s.events
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = event{}
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && before(&h[l], &h[m]) {
			m = l
		}
		if r < n && before(&h[r], &h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.events = h
	return top
}

func before(a, b *event) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// finish closes every agent's time and sums the run up.
func (s *sim) finish() Result {
	r := s.res
	var avail, busy time.Duration
	for _, ag := range s.agents {
		s.setState(ag, offline)
		avail, busy = avail+ag.avail, busy+ag.busy
	}
	r.AgentHours = avail.Hours()
	if avail > 0 {
		r.Occupancy = float64(busy) / float64(avail)
		r.CallsPerAgentHour = float64(r.Bridged) / avail.Hours()
	}
	if r.Live > 0 {
		r.AbandonRate = 100 * float64(r.Abandoned) / float64(r.Live)
		r.ConnectedInTime = float64(r.InTime) / float64(r.Live)
	}
	r.WorstHour = worstWindow(s.lives, time.Hour)
	r.WorstDay = worstWindow(s.lives, 24*time.Hour)
	if len(s.waits) > 0 {
		var sum time.Duration
		for _, w := range s.waits {
			sum += w
		}
		r.WaitMean = (sum / time.Duration(len(s.waits))).Seconds()
		slices.Sort(s.waits)
		r.WaitP95 = s.waits[(len(s.waits)*95+99)/100-1].Seconds()
	}
	return r
}

// worstWindow is the highest abandon rate (percent) over a window of
// width ending at a live answer, among windows the run fills; a run
// shorter than the window has one, the whole run.
func worstWindow(lives []liveMark, width time.Duration) float64 {
	if len(lives) == 0 {
		return 0
	}
	rate := func(live, abandoned int) float64 { return 100 * float64(abandoned) / float64(live) }
	if lives[len(lives)-1].at < width {
		ab := 0
		for _, l := range lives {
			if l.abandoned {
				ab++
			}
		}
		return rate(len(lives), ab)
	}
	worst, ab, from := 0.0, 0, 0
	for i, l := range lives {
		if l.abandoned {
			ab++
		}
		for lives[from].at <= l.at-width {
			if lives[from].abandoned {
				ab--
			}
			from++
		}
		if l.at >= width {
			worst = max(worst, rate(i-from+1, ab))
		}
	}
	return worst
}
