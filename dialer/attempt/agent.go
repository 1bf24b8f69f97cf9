package attempt

import "time"

// A call for an agent reached by a session is the same without the
// ringing: the agent's leg is up before the attempt (AgentKept), the
// member is dialed at once and bridged into it on answer, and the leg
// stays when the call ends (it parks after the bridge).
//
// A call for an agent reached by ringing (progressive dialing): the
// agent's phone rings first (WaitingAgent); once the agent answers, the
// member is dialed on the agent's line (Originating, Ringing); the member's
// answer bridges the two (Bridging, Bridged). An agent who does not answer
// costs the member nothing: nobody called them. An agent who hangs up
// before the member answers ends the member's call. After a bridge the
// member's leg decides, as in a broadcast, and the agent goes to wrap-up.

// agentLeg applies an input about the agent's leg.
func (a *Attempt) agentLeg(in Input, now time.Time) []Command {
	ag := a.Agent
	switch in.Kind {
	case Create, Progress:
		if !ag.Session {
			ag.Session = true
			return []Command{{Kind: AgentEvent, Leg: ag.UUID, Event: AgentOffered}}
		}
	case Answer:
		if ag.Answered {
			return nil
		}
		var cmds []Command
		if !ag.Session { // its CHANNEL_CREATE was missed
			cmds = append(cmds, Command{Kind: AgentEvent, Leg: ag.UUID, Event: AgentOffered})
		}
		ag.Session, ag.Answered, ag.AnsweredAt = true, true, in.At
		switch {
		case a.State == WaitingAgent && a.Member.Answered: // the member waits on the line
			cmds = append(cmds, a.arm(CheckTimer, now.Add(Quiet)))
			cmds = append(cmds, a.bridge(now)...)
		case a.State == WaitingAgent:
			a.State, a.LastChange = Originating, now
			cmds = append(cmds, Command{Kind: Originate, Leg: a.Member.UUID}, a.arm(CheckTimer, now.Add(Grace)))
		}
		return cmds
	case BridgeEvent:
		return a.bridged(in.At, now)
	case Hangup, HangupComplete, Destroy:
		if in.Cause != "" {
			ag.Cause = in.Cause
		}
		if ag.Ended {
			return nil
		}
		ag.Ended, ag.Session = true, true
		return a.agentGone(in.At, now)
	case NotSent:
		if !ag.Session {
			ag.Ended = true
			return a.agentGone(now, now)
		}
	case JobResult:
		if in.Cause != "" && !ag.Session {
			// Refused before the agent's phone rang: not registered,
			// or the switch out of sessions.
			ag.Cause, ag.Ended = in.Cause, true
			return a.agentGone(in.At, now)
		}
	case SwitchAnswer:
		switch {
		case !in.Known:
			return []Command{a.arm(CheckTimer, now.Add(Recheck))}
		case in.Exists && a.State == WaitingAgent:
			// Its answer may have been missed (a cut of the event
			// socket): the switch does not tell a ringing leg from an
			// answered one, but a leg still there after its ringing
			// could have lasted answered.
			rung := a.SentAt
			if !a.agentSentAt.IsZero() {
				rung = a.agentSentAt
			}
			if rang := rung.Add(a.AgentRing + Grace); now.Before(rang) {
				return []Command{a.arm(CheckTimer, rang)}
			}
			return a.agentLeg(Input{Kind: Answer, Leg: ag.UUID, At: now}, now)
		case in.Exists:
			ag.Session = true // so the call's end hangs it up
			return []Command{a.arm(CheckTimer, now.Add(Recheck))}
		case in.End != nil:
			return a.agentLeg(Input{Kind: HangupComplete, Leg: ag.UUID, Cause: in.End.Cause, At: now}, now)
		default:
			return a.agentLeg(Input{Kind: HangupComplete, Leg: ag.UUID, At: now}, now)
		}
	}
	return nil
}

// agentGone decides after the agent's leg ended.
func (a *Attempt) agentGone(at, now time.Time) []Command {
	ag := a.Agent
	switch {
	case a.abandoned:
		// The dialer gave up on this agent and hung them up: the member
		// hears the safe-harbor message to its end.
		return nil
	case !ag.Answered && a.waitsForAgent():
		// The agent rung for a live answer did not take it: another may,
		// in time.
		outcome := a.agentOutcome
		if outcome == "" {
			outcome = AgentOutcomeOf(ag.Cause)
		}
		release := Command{Kind: ReleaseAgent, Leg: ag.UUID, Agent: a.AgentID, Event: outcome}
		a.Agent, a.AgentID, a.AgentRing, a.agentOutcome, a.agentSentAt = nil, "", 0, "", time.Time{}
		return []Command{release, {Kind: FindAgent, Leg: a.Member.UUID}}
	case !ag.Answered:
		if a.agentOutcome == "" { // not hung up by the dialer
			a.agentOutcome = AgentOutcomeOf(ag.Cause)
		}
		if a.State == WaitingAgent { // the member was not dialed
			o := Outcome{Cause: ag.Cause, NotPlaced: true, EndedAt: at, From: "agent", Agent: a.agentOutcome}
			o.Refused = !ag.Session && a.agentOutcome == AgentReleased // the switch's refusal, not the agent's
			return a.classify(o, now)
		}
	case a.bridgedAt.IsZero() && a.State < Answered:
		// The agent hung up while the member's phone rang: stop it.
		return []Command{{Kind: HangupLeg, Leg: a.Member.UUID, Cause: "ORIGINATOR_CANCEL"}}
	case a.bridgedAt.IsZero() && a.State < HungUp:
		// The member answered and the agent left before the bridge (a
		// bridge sent meanwhile fails): nobody is there for the member.
		return []Command{{Kind: HangupLeg, Leg: a.Member.UUID, Cause: "NORMAL_CLEARING"}}
	}
	// After a bridge the member's leg ends too, and decides.
	return nil
}

// waitsForAgent reports whether a live answer waits for an agent with a
// connect deadline (predictive dialing), no bridge sent yet.
func (a *Attempt) waitsForAgent() bool {
	return a.State == WaitingAgent && a.Member.Answered && !a.connectBy.IsZero()
}

// seekAgent starts the wait of a live answer for an agent: the connect
// threshold runs from the answer.
func (a *Attempt) seekAgent(answered, now time.Time) []Command {
	a.advance(WaitingAgent, now)
	a.connectBy = answered.Add(a.Connect)
	return []Command{{Kind: FindAgent, Leg: a.Member.UUID}, a.arm(ConnectTimer, a.connectBy)}
}

// agentFound takes an agent reserved for the live answer: bridged into
// their session at once, or rung. One found too late goes back.
func (a *Attempt) agentFound(f *Found, now time.Time) []Command {
	if f == nil {
		return nil
	}
	if !a.waitsForAgent() || a.Agent != nil || a.Member.Ended {
		return []Command{{Kind: ReleaseAgent, Leg: f.Leg, Agent: f.Agent}}
	}
	a.AgentID = f.Agent
	a.Agent = &Leg{UUID: f.Leg, Node: a.Member.Node}
	if f.Session {
		a.AgentKept = true
		a.Agent.Session, a.Agent.Answered = true, true
		cmds := []Command{{Kind: AgentEvent, Leg: f.Leg, Event: AgentOffered}, a.arm(CheckTimer, now.Add(Quiet))}
		return append(cmds, a.bridge(now)...)
	}
	a.AgentRing, a.agentSentAt = f.Ring, now
	return []Command{{Kind: OriginateAgent, Leg: f.Leg}}
}

// abandon gives up on finding an agent in time: the member hears the
// safe-harbor message, and an agent's phone still ringing stops (it costs
// the agent nothing).
func (a *Attempt) abandon(now time.Time) []Command {
	a.abandoned = true
	a.advance(Message, now)
	cmds := []Command{{Kind: SafeHarbor, Leg: a.Member.UUID}}
	if a.Agent != nil && !a.AgentKept && !a.Agent.Ended {
		a.agentOutcome = AgentReleased
		cmds = append(cmds, Command{Kind: HangupLeg, Leg: a.Agent.UUID, Cause: "ORIGINATOR_CANCEL"})
	}
	return append(cmds, a.arm(CheckTimer, now.Add(Quiet)))
}

// bridge joins the member who answered to the agent waiting on the line;
// if the agent left meanwhile, the member has nobody and is hung up.
func (a *Attempt) bridge(now time.Time) []Command {
	if a.Agent.Ended {
		return []Command{{Kind: HangupLeg, Leg: a.Member.UUID, Cause: "NORMAL_CLEARING"}}
	}
	a.advance(Bridging, now)
	return []Command{{Kind: Bridge, Leg: a.Member.UUID}}
}

// bridgedUnseen takes a bridge the switch reports at the end (its
// CHANNEL_BRIDGE lost in a cut of the event socket): the member talked to
// the agent, so the call is not abandoned and the agent wraps up.
func (a *Attempt) bridgedUnseen(at time.Time, known bool) {
	a.bridgeKnown = a.bridgeKnown || known
	if a.Agent != nil && a.bridgedAt.IsZero() && !at.IsZero() {
		a.bridgedAt = at
	}
}

// bridged records the bridge (CHANNEL_BRIDGE of either leg).
func (a *Attempt) bridged(at, now time.Time) []Command {
	if !a.bridgedAt.IsZero() {
		return nil
	}
	a.bridgedAt = at
	a.advance(Bridged, now)
	return []Command{{Kind: AgentEvent, Leg: a.Agent.UUID, Event: AgentBridged}}
}

// Agent events the campaign loop passes on to the agent pool.
const (
	AgentOffered = "offered" // the agent's phone rings
	AgentBridged = "bridged" // the agent talks to the member
)

// withAgent completes an outcome with what it meant for the agent.
func (a *Attempt) withAgent(o Outcome) Outcome {
	if a.Agent == nil {
		return o
	}
	switch {
	case !a.bridgedAt.IsZero():
		o.Agent, o.BridgedAt = AgentEnded, a.bridgedAt
		if end := o.EndedAt; end.After(a.bridgedAt) {
			o.TalkMs = end.Sub(a.bridgedAt).Milliseconds()
		}
	case a.agentOutcome != "":
		o.Agent = a.agentOutcome
	default:
		o.Agent = AgentReleased
	}
	return o
}

// AgentOutcomeOf reads why an agent's phone did not answer, as
// mod_callcenter does: not answered in time, rejected, busy (or
// do-not-disturb), not registered; anything else was not the agent's
// doing.
func AgentOutcomeOf(cause string) string {
	switch cause {
	case "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE", "ORIGINATOR_CANCEL":
		return AgentMissed
	case "CALL_REJECTED":
		return AgentRejected
	case "USER_BUSY":
		return AgentBusy
	case "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT":
		return AgentUnregistered
	}
	return AgentReleased
}

// judged goes on from the AMD verdict, given at: a person to the agent
// waiting on the line, to an agent sought now (the connect threshold runs
// from the verdict), or to the message a broadcast plays; a machine is
// hung up, or hears the machine's message. held: no verdict came, and the
// amd application still holds the call.
func (a *Attempt) judged(at time.Time, held bool, now time.Time) []Command {
	a.judgedAt = at
	if a.AMD == "HUMAN" || a.AMD == "NOTSURE" && a.AllowNotSure {
		switch {
		case a.Agent != nil:
			return append([]Command{a.arm(CheckTimer, now.Add(Quiet))}, a.bridge(now)...)
		case a.Connect > 0:
			return a.seekAgent(at, now)
		}
		a.advance(Message, now)
		cmds := []Command{a.arm(CheckTimer, now.Add(Quiet))}
		if held { // the broadcast's message waits behind the amd application
			cmds = append(cmds, Command{Kind: Resume, Leg: a.Member.UUID})
		}
		return cmds
	}
	cmds := []Command{a.arm(CheckTimer, now.Add(Quiet))}
	if a.MachineMessage {
		a.advance(Message, now)
		return append(cmds, Command{Kind: MachineMessage, Leg: a.Member.UUID})
	}
	return append(cmds, Command{Kind: HangupLeg, Leg: a.Member.UUID, Cause: "NORMAL_CLEARING"})
}
