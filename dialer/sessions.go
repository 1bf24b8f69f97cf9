package dialer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/fifo"
	"github.com/fsdialer/fsdialer/store"
)

// sessions keeps the persistent legs of the agents reached by a session
// (reach "session"): it calls an agent who is available and has none,
// makes the agent ready when the leg answers, hangs the leg up when the
// agent is no longer available, takes over a leg whose keeper stopped
// renewing it (a dialer that died, or this one before a restart), and
// tells the store how each leg ended. Members are bridged into the legs
// by the campaigns; the leg parks again after each (park_after_bridge).
//
// One goroutine owns it, fed by one ordered inbox; the store is reached
// through its worker and the switches through the nodes' executors, so
// nothing here waits on the network. Which dialer keeps a leg is decided
// in Redis (store.OpenSession, AdoptSession): one agent, one leg.
type sessions struct {
	e     *Engine
	owner string
	inbox *fifo.Queue[func()]
	work  *fifo.Queue[func(context.Context)]

	// Owned by the loop.
	legs    map[string]*agentSession // by uuid
	byAgent map[string]*agentSession
	pending map[string]bool      // agents with a question under way (opening, taking over)
	retryAt map[string]time.Time // agents whose session could not be opened (the store failed)
	renewAt time.Time
}

// agentSession is one agent's leg this dialer keeps.
type agentSession struct {
	agent    *store.Agent
	uuid     string
	node     string
	answered bool
	upStored bool // the store knows it answered
	storing  bool // SessionUp under way
	hungUp   bool // this dialer hung it up: the agent left
	gone     bool
	release  func() // the node's line
	checkAt  time.Time
	retryAt  time.Time // of SessionUp, after the store failed
}

// sessionTick is how often the keeper looks at the agents.
const sessionTick = 100 * time.Millisecond

func newSessions(e *Engine) *sessions {
	return &sessions{e: e, owner: e.cfg.Instance + "/" + store.NewToken(),
		inbox: fifo.New[func()](), work: fifo.New[func(context.Context)](),
		legs: map[string]*agentSession{}, byAgent: map[string]*agentSession{}, pending: map[string]bool{}, retryAt: map[string]time.Time{}}
}

func (k *sessions) post(fn func())                   { k.inbox.Push(fn) }
func (k *sessions) do(job func(ctx context.Context)) { k.work.Push(job) }

func (k *sessions) run(ctx context.Context) {
	go worker(ctx, k.work)
	defer k.work.Close()
	tick := clock.NewTicker(k.e.clock, sessionTick)
	defer tick.Stop()
	var buf []func()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.inbox.Ready():
			buf = k.inbox.TryTake(buf)
			for i, fn := range buf {
				fn()
				buf[i] = nil
			}
		case <-tick.C:
			k.look(k.e.clock.Now())
		}
	}
}

// look compares the agents with the legs kept: it opens the sessions
// wanted, hangs up those no longer wanted, takes over lapsed ones, and
// renews this dialer's hold on its own.
func (k *sessions) look(now time.Time) {
	seen := map[string]bool{}
	for _, v := range k.e.agents.withSessions() {
		seen[v.ID] = true
		l, s := v.Live, k.byAgent[v.ID]
		switch {
		case s != nil:
			s.agent = v.Agent
			if !s.hungUp && (v.Reach != store.ReachSession || !store.Available(l.Status)) && !l.Reserved(now) {
				k.hangup(s)
			}
			if !s.checkAt.IsZero() && !now.Before(s.checkAt) {
				k.check(s)
			}
			if s.answered && !s.upStored && !s.storing && !now.Before(s.retryAt) {
				k.recordUp(s)
			}
		case k.pending[v.ID], now.Before(k.retryAt[v.ID]):
		case v.Reach == store.ReachSession && l.WantsSession(now):
			k.open(v.Agent, now)
		case l.SessionLapsed(now):
			k.takeOver(v.Agent, l, now)
		}
	}
	for id, s := range k.byAgent {
		if !seen[id] && !s.hungUp { // the agent was deleted
			k.hangup(s)
		}
	}
	if now.After(k.renewAt) {
		k.renewAt = now.Add(k.e.cfg.LeaseTTL / 3)
		k.renew(now)
	}
}

// open calls an agent on a line of the switch with the most free lines.
func (k *sessions) open(a *store.Agent, now time.Time) {
	sw, release, err := k.e.sw.Acquire()
	if err != nil {
		return // no switch can take a call now: the next look tries again
	}
	uuid := esl.NewUUID()
	args, err := sessionOriginateArgs(a, uuid)
	if err != nil {
		release()
		k.e.log.Error("dialer: agent's session not called: its contact cannot go in a command", "agent", a.ID, "error", err)
		return
	}
	ss := store.AgentSession{UUID: uuid, Node: sw.Name(), Owner: k.owner, Until: now.Add(k.e.cfg.LeaseTTL)}
	k.pending[a.ID] = true
	k.do(func(ctx context.Context) {
		err := k.e.st.OpenSession(ctx, a.ID, ss, now)
		k.post(func() {
			delete(k.pending, a.ID)
			if err != nil {
				release()
				if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
					k.retryAt[a.ID] = k.e.clock.Now().Add(attempt.Recheck)
					k.e.log.Warn("dialer: agent's session not opened", "agent", a.ID, "error", err)
				}
				return
			}
			delete(k.retryAt, a.ID)
			s := &agentSession{agent: a, uuid: uuid, node: ss.Node, release: release,
				checkAt: k.e.clock.Now().Add(time.Duration(a.CallTimeout)*time.Second + attempt.Grace)}
			k.track(s)
			k.e.executor(s.node).originate(command{text: "originate " + args, jobID: uuid,
				done: func(_ string, err error) {
					if notSent(err) {
						k.post(func() { k.ended(s, "", false) })
					}
				}}, false)
		})
	})
}

// takeOver asks the switch whether a leg whose keeper lapsed is still up:
// if so this dialer keeps it, else its end is recorded.
func (k *sessions) takeOver(a *store.Agent, l *store.AgentLive, now time.Time) {
	if k.e.sw.Node(l.SessionNode) == nil || !k.e.sw.Connected(l.SessionNode) {
		return // its switch is away: asked again when it is back
	}
	uuid, node, up := l.Session, l.SessionNode, l.SessionState == store.SessionUp
	k.pending[a.ID] = true
	k.e.executor(node).query(uuid, command{
		call: func(ctx context.Context, sw Switch) (string, error) {
			in := checkLeg(ctx, sw, uuid, false)
			k.do(func(ctx context.Context) {
				var err error
				switch {
				case !in.Known:
				case in.Exists:
					err = k.e.st.AdoptSession(ctx, a.ID, uuid, k.owner, now.Add(k.e.cfg.LeaseTTL), now)
				default:
					err = k.e.st.EndSession(ctx, a.ID, uuid, store.SessionReleased, now, 0, 0)
				}
				k.post(func() {
					delete(k.pending, a.ID)
					if !in.Known || err != nil { // asked again later, not at every look
						k.retryAt[a.ID] = k.e.clock.Now().Add(attempt.Recheck)
						return
					}
					if in.Exists {
						k.e.log.Info("dialer: agent's session taken over", "agent", a.ID, "leg", uuid, "node", node)
						s := &agentSession{agent: a, uuid: uuid, node: node, answered: up, upStored: up, release: k.e.sw.Hold(node)}
						k.track(s)
						if !up {
							// Rung by a keeper that died: whether it was
							// answered since is not known. A new call is.
							k.hangup(s)
						}
					}
				})
			})
			return "", nil
		},
		done: func(_ string, err error) {
			if err != nil {
				k.post(func() {
					delete(k.pending, a.ID)
					k.retryAt[a.ID] = k.e.clock.Now().Add(attempt.Recheck)
				})
			}
		},
	})
}

func (k *sessions) track(s *agentSession) {
	k.legs[s.uuid], k.byAgent[s.agent.ID] = s, s
	k.e.routeSession(s.uuid)
}

// hangup ends a leg the agent no longer wants.
func (k *sessions) hangup(s *agentSession) {
	s.hungUp = true
	k.e.executor(s.node).query(s.uuid, command{text: "uuid_kill " + s.uuid + " NORMAL_CLEARING"})
	s.checkAt = k.e.clock.Now().Add(attempt.JobWait) // in case its end is not seen
}

// check asks the switch about a leg whose answer or end should have been
// seen by now (events lost, or the switch was away), and about every leg
// now and then: a leg's end must not go unseen for long.
func (k *sessions) check(s *agentSession) {
	s.checkAt = time.Time{}
	k.e.executor(s.node).query(s.uuid, command{
		call: func(ctx context.Context, sw Switch) (string, error) {
			in := checkLeg(ctx, sw, s.uuid, false)
			k.post(func() {
				switch {
				case s.gone:
				case !in.Known:
					s.checkAt = k.e.clock.Now().Add(attempt.Recheck)
				case !in.Exists:
					k.ended(s, "", false)
				case s.hungUp: // still up: the hangup did not reach it
					k.hangup(s)
				default:
					s.checkAt = k.e.clock.Now().Add(attempt.Quiet)
				}
			})
			return "", nil
		},
		done: func(_ string, err error) {
			if err != nil {
				k.post(func() { s.checkAt = k.e.clock.Now().Add(attempt.Recheck) })
			}
		},
	})
}

// event applies a switch event about a kept leg.
func (k *sessions) event(ev *esl.Event) {
	s := k.legs[legOf(ev)]
	if s == nil {
		return
	}
	in, ok := inputOf(ev)
	if !ok {
		return
	}
	switch in.Kind {
	case attempt.Answer:
		if s.answered || s.gone {
			return
		}
		s.answered, s.checkAt = true, k.e.clock.Now().Add(attempt.Quiet)
		k.recordUp(s)
	case attempt.Hangup, attempt.HangupComplete, attempt.Destroy:
		k.ended(s, in.Cause, true)
	case attempt.JobResult:
		if in.Cause != "" && !s.answered {
			k.ended(s, in.Cause, true)
		}
	}
}

// recordUp tells the store that the agent answered: ready for calls. A
// failure is tried again (the agent takes no call until it is stored).
func (k *sessions) recordUp(s *agentSession) {
	s.storing = true
	id, uuid, now := s.agent.ID, s.uuid, k.e.clock.Now()
	k.do(func(ctx context.Context) {
		err := k.e.st.SessionUp(ctx, id, uuid, now)
		k.post(func() {
			s.storing = false
			switch {
			case err == nil:
				s.upStored = true
			case errors.Is(err, store.ErrLeaseLost), errors.Is(err, store.ErrNotFound):
				s.upStored = true // the agent has another leg, or is gone: nothing to store
			default:
				s.retryAt = k.e.clock.Now().Add(attempt.Recheck)
				k.e.log.Warn("dialer: agent's session answer not recorded", "agent", id, "error", err)
			}
		})
	})
}

// ended records the end of a leg: the agent hung up (seen: Logged Out),
// this dialer hung it up, or it was never answered (the agent's rules
// for a missed call apply).
func (k *sessions) ended(s *agentSession, cause string, seen bool) {
	if s.gone {
		return
	}
	s.gone = true
	delete(k.legs, s.uuid)
	if k.byAgent[s.agent.ID] == s {
		delete(k.byAgent, s.agent.ID)
	}
	k.e.unrouteSession(s.uuid)
	s.release()
	why, delay := store.SessionReleased, 0
	switch {
	case s.hungUp || !seen:
	case s.answered:
		why = store.SessionHungUp
	default:
		switch out := attempt.AgentOutcomeOf(cause); out {
		case attempt.AgentMissed, attempt.AgentRejected, attempt.AgentBusy, attempt.AgentUnregistered:
			why = out
			k.e.m.AgentMissed.WithLabelValues(out).Inc()
			delay = map[string]int{attempt.AgentMissed: s.agent.NoAnswerDelayTime, attempt.AgentRejected: s.agent.RejectDelayTime,
				attempt.AgentBusy: s.agent.BusyDelayTime}[out]
		default:
			// The switch refused the call (its rate, its sessions): not
			// the agent's doing, but not to be tried again at once.
			k.retryAt[s.agent.ID] = k.e.clock.Now().Add(attempt.Recheck)
		}
	}
	id, uuid, now, max := s.agent.ID, s.uuid, k.e.clock.Now(), s.agent.MaxNoAnswer
	if why == store.SessionHungUp {
		k.e.log.Info("dialer: agent hung up their session: logged out", "agent", id, "cause", cause)
	}
	k.do(func(ctx context.Context) {
		if err := k.e.st.EndSession(ctx, id, uuid, why, now, delay, max); err != nil && !errors.Is(err, store.ErrLeaseLost) && !errors.Is(err, store.ErrNotFound) {
			k.e.log.Warn("dialer: agent's session end not recorded", "agent", id, "error", err)
		}
	})
}

// renew extends this dialer's hold on its legs.
func (k *sessions) renew(now time.Time) {
	if len(k.byAgent) == 0 {
		return
	}
	ids := make([]string, 0, len(k.byAgent))
	for id := range k.byAgent {
		ids = append(ids, id)
	}
	until := now.Add(k.e.cfg.LeaseTTL)
	k.do(func(ctx context.Context) {
		if _, err := k.e.st.RenewSessions(ctx, k.owner, ids, until); err != nil && ctx.Err() == nil {
			k.e.log.Warn("dialer: agents' sessions not renewed", "error", err)
		}
	})
}

// nodeUp has the legs of a node that came back asked about: their ends
// may have been missed while it was away.
func (k *sessions) nodeUp(node string) {
	now := k.e.clock.Now()
	for _, s := range k.legs {
		if s.node == node {
			s.checkAt = now
		}
	}
}

// sessionOriginateArgs builds the originate that opens an agent's
// session: the leg parks once answered and again after every bridge
// (park_after_bridge), ringing at most the agent's call timeout.
func sessionOriginateArgs(a *store.Agent, uuid string) (string, error) {
	var cb commandBuilder
	cb.raw("{")
	cb.variable("origination_uuid", uuid)
	cb.variable("dialer_agent_id", a.ID)
	cb.variable("dialer_session", "true")
	cb.variable("park_after_bridge", "true")
	cb.variable("originate_timeout", strconv.Itoa(a.CallTimeout))
	if a.AutoAnswer {
		cb.variable("sip_auto_answer", "true")
	}
	cb.raw("}")
	cb.token("agent contact", a.Contact)
	cb.raw(" &park()")
	return cb.String()
}
