package dialer

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/dialer/pacing"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/fifo"
	"github.com/fsdialer/fsdialer/store"
)

// inboxItem is what reaches a campaign loop: a switch event, a node's
// state, the timers being due, or the result of work done for it
// elsewhere (a store worker, a node's executor, the writer), in order.
type inboxItem struct {
	event  *esl.Event
	node   string
	up     bool
	timers bool
	fn     func()
}

// runner is a campaign's loop: one goroutine that owns the campaign's
// attempts and decides everything about them, fed by one ordered inbox.
// It never waits on the network: claims, journal and member writes go to
// the campaign's store worker and writer, switch commands to the nodes'
// executors, and what they bring back comes through the inbox.
type runner struct {
	e        *Engine
	id       string
	lease    store.Runner
	priority atomic.Int64 // read by the scheduler
	inbox    *fifo.Queue[inboxItem]
	turns    chan chan struct{}
	syncs    chan chan struct{}
	exited   chan struct{}
	inFlight atomic.Int64
	// stopping is set the moment a stop is handed over; an executor
	// checks it, under gate, just before writing an originate, and a stop
	// takes gate's write lock to wait out a write under way.
	stopping atomic.Bool
	gate     sync.RWMutex
	// starting is set until the first plan is built (or the loop ends).
	starting atomic.Bool
	// adoptDone: the calls in the journal at the start hold their agents
	// again (see Engine.adopting).
	adoptDone atomic.Bool
	// calls: its plan says it is the calls campaign (click-to-call finds
	// it by this from other goroutines).
	calls atomic.Bool

	updMu   sync.Mutex
	update  *store.Campaign // the newest campaign document (nil: none pending)
	deleted bool
	updated chan struct{}

	work   *fifo.Queue[func(context.Context)] // the store worker's queue
	writer *writer

	// Owned by the loop.
	camp     *store.Campaign
	plan     *plan
	planWait []chan struct{} // settles waiting for the plan being built
	building bool
	rebuild  bool // another update came while a plan was built
	dialing  bool
	flights  map[string]*flight // by attempt id, until written
	legs     map[string]*flight // by channel uuid
	held     map[string]*memberLease
	placing  int
	timers   timerHeap
	timer    clock.Timer
	timerAt  time.Time
	busy     map[string]bool // periodic jobs under way
	last     map[string]time.Time
	troubled time.Time
	blocked  uint64 // lines freed when the lines were last full (0: not blocked)
	blockAt  time.Time
	resetDay string
	abandon  pacing.Windows
	// pace decides how many calls to start (one per campaign: a policy
	// may learn); answerDelay is the mean time from an originate to a
	// live answer wanting an agent (its ring, and AMD's verdict).
	pace        pacing.Pacer
	answerDelay time.Duration
	// completed attempts (the store's count, and those classified since)
	completed int64
	// waiting are the live answers waiting for an agent (predictive), in
	// order; seeking: the seeker has a round of them.
	waiting []*flight
	seeking bool
	// unkilled are hangups the switch may not have got (its socket was
	// down): sent again until it answers, by node, leg -> cause. A leg
	// left up would hold its agent, whom the store has freed.
	unkilled map[string]map[string]string
	// killing are the legs of attempts whose hangup the switch has not
	// confirmed yet, by leg: such an attempt's outcome is written (and
	// its journal entry closed) only once it has, so a dialer that dies
	// meanwhile leaves its successor the leg to hang up.
	killing map[string]*flight
	seeker  *fifo.Queue[func(context.Context)]
	recon   reconcileRound
	// unreconciled: the journal has not been read since the runner
	// started (it holds the calls a dead or restarted dialer left).
	unreconciled bool
}

// flight is one attempt in flight and what the campaign holds for it.
type flight struct {
	a         *attempt.Attempt
	journal   *store.Attempt
	member    *store.Member // as claimed: the version to write over
	lease     *memberLease
	choice    choice
	slot      string // gateway whose slot it holds
	release   func() // the node's line
	args      string
	recording string
	sentAt    time.Time // the switch accepted the originate
	createdAt time.Time // CHANNEL_CREATE
	verifying bool      // a reconcile round waits for the switch's answer
	outcome   attempt.Outcome
	// A call for an agent: the agent, its terms in this campaign, how long
	// it had waited for this call, the originate that rings it.
	agent     *store.Agent
	terms     agentTerms
	waited    time.Duration
	agentArgs string
	bridged   bool
	// kills are its legs whose hangup is unconfirmed; held is its
	// outcome's write, and agentHeld says its agent is not yet told the
	// call is over, waiting for them: an agent whose leg may still be up
	// is not free for another call.
	kills     map[string]bool
	held      *memberWrite
	agentHeld bool
}

func newRunner(e *Engine, c *store.Campaign, lease store.Runner) *runner {
	r := &runner{
		e: e, id: c.ID, lease: lease, camp: c,
		inbox: fifo.New[inboxItem](), turns: make(chan chan struct{}), syncs: make(chan chan struct{}),
		exited: make(chan struct{}), updated: make(chan struct{}, 1), work: fifo.New[func(context.Context)](),
		seeker:  fifo.New[func(context.Context)](),
		flights: map[string]*flight{}, legs: map[string]*flight{}, held: map[string]*memberLease{}, killing: map[string]*flight{},
		busy: map[string]bool{}, last: map[string]time.Time{}, unreconciled: true,
	}
	r.priority.Store(int64(c.Priority))
	r.starting.Store(true)
	r.writer = &writer{st: e.st, clock: e.clock, log: e.log, campaign: c.ID, timed: e.timed, q: fifo.New[*memberWrite](),
		failed:  func(op string, err error) { r.post(func() { r.storeFailed(op, err) }) },
		pending: func(d int) { e.m.PendingWrites.Add(float64(d)) },
		written: func() { e.notifyHooks(c.ID) }}
	return r
}

// post hands the loop a function to run in order with its inbox.
func (r *runner) post(fn func()) { r.inbox.Push(inboxItem{fn: fn}) }

// do runs a store job on the campaign's store worker, in order.
func (r *runner) do(job func(ctx context.Context)) { r.work.Push(job) }

// worker runs the jobs of a queue in order until it closes: the store
// worker (claims, journal, agent events) and the seeker (reservations for
// live answers).
func worker(ctx context.Context, q *fifo.Queue[func(context.Context)]) {
	var buf []func(context.Context)
	for {
		jobs, ok := q.Take(buf)
		if !ok {
			return
		}
		for i, job := range jobs {
			job(ctx)
			jobs[i] = nil
		}
		buf = jobs
	}
}

func (r *runner) now() time.Time { return r.e.clock.Now() }

// owner names this runner in the agents' reservations it holds.
func (r *runner) owner() string { return r.lease.Instance + "/" + r.lease.Token }
func (r *runner) prio() int64   { return r.priority.Load() }

func (r *runner) run(ctx context.Context) {
	defer close(r.exited)
	defer r.starting.Store(false)
	go worker(ctx, r.work)
	go worker(ctx, r.seeker)
	go r.writer.run(ctx)
	defer r.work.Close()
	defer r.seeker.Close()
	defer r.writer.q.Close()
	defer r.forgetAll()
	r.applyCampaign(r.camp, nil)
	hk := clock.NewTicker(r.e.clock, time.Second)
	defer hk.Stop()
	var buf []inboxItem
	for {
		select {
		case <-ctx.Done():
			return
		case done := <-r.turns:
			r.turn(done)
		case done := <-r.syncs:
			r.applyUpdate(done)
		case <-r.updated:
			r.applyUpdate(nil)
		case <-r.inbox.Ready():
			buf = r.drain(buf)
		case <-hk.C:
			r.housekeep()
		}
		if !r.dialing && !r.building && !r.unreconciled && len(r.flights) == 0 && len(r.held) == 0 && r.placing == 0 && !r.killsPending() {
			r.e.log.Info("dialer: campaign runner stopped", "campaign", r.id, "state", r.camp.State)
			return
		}
	}
}

// drain handles what waits in the inbox; buf is reused between calls.
func (r *runner) drain(buf []inboxItem) []inboxItem {
	items := r.inbox.TryTake(buf)
	for i := range items {
		it := items[i]
		switch {
		case it.event != nil:
			r.handleEvent(it.event)
		case it.fn != nil:
			it.fn()
		case it.timers:
			r.fireTimers()
		case it.node != "":
			r.nodeState(it.node, it.up)
		}
		items[i] = inboxItem{}
	}
	return items
}

// handleEvent applies a switch event to the attempt whose leg it is about.
func (r *runner) handleEvent(ev *esl.Event) {
	f := r.legs[legOf(ev)]
	if f == nil {
		return
	}
	in, ok := inputOf(ev)
	if !ok {
		return
	}
	r.e.m.EventsProcessed.Inc()
	now := r.now()
	switch in.Kind {
	case attempt.Create:
		if f.createdAt.IsZero() {
			f.createdAt = now
			if !f.sentAt.IsZero() {
				r.e.m.OriginateLat.Observe(now.Sub(f.sentAt).Seconds())
			}
		}
	case attempt.BridgeEvent:
		if !f.bridged {
			f.bridged = true
			r.e.m.Bridged.WithLabelValues(r.id).Inc()
			if answered := f.a.Member.AnsweredAt; !answered.IsZero() && !in.At.Before(answered) {
				r.e.m.AnswerToBridge.Observe(in.At.Sub(answered).Seconds())
			}
		}
	case attempt.Answer:
		if in.Leg != f.a.Member.UUID {
			break // the agent's answer
		}
		if !f.a.Member.Answered {
			r.e.m.Answered.WithLabelValues(r.id).Inc()
			r.e.count(r.id, func(p *Progress) { p.Answered++ })
			if !f.createdAt.IsZero() {
				r.e.m.RingTime.WithLabelValues("true").Observe(now.Sub(f.createdAt).Seconds())
			}
		}
	}
	r.step(f, in)
}

// step applies an input to an attempt and carries out its commands.
func (r *runner) step(f *flight, in attempt.Input) {
	now := r.now()
	cmds := attempt.Step(f.a, in, now)
	for _, c := range cmds { // before Classify, which comes first
		if c.Kind == attempt.HangupLeg {
			if f.kills == nil {
				f.kills = map[string]bool{}
			}
			f.kills[c.Leg], r.killing[c.Leg] = true, f
		}
	}
	for _, c := range cmds {
		switch c.Kind {
		case attempt.Originate:
			r.originate(f)
		case attempt.StartRecord:
			r.record(f, now)
		case attempt.CheckSwitch:
			r.check(f, c.Leg)
		case attempt.Arm:
			r.arm(f.a.ID, c.Timer)
		case attempt.Classify:
			r.classified(f, c.Outcome)
		case attempt.OriginateAgent:
			r.originateAgent(f)
		case attempt.Bridge:
			r.bridge(f)
		case attempt.HangupLeg:
			r.hangup(f.a.Member.Node, c.Leg, c.Cause)
		case attempt.AgentEvent:
			r.agentEvent(f, c.Event, now)
		case attempt.FindAgent:
			r.findAgent(f)
		case attempt.ReleaseAgent:
			r.agentLeft(f, c)
		case attempt.SafeHarbor:
			r.safeHarbor(f)
		case attempt.MachineMessage:
			r.transferInline(f, "${"+machineMessageVar+"}")
		case attempt.Resume:
			r.resume(f)
		case attempt.Offer:
			r.offer(f, now)
		case attempt.Withdraw:
			r.withdraw(f)
		case attempt.ExpireOffer:
			r.expireOffer(f)
		}
	}
}

// originateAgent hands the originate that rings a flight's agent to its
// node's executor: awaited when the member answered already (predictive).
func (r *runner) originateAgent(f *flight) {
	leg := f.a.Agent.UUID // the attempt may have another agent by the time it is sent
	r.e.executor(f.a.Agent.Node).originate(command{
		text: "originate " + f.agentArgs, jobID: leg,
		gate: &r.gate, send: func() bool { return !r.stopping.Load() },
		done: func(_ string, err error) {
			if notSent(err) {
				r.post(func() { r.step(f, attempt.Input{Kind: attempt.NotSent, Leg: leg}) })
			}
		},
	}, f.a.Member.Answered)
}

// hangup hangs a leg up; one the switch may not have got is sent again
// when its node is back (and every second while it is up), whatever
// became of the call: uuid_kill of a leg already gone does no harm.
func (r *runner) hangup(node, leg, cause string) {
	r.e.executor(node).query(leg, command{text: "uuid_kill " + leg + " " + cause, done: func(_ string, err error) {
		r.post(func() {
			if err == nil || legGone(err) {
				if r.unkilled[node] != nil {
					delete(r.unkilled[node], leg)
				}
				r.killed(leg)
				return
			}
			r.e.log.Warn("dialer: hangup not sent; it is sent again when the switch answers", "campaign", r.id, "node", node, "leg", leg, "error", err)
			if r.unkilled == nil {
				r.unkilled = map[string]map[string]string{}
			}
			if r.unkilled[node] == nil {
				r.unkilled[node] = map[string]string{}
			}
			r.unkilled[node][leg] = cause
		})
	}})
}

// killed takes a hangup the switch confirmed: the outcome of the attempt
// that waited for it is written once it waits for no other.
func (r *runner) killed(leg string) {
	f := r.killing[leg]
	if f == nil {
		return
	}
	delete(r.killing, leg)
	delete(f.kills, leg)
	if len(f.kills) > 0 {
		return
	}
	if f.held != nil {
		r.writer.push(f.held)
		f.held = nil
	}
	if f.agentHeld {
		f.agentHeld = false
		r.agentDone(f, f.outcome)
	}
}

// killsPending reports whether a hangup waits to get through.
func (r *runner) killsPending() bool {
	for _, legs := range r.unkilled {
		if len(legs) > 0 {
			return true
		}
	}
	return false
}

// rekill sends a node's hangups that did not get through again.
func (r *runner) rekill(node string) {
	for leg, cause := range r.unkilled[node] {
		r.hangup(node, leg, cause)
	}
}

// commandFailed logs a command the switch refused: a warning, but a debug
// line for a leg gone meanwhile (a race with its hangup, whose events
// tell the rest).
func (r *runner) commandFailed(msg string, f *flight, cmd string, err error) {
	level := slog.LevelWarn
	if legGone(err) {
		level = slog.LevelDebug
	}
	r.e.log.Log(context.Background(), level, msg, "campaign", r.id, "attempt", f.a.ID, "command", cmd, "error", err)
}

// query sends a command about a flight's legs; a failure is told by the
// legs' events (a leg that is gone ends the call).
func (r *runner) query(f *flight, cmd string) {
	r.e.executor(f.a.Member.Node).query(f.a.ID, command{text: cmd, done: func(out string, err error) {
		if err != nil {
			r.post(func() {
				r.commandFailed("dialer: switch command failed", f, cmd, err)
			})
		}
	}})
}

// urgent is query for a command the member waits for on the line: a job,
// which never waits behind another call's command.
func (r *runner) urgent(f *flight, cmd string) {
	r.e.executor(f.a.Member.Node).query(f.a.ID, command{text: cmd, background: true, done: func(out string, err error) {
		if err != nil {
			r.post(func() { r.commandFailed("dialer: switch command failed", f, cmd, err) })
		}
	}})
}

// bridge joins a flight's member to its agent. It goes as a job, so it
// never waits behind another call's command. When it fails, the agent's
// leg is asked about: a leg that is gone ends the member's call (the legs'
// events usually tell first).
func (r *runner) bridge(f *flight) {
	cmd := "uuid_bridge " + f.a.Member.UUID + " " + f.a.Agent.UUID
	r.e.executor(f.a.Member.Node).query(f.a.ID, command{text: cmd, background: true, done: func(_ string, err error) {
		if err != nil {
			r.post(func() {
				r.commandFailed("dialer: bridge failed", f, cmd, err)
				if r.flights[f.a.ID] == f && !f.a.Agent.Ended {
					r.check(f, f.a.Agent.UUID)
				}
			})
		}
	}})
}

// sessionGone tells the store that the agent's session a call was to use
// is gone from the switch, its end unseen (its keeper was away): the agent
// is no longer offered calls on it, and gets a new one.
func (r *runner) sessionGone(f *flight) {
	agent, uuid, now := f.a.AgentID, f.a.Agent.UUID, r.now()
	r.e.log.Warn("dialer: agent's session gone from the switch", "campaign", r.id, "agent", agent, "leg", uuid)
	r.do(func(ctx context.Context) {
		if err := r.e.st.EndSession(ctx, agent, uuid, store.SessionReleased, now, 0, 0); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			r.post(func() { r.agentFailed(agent, "session end", err) })
		}
	})
}

// agentEvent tells the store what happens to a flight's agent during the
// call (offered, bridged), and the CRMs' hooks; the end is told with the
// outcome.
func (r *runner) agentEvent(f *flight, event string, now time.Time) {
	r.callEvent(f, map[string]string{attempt.AgentOffered: hooks.Offering, attempt.AgentBridged: hooks.Bridged}[event], now)
	ev := map[string]string{attempt.AgentOffered: store.AgentOffer, attempt.AgentBridged: store.AgentBridge}[event]
	agent, id := f.a.AgentID, f.a.ID
	r.do(func(ctx context.Context) {
		if err := r.e.st.AgentEvent(ctx, agent, id, ev, now); err != nil {
			r.post(func() { r.agentFailed(agent, ev, err) })
		}
	})
}

// agentFailed notes a store failure about an agent: a reservation that
// lapsed (another call may have the agent) is worth a warning.
func (r *runner) agentFailed(agent, event string, err error) {
	if errors.Is(err, store.ErrLeaseLost) {
		r.e.log.Warn("dialer: the agent's reservation was lost", "campaign", r.id, "agent", agent, "event", event)
		return
	}
	r.storeFailed("agent "+event, err)
}

// originate hands a flight's originate to its node's executor.
func (r *runner) originate(f *flight) {
	r.e.executor(f.a.Member.Node).originate(command{
		text: "originate " + f.args, jobID: f.a.ID,
		gate: &r.gate, send: func() bool { return !r.stopping.Load() },
		done: func(_ string, err error) { r.post(func() { r.sent(f, err) }) },
	}, f.a.Agent != nil && f.a.Agent.Answered) // an agent on the line waits for it
}

// sent takes the executor's word on an originate.
func (r *runner) sent(f *flight, err error) {
	switch {
	case err == nil:
		f.sentAt = r.now()
		r.e.m.Placed.WithLabelValues(r.id).Inc()
		r.e.count(r.id, func(p *Progress) { p.Placed++ })
	case notSent(err):
		r.step(f, attempt.Input{Kind: attempt.NotSent})
	default:
		// Sent, answer unknown: its events, or the switch when asked,
		// will tell.
		r.e.log.Warn("dialer: originate outcome unknown", "campaign", r.id, "attempt", f.a.ID, "error", err)
	}
}

// record starts recording an answered call.
func (r *runner) record(f *flight, now time.Time) {
	path := expandRecordPath(r.e.cfg.RecordPath, r.id, f.journal.Member, f.a.ID, now)
	var cb commandBuilder
	cb.raw("uuid_record ")
	cb.token("uuid", f.a.ID)
	cb.raw(" start ")
	cb.token("record path", path)
	cmd, err := cb.String()
	if err != nil {
		r.e.log.Error("dialer: recording not started: set a record path without blanks or quotes", "attempt", f.a.ID, "error", err)
		return
	}
	r.e.executor(f.a.Member.Node).query(f.a.ID, command{text: cmd, done: func(_ string, err error) {
		r.post(func() {
			if err != nil {
				r.e.log.Warn("dialer: recording not started", "attempt", f.a.ID, "error", err)
				return
			}
			f.recording = path
		})
	}})
}

// check asks a leg's switch whether the leg (the member's or the agent's)
// exists and, if not, for its end record.
func (r *runner) check(f *flight, uuid string) {
	records := f.a.EndRecords && !(f.a.AgentKept && uuid == f.a.Agent.UUID) // a session keeps none
	r.e.executor(f.a.Member.Node).query(f.a.ID, command{
		call: func(ctx context.Context, sw Switch) (string, error) {
			in := checkLeg(ctx, sw, uuid, records)
			r.post(func() { r.switchAnswer(f, in) })
			return "", nil
		},
		done: func(_ string, err error) {
			if err != nil { // never asked
				r.post(func() { r.switchAnswer(f, attempt.Input{Kind: attempt.SwitchAnswer, Leg: uuid}) })
			}
		},
	})
}

func (r *runner) switchAnswer(f *flight, in attempt.Input) {
	if r.flights[f.a.ID] != f {
		return
	}
	if f.a.AgentKept && in.Leg == f.a.Agent.UUID && in.Known && !in.Exists && !f.a.Agent.Ended {
		r.sessionGone(f)
	}
	r.step(f, in)
	r.reconciled(f, in)
}

// classified ends an attempt's hold on the line and the gateway and hands
// its outcome to the writer.
func (r *runner) classified(f *flight, o attempt.Outcome) {
	f.outcome = o
	r.inFlight.Add(-1)
	for uuid := range r.legs {
		if r.legs[uuid] == f {
			delete(r.legs, uuid)
			r.e.unroute(uuid, r)
		}
	}
	if f.release != nil {
		f.release()
		f.release = nil
	}
	if f.slot != "" {
		// The line is free once Redis says so: counted sooner, a campaign
		// woken by it could find the gateway still full, and wait.
		gw, id := f.slot, f.a.ID
		r.do(func(context.Context) {
			r.e.releaseSlot(gw, id)
			r.e.lines.release()
			r.e.Wake()
		})
	} else {
		r.e.lines.release()
		r.e.Wake()
	}
	if !f.createdAt.IsZero() && !f.a.Member.Answered {
		r.e.m.RingTime.WithLabelValues("false").Observe(o.EndedAt.Sub(f.createdAt).Seconds())
	}
	var mw *memberWrite
	cl := store.Claimed{Member: f.member, Token: f.lease.get()}
	camp := r.plan.camp
	switch {
	case o.NotPlaced:
		// Nobody was called: the member goes back, no attempt counted. A
		// refusal of the switch slows this node's originates and the
		// member waits a little, so a switch that refuses everything is
		// not hammered.
		delay := time.Duration(0)
		if o.Skipped != "" { // not offered again at once (to the same agent, say)
			delay = max(time.Duration(camp.Parameters.IntervalTryCount)*time.Second, time.Second)
		}
		if o.Refused {
			r.e.m.Refused.WithLabelValues(f.a.Member.Node, o.Cause).Inc()
			r.e.executor(f.a.Member.Node).throttled()
			delay = refusedDelay
		}
		mw = withStats(putBack(r.plan, cl, f.a.ID, delay), agentStats(f, o))
		mw = withEvents(mw, func(m *store.Member, v verdict, now time.Time) [][]byte {
			return r.e.outcomeEvents(camp, m, f.journal, f, o, v, now) // on the writer's goroutine: no loop state
		})
		mw.lease = f.lease
	default:
		if o.Cause == CauseLost {
			r.e.m.LostCalls.WithLabelValues(r.id).Inc()
		}
		if f.journal.Inbound { // not the campaign's dialing: not paced, not in its abandon rate
			mw = withStats(inboundWrite(r.plan, f, o, !r.e.cfg.Inbound.KeepMembers), agentStats(f, o))
		} else {
			r.countAttempt(f, o)
			mw = withStats(attemptWrite(r.plan, f, o), agentStats(f, o))
		}
		mw = withEvents(mw, func(m *store.Member, v verdict, now time.Time) [][]byte {
			return r.e.outcomeEvents(camp, m, f.journal, f, o, v, now) // on the writer's goroutine: no loop state
		})
	}
	mw.done = func(v verdict, err error) { r.post(func() { r.written(f, v, err) }) }
	switch {
	case len(f.kills) > 0: // written, and its agent told, once its legs are confirmed gone
		f.held, f.agentHeld = mw, f.a.Agent != nil
	default:
		r.writer.push(mw)
		if f.a.Agent != nil {
			r.agentDone(f, o)
		}
	}
}

// countAttempt adds an attempt that placed a call to the loop's own
// counts: the pacer's windows until the store's are read again, the
// metrics and the progress line. (The store's counts are the writer's.)
func (r *runner) countAttempt(f *flight, o attempt.Outcome) {
	r.completed++
	live, machine := liveAnswer(o), o.Answered && o.AMD == "MACHINE"
	r.abandon.Count(live, o.Abandoned, machine)
	if o.AMD != "" && o.AMDWait > 0 {
		result := o.AMD
		if o.AMDNone {
			result = "none"
		}
		r.e.m.AMDWait.WithLabelValues(result).Observe(o.AMDWait.Seconds())
	}
	if live {
		r.e.m.LiveAnswered.WithLabelValues(r.id).Inc()
		r.learnAnswerDelay(f, o)
	}
	if o.Abandoned {
		r.e.m.Abandoned.WithLabelValues(r.id).Inc()
	}
	if !live || f.a.Agent == nil && f.a.Connect == 0 {
		return // no agent was meant to take it
	}
	inTime := connectedInTime(o, connectOf(r.camp))
	if inTime {
		r.e.m.ConnectedInTime.WithLabelValues(r.id).Inc()
	}
	r.e.count(r.id, func(p *Progress) {
		p.Live++
		if inTime {
			p.ConnectedInTime++
		}
		if o.Abandoned {
			p.Abandoned++
		}
	})
}

// learnAnswerDelay adds a live answer's delay (from its originate to its
// answer, and AMD's verdict) to the campaign's mean, which the pacer
// forecasts with.
func (r *runner) learnAnswerDelay(f *flight, o attempt.Outcome) {
	sent := f.sentAt
	if !f.createdAt.IsZero() {
		sent = f.createdAt
	}
	if sent.IsZero() || o.AnsweredAt.Before(sent) {
		return
	}
	d := o.AnsweredAt.Sub(sent) + o.AMDWait
	if r.answerDelay == 0 {
		r.answerDelay = d
	} else {
		r.answerDelay += (d - r.answerDelay) / 20
	}
	if fc, ok := r.pace.(*pacing.Forecast); ok {
		fc.SetAnswerDelay(r.answerDelay)
	}
}

// agentDone tells the store what the call meant for its agent: wrap-up
// after a talk, ready again, or a delay after a miss (and a break after
// max_no_answer misses in a row).
func (r *runner) agentDone(f *flight, o attempt.Outcome) {
	r.tellAgent(f.a.AgentID, f.a.ID, o, f.terms)
}

// tellAgent tells the store what an attempt meant for its agent.
func (r *runner) tellAgent(agent, attemptID string, o attempt.Outcome, t agentTerms) {
	var ev string
	var args []int64
	switch o.Agent {
	case attempt.AgentEnded:
		ev, args = store.AgentEnd, []int64{int64(t.wrapUp), o.TalkMs / 1000}
	case attempt.AgentMissed:
		ev, args = store.AgentMissed, []int64{int64(t.noAnswerDelay), int64(t.maxNoAnswer)}
	case attempt.AgentRejected:
		ev, args = store.AgentRejected, []int64{int64(t.rejectDelay)}
	case attempt.AgentBusy:
		ev, args = store.AgentBusy, []int64{int64(t.busyDelay)}
	case attempt.AgentUnregistered:
		ev = store.AgentUnregistered
	default:
		ev = store.AgentRelease
	}
	if ev != store.AgentEnd && ev != store.AgentRelease {
		r.e.m.AgentMissed.WithLabelValues(o.Agent).Inc()
	}
	r.tellAgentAt(agent, attemptID, ev, r.now(), args)
}

// agentRetry is how long an agent's event waits to be written again
// after Redis did not take it.
const agentRetry = time.Second

// tellAgentAt writes an agent's event of time at, again every agentRetry
// while Redis does not take it: an agent whose call ended during an
// outage (or a failover) would otherwise sit in the finished call until
// its reservation lapsed. A write Redis refuses for what it is (the
// reservation is another's) is not tried again, and so neither is an
// event already written (the agent no longer holds the attempt).
func (r *runner) tellAgentAt(agent, attemptID, ev string, at time.Time, args []int64) {
	r.do(func(ctx context.Context) {
		err := r.e.st.AgentEvent(ctx, agent, attemptID, ev, at, args...)
		if err == nil {
			return
		}
		r.post(func() { r.agentFailed(agent, ev, err) })
		if errors.Is(err, store.ErrUnavailable) && ctx.Err() == nil {
			r.e.clock.AfterFunc(agentRetry, func() { r.tellAgentAt(agent, attemptID, ev, at, args) })
		}
	})
}

// agentStats are the campaign's counters of a flight's agent.
func agentStats(f *flight, o attempt.Outcome) map[string]int64 {
	if f.a.Agent == nil {
		return nil
	}
	id := f.a.AgentID
	s := map[string]int64{store.AgentStat(id, "idle"): int64(f.waited / time.Second)}
	if f.a.Agent.Session {
		s[store.AgentStat(id, "calls")] = 1
	}
	switch o.Agent {
	case attempt.AgentEnded:
		s[store.AgentStat(id, "bridged")] = 1
		s[store.AgentStat(id, "talk")] = o.TalkMs / 1000
		s[store.AgentStat(id, "wrap")] = int64(f.terms.wrapUp)
	case attempt.AgentMissed, attempt.AgentRejected, attempt.AgentBusy:
		s[store.AgentStat(id, "missed")] = 1
	}
	return s
}

// refusedDelay is how long a member whose call the switch refused waits.
const refusedDelay = 10 * time.Second

// written closes an attempt once its outcome is stored (or can never be).
func (r *runner) written(f *flight, v verdict, err error) {
	attempt.Step(f.a, attempt.Input{Kind: attempt.Written}, r.now())
	if f.verifying {
		// Its events ended it before the switch answered the round's
		// question: counted now, or the round would never be complete.
		r.reconciled(f, attempt.Input{Kind: attempt.SwitchAnswer, Known: true})
	}
	delete(r.flights, f.a.ID)
	if err == nil && !f.outcome.NotPlaced {
		r.counted(v)
	}
	if f.a.EndRecords && f.a.Member.Session && (err == nil || errors.Is(err, store.ErrNotFound)) {
		// The outcome is stored (or its member is gone): the switch's
		// record of the call is needed no more. Kept otherwise, for
		// whoever adopts the attempt from the journal.
		r.e.executor(f.a.Member.Node).query(f.a.ID, command{text: "db delete/" + endRecordRealm + "/" + f.a.ID})
	}
}

func (r *runner) counted(v verdict) {
	r.e.m.Results.WithLabelValues(r.id, v.Outcome).Inc()
	r.e.count(r.id, func(p *Progress) {
		switch {
		case v.Outcome == "success":
			p.Succeeded++
		case v.EndCause == "" && v.Outcome != "result_wait":
			p.Retried++
		}
		if v.EndCause != "" {
			p.Finished++
		}
	})
}

// hold hands the writer a write of a member held without a call: the
// member's lease is renewed until it is written.
func (r *runner) hold(mw *memberWrite) {
	id := mw.base.ID
	r.held[id] = mw.lease
	done := mw.done
	mw.done = func(v verdict, err error) {
		if done != nil {
			done(v, err)
		}
		r.post(func() {
			if r.held[id] == mw.lease {
				delete(r.held, id)
			}
			if err == nil && v.EndCause != "" {
				r.e.count(r.id, func(p *Progress) { p.Finished++ })
			}
		})
	}
	r.writer.push(mw)
}

// turn is the scheduler's offer to dial: the pacer says how many calls,
// the store worker claims and prepares them, and done is closed once the
// lines are taken, so campaigns of lower priority come after.
func (r *runner) turn(done chan struct{}) {
	r.seek()                           // live answers come before new calls
	if !r.canDial() || r.plan.direct { // the calls campaign dials on request only
		close(done)
		return
	}
	now := r.now()
	p := r.plan
	if p.rules.schedule.Over(now) {
		r.finish("calendar period over")
		close(done)
		return
	}
	n := min(r.pace.Calls(r.view())-r.placing, r.e.cfg.MaxPerTick)
	// Lines were full: wait until one is freed here (or a while, for
	// lines other dialers free) rather than claim members only to put
	// them back.
	if n <= 0 || r.blocked != 0 && r.blocked == r.e.lines.freed() && now.Sub(r.blockAt) < 2*time.Second {
		close(done)
		return
	}
	r.blocked = 0
	if !r.e.sw.Available() { // no switch, no claim: members stay ready
		close(done)
		return
	}
	r.placing += n
	r.do(func(ctx context.Context) {
		res := r.e.place(ctx, r, p, n)
		close(done)
		r.post(func() { r.placed(p, n, res) })
	})
}

// view is what the pacer sees of the campaign.
func (r *runner) view() pacing.View {
	now := r.now()
	v := pacing.View{Now: now, Lines: r.camp.Parameters.Limit, Abandon: r.abandon,
		Target: r.camp.Parameters.TargetPredictiveSilentCalls, Max: r.camp.Parameters.MaxPredictiveSilentCalls,
		Window: r.camp.ComplianceWindow(), Completed: r.completed, PredictAdjust: r.camp.Parameters.PredictAdjust}
	v.Abandon.FalseMachine = r.camp.FalseMachineShare()
	if needsAgent(r.camp) || predictive(r.camp) {
		v.Agents = r.e.agents.load(r.camp, now)
	}
	for _, f := range r.flights {
		if f.a.State < attempt.Classified {
			v.InFlight = append(v.InFlight, pacing.Flight{State: f.a.State, Age: now.Sub(f.a.SentAt)})
		}
	}
	for i := 0; i < r.placing; i++ {
		v.InFlight = append(v.InFlight, pacing.Flight{State: attempt.Queued})
	}
	return v
}

// placed takes a dial turn's calls over and sends them.
func (r *runner) placed(p *plan, n int, res placement) {
	r.placing -= n
	if res.err != nil {
		r.storeFailed(res.op, res.err)
	}
	if res.blocked {
		r.blocked, r.blockAt = r.e.lines.freed(), r.now()
	}
	for _, bad := range res.invalid {
		r.e.log.Error("dialer: member cannot be dialed", "campaign", r.id, "member", bad.id, "error", bad.err)
	}
	for _, w := range res.writes {
		r.hold(w)
	}
	for _, pl := range res.calls {
		if r.stopping.Load() { // stopped meanwhile: nobody is called
			r.unplace(p, pl)
			continue
		}
		r.launch(p, pl, p.camp.Parameters.RecordSession)
	}
}

// unplace gives back what a call placed but not sent holds: its agent,
// its lines and its member.
func (r *runner) unplace(p *plan, pl *placed) {
	if pl.agent != nil {
		agent, id := pl.agent.ID, pl.journal.ID
		r.do(func(ctx context.Context) { r.e.releaseAgent(ctx, agent, id) })
	}
	pl.release()
	gw, id := pl.target.GwName, pl.journal.ID
	r.do(func(context.Context) { r.e.releaseSlot(gw, id) })
	r.hold(putBack(p, store.Claimed{Member: pl.member, Token: pl.token}, pl.journal.ID, 0))
}

// launch makes a placed call a flight of the campaign and sends it. A
// click-to-call (direct) is a call for its agent whatever the campaign's
// type: never an offer, never judged by AMD (an agent is on the line).
func (r *runner) launch(p *plan, pl *placed, record bool) {
	f := &flight{a: attempt.New(pl.journal.ID, pl.journal.Node, record, pl.journal.EndRecord),
		journal: pl.journal, member: pl.member, lease: newLease(pl.token), choice: pl.choice,
		slot: pl.target.GwName, release: pl.release, args: pl.args,
		agent: pl.agent, terms: pl.terms, waited: pl.waited, agentArgs: pl.agentArgs}
	switch {
	case pl.journal.AgentSession:
		r.e.m.AgentWait.Observe(pl.waited.Seconds())
		f.a = attempt.NewForSession(pl.journal.ID, pl.journal.Node, pl.agent.ID, pl.journal.AgentLeg,
			record, pl.journal.EndRecord)
	case pl.agent != nil:
		r.e.m.AgentWait.Observe(pl.waited.Seconds())
		f.a = attempt.NewForAgent(pl.journal.ID, pl.journal.Node, pl.agent.ID, pl.journal.AgentLeg,
			time.Duration(pl.terms.callTimeout)*time.Second, record, pl.journal.EndRecord)
	case predictive(p.camp):
		f.a = attempt.NewPredictive(pl.journal.ID, pl.journal.Node, connectOf(p.camp), record, pl.journal.EndRecord)
	}
	if p.direct {
		r.track(f)
		r.step(f, attempt.Input{Kind: attempt.Place})
		return
	}
	if p.camp.Type == store.TypePreview {
		f.a.OfferFor, f.a.DialOnTimeout = offerTimeoutOf(p.camp), p.camp.Preview.OnTimeout == store.PreviewDial
	}
	if amd := p.camp.AMD; amd.Enabled {
		f.a.AMDWait, f.a.AllowNotSure, f.a.MachineMessage = amdWait(amd), amd.AllowNotSure, amd.MachineMessage != ""
	}
	r.track(f)
	r.step(f, attempt.Input{Kind: attempt.Place})
}

// track makes a flight the campaign's and routes its leg's events here.
func (r *runner) track(f *flight) {
	r.flights[f.a.ID] = f
	r.legs[f.a.Member.UUID] = f
	r.e.route(f.a.Member.UUID, r)
	if f.a.Agent != nil {
		r.legs[f.a.Agent.UUID] = f
		r.e.route(f.a.Agent.UUID, r)
	}
	r.inFlight.Add(1)
}

// forgetAll drops the routes of every attempt when the loop ends; the
// journal keeps what was not written.
func (r *runner) forgetAll() {
	for uuid, f := range r.legs {
		r.e.unroute(uuid, r)
		if f.release != nil { // once: an attempt with an agent has two legs
			f.release()
			f.release = nil
		}
	}
	if r.timer != nil {
		r.timer.Stop()
	}
}

// storeFailed notes that Redis failed; dialing pauses while it does.
func (r *runner) storeFailed(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return // shutting down
	}
	r.troubled = r.now()
	r.e.log.Warn("dialer: store unavailable", "campaign", r.id, "op", op, "error", err)
}

func (r *runner) storeOK() bool {
	return r.troubled.IsZero() || r.now().Sub(r.troubled) > 2*time.Second
}

// nodeState suspends the attempts of a node that went away, and has the
// switch asked about each when it is back: events were lost meanwhile.
func (r *runner) nodeState(node string, up bool) {
	if up {
		r.rekill(node)
	}
	for _, f := range r.flights {
		if f.a.Member.Node != node || f.a.State >= attempt.Classified {
			continue
		}
		if up {
			r.verify(f, "reconnected")
		} else {
			r.step(f, attempt.Input{Kind: attempt.NodeLost})
		}
	}
}

// Timers: one clock timer for the earliest deadline of all attempts.

type timerEntry struct {
	id string
	t  attempt.Timer
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].t.At.Before(h[j].t.At) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (r *runner) arm(id string, t attempt.Timer) {
	heap.Push(&r.timers, timerEntry{id: id, t: t})
	r.resetTimer()
}

func (r *runner) resetTimer() {
	if len(r.timers) == 0 {
		return
	}
	at := r.timers[0].t.At
	if r.timer != nil && !r.timerAt.After(at) {
		return // an earlier or equal wake-up is set
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timerAt = at
	r.timer = r.e.clock.AfterFunc(max(at.Sub(r.now()), 0), func() { r.inbox.Push(inboxItem{timers: true}) })
}

func (r *runner) fireTimers() {
	now := r.now()
	r.timer = nil
	for len(r.timers) > 0 && !r.timers[0].t.At.After(now) {
		e := heap.Pop(&r.timers).(timerEntry)
		if f := r.flights[e.id]; f != nil {
			r.step(f, attempt.Input{Kind: attempt.TimerFired, Timer: e.t})
		}
	}
	r.resetTimer()
}

// expandRecordPath fills the record path template of an attempt.
func expandRecordPath(tmpl, campaign, member, attemptID string, now time.Time) string {
	return strings.NewReplacer("{campaign}", campaign, "{member}", member, "{attempt}", attemptID,
		"{date}", now.UTC().Format("2006-01-02")).Replace(tmpl)
}
