// Package attempt is the state machine of one call attempt: its legs, its
// state, and the commands each input calls for. Step is a pure function of
// (attempt, input, now): no clock, ESL or Redis inside. The campaign loop
// feeds it the switch's events in the order the switch sent them, the
// results of the commands it carried out and the timers it armed, and does
// what the returned commands say.
//
// Every dialing mode is a path through one machine. A voice broadcast is
// Queued, Originating, Ringing, Answered, Message, HungUp, Classified; the
// live-answer modes add the agent's leg and the states between answer and
// bridge.
package attempt

import (
	"fmt"
	"time"
)

// State is how far an attempt has come. It only moves forward: a late or
// repeated event never takes an attempt back.
type State uint8

// The states of an attempt.
const (
	Queued       State = iota // a member and a target are chosen; nothing sent
	Offered                   // preview: the member is shown to the agent, who may accept or skip
	Originating               // the originate is handed to the switch; no channel seen
	Ringing                   // the member's channel exists
	Answered                  // the member answered
	Detecting                 // answering-machine detection listens
	WaitingAgent              // a live answer waits for an agent
	Bridging                  // member and agent are being bridged
	Bridged                   // member and agent talk
	Message                   // a recorded message plays (broadcast, safe harbor)
	HungUp                    // the member's leg ended; the attempt waits for what it still lacks
	Classified                // the outcome is decided and handed to the writer
	Done                      // the outcome is written
)

var stateNames = [...]string{"queued", "offered", "originating", "ringing", "answered", "detecting", "waiting for agent",
	"bridging", "bridged", "message", "hung up", "classified", "done"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// Grace is how long after an originate was sent its channel may still be
// missing from the switch: bgapi runs the originate in a thread of its own,
// so an attempt is never judged "never placed" sooner, or the member could
// be dialed again while its first call is being set up.
const Grace = 30 * time.Second

// Quiet is how long an attempt in a call may go without a state change
// before the switch is asked whether it still exists (events can be lost
// when a listener's queue overflows).
const Quiet = 10 * time.Minute

// JobWait is how long an attempt whose channel ended without a cause
// waits for its originate's result, which carries it (an unknown gateway:
// CHANNEL_DESTROY, then BACKGROUND_JOB -ERR INVALID_GATEWAY).
const JobWait = 5 * time.Second

// Recheck is how soon a question the switch could not answer is asked
// again.
const Recheck = 5 * time.Second

// CauseLost is the cause of an attempt whose end could not be learned: the
// switch no longer has the channel and kept no end record of it.
const CauseLost = "DIALER_LOST_CALL"

// Leg is one channel of an attempt.
type Leg struct {
	UUID       string
	Node       string // the switch it is on
	Session    bool   // the switch created a session (any channel event was seen)
	Answered   bool
	AnsweredAt time.Time
	Cause      string // hangup cause, once known
	BillMsec   int64
	Ended      bool // CHANNEL_HANGUP_COMPLETE or CHANNEL_DESTROY seen
}

// Attempt is one attempt in flight. The campaign loop owns it; only Step
// changes it.
type Attempt struct {
	ID     string // also the member leg's uuid and the originate's job id
	State  State
	Member Leg
	// Agent is the agent's leg of a call for an agent (nil: a broadcast),
	// AgentID the agent it reaches, AgentRing how long its phone may ring
	// (call_timeout, which the originate also carries).
	Agent     *Leg
	AgentID   string
	AgentRing time.Duration
	// AgentKept: the agent's leg is the agent's persistent session, up
	// before the attempt and kept after it: never rung, never hung up.
	AgentKept bool
	// Connect is how long a live answer may wait for an agent (the
	// connect threshold of predictive dialing): the member is dialed with
	// no agent, and one is sought once they answer; none in time, and
	// they hear the safe-harbor message instead (an abandoned call).
	Connect time.Duration
	// AMDWait, when set, runs answering-machine detection on the answer
	// and bounds its wait for a verdict (none comes on a line without
	// audio: then the answer is NOTSURE). A person (HUMAN, or NOTSURE
	// with AllowNotSure) goes on to the agent or the message; anything
	// else is hung up, or hears a message when MachineMessage.
	AMDWait        time.Duration
	AllowNotSure   bool
	MachineMessage bool
	// OfferFor, when set, shows the member to the agent first (preview
	// dialing) for at most so long; then DialOnTimeout says whether the
	// call is placed or the member skipped.
	OfferFor      time.Duration
	DialOnTimeout bool
	// Record asks for the member leg to be recorded once answered.
	Record bool
	// EndRecords: the originate asks the switch to keep an end record of
	// the call (api_hangup_hook), so an end missed while the dialer or its
	// event socket was away can be read back instead of guessed.
	EndRecords bool

	SentAt     time.Time // the originate was handed to the switch (journal time after a restart)
	LastChange time.Time
	AMD        string // amd_result, when AMD ran
	JobDone    bool
	JobCause   string // the cause of a failed originate ("" when it succeeded)
	Suspended  bool   // its switch is disconnected: its deadline waits

	Deadline     Timer // the one timer armed, if any
	gen          uint32
	agentOutcome string    // why the agent was not reached, once known
	bridgedAt    time.Time // CHANNEL_BRIDGE
	connectBy    time.Time // a live answer waits for an agent until then
	abandoned    bool      // the safe-harbor message was played
	agentSentAt  time.Time // the agent's phone was rung (found after the answer)
	adopted      bool      // taken from the journal: what happened before is unknown
	bridgeKnown  bool      // the switch said at the end whether the member was bridged
	judgedAt     time.Time // the AMD verdict came, or the wait for it ended
	amdNone      bool      // no verdict came in time
	// missing counts the switch's answers that it has neither the
	// channel nor its end record: the hook writes the record just after
	// the channel goes down, so one such answer is not yet proof.
	missing int
}

// TimerKind says what a deadline is for.
type TimerKind uint8

// The kinds of deadlines.
const (
	NoTimer      TimerKind = iota
	CheckTimer             // ask the switch (no channel yet, quiet call, recheck)
	JobTimer               // the channel ended without a cause: wait for the job
	ConnectTimer           // a live answer has waited for an agent long enough
	AMDTimer               // answering-machine detection has had long enough
	OfferTimer             // a preview offer has waited long enough for the agent
)

// Timer is an armed deadline; Gen tells an old one from the current one.
type Timer struct {
	Kind TimerKind
	At   time.Time
	Gen  uint32
}

// Kind is what happened.
type Kind uint8

// The kinds of inputs.
const (
	Place           Kind = iota // the originate goes to the switch now
	NotSent                     // the originate never reached the switch
	Create                      // CHANNEL_CREATE
	Progress                    // CHANNEL_PROGRESS, CHANNEL_PROGRESS_MEDIA
	Answer                      // CHANNEL_ANSWER
	ExecuteComplete             // CHANNEL_EXECUTE_COMPLETE
	Hangup                      // CHANNEL_HANGUP
	HangupComplete              // CHANNEL_HANGUP_COMPLETE
	Destroy                     // CHANNEL_DESTROY
	JobResult                   // BACKGROUND_JOB of the originate
	BridgeEvent                 // CHANNEL_BRIDGE
	TimerFired                  // the armed deadline passed
	Verify                      // events may have been missed (adopted, reconnected): ask the switch
	NodeLost                    // the leg's switch disconnected
	SwitchAnswer                // what the switch said about the leg
	Written                     // the outcome is stored
	AgentFound                  // an agent is reserved for a live answer (Found)
	Accepted                    // the agent accepted the preview offer
	Skipped                     // the agent skipped the preview offer
)

var kindNames = [...]string{"place", "not sent", "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_ANSWER",
	"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "BACKGROUND_JOB",
	"CHANNEL_BRIDGE", "timer", "verify", "node lost", "switch answer", "written", "agent found", "accepted", "skipped"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Input is one thing that happened to an attempt.
type Input struct {
	Kind Kind
	Leg  string    // the channel an event is about
	At   time.Time // when the switch fired the event (zero: now)

	Cause      string    // Hangup-Cause; the -ERR cause of a failed job
	BillMsec   int64     // variable_billmsec
	AnsweredAt time.Time // variable_answer_uepoch, when not zero
	BridgedAt  time.Time // variable_bridge_uepoch, when not zero
	// BridgeKnown: the event carried variable_bridge_uepoch (0 or not).
	BridgeKnown bool
	App         string // the application that completed
	AMD         string // amd_result

	Timer Timer // TimerFired: the deadline that passed

	// SwitchAnswer: Known is false when the switch could not be asked;
	// Unrecorded when it keeps no end records (mod_db is not loaded).
	Known      bool
	Exists     bool
	End        *EndRecord // the switch's end record, when it kept one
	Unrecorded bool

	Found *Found // AgentFound
}

// Found is an agent reserved for a live answer: the leg that reaches them
// (their session, up on the member's switch, or a new leg that rings them
// for at most Ring).
type Found struct {
	Agent   string
	Leg     string
	Session bool
	Ring    time.Duration
}

// EndRecord is what the switch recorded when the call ended.
type EndRecord struct {
	Cause      string
	BillMsec   int64
	AnsweredAt time.Time // zero: never answered
	BridgedAt  time.Time // zero: never bridged
	// BridgeKnown: the record says whether it was bridged (one of an
	// older dialer does not).
	BridgeKnown bool
}

// CommandKind is what the campaign loop must do.
type CommandKind uint8

// The kinds of commands.
const (
	Originate      CommandKind = iota // send the member leg's originate
	StartRecord                       // record the member leg
	CheckSwitch                       // ask the leg's switch whether it exists and how it ended
	Arm                               // arm the attempt's deadline (replacing the one before)
	Classify                          // the attempt is over: write Outcome
	OriginateAgent                    // ring the agent's phone
	Bridge                            // bridge the member's leg to the agent's
	HangupLeg                         // hang up Leg with Cause
	AgentEvent                        // tell the agent pool (Event: offered, bridged)
	FindAgent                         // reserve an agent for the live answer
	ReleaseAgent                      // give back an agent found too late or not answering (Agent, Leg)
	SafeHarbor                        // play the safe-harbor message to the member, then hang up
	MachineMessage                    // play the machine's message, then hang up
	Resume                            // AMD gave no verdict and holds the call: play the campaign's message
	Offer                             // show the member to the agent (preview)
	Withdraw                          // the offer is answered or over: take it down
	ExpireOffer                       // the offer's time is up: the campaign's answer, unless the agent's came first
)

var commandNames = [...]string{"originate", "record", "check switch", "arm", "classify", "originate agent", "bridge", "hangup",
	"agent event", "find agent", "release agent", "safe harbor", "machine message", "resume", "offer", "withdraw", "expire offer"}

func (k CommandKind) String() string {
	if int(k) < len(commandNames) {
		return commandNames[k]
	}
	return fmt.Sprintf("command(%d)", k)
}

// Command is one thing to do.
type Command struct {
	Kind    CommandKind
	Leg     string
	Timer   Timer   // Arm
	Outcome Outcome // Classify
	Cause   string  // Hangup
	Event   string  // AgentEvent; ReleaseAgent: what the call meant for the agent ("" released)
	Agent   string  // ReleaseAgent: the agent
}

// Outcome is how an attempt ended, for the rules.
type Outcome struct {
	Cause      string
	Answered   bool
	AnsweredAt time.Time
	EndedAt    time.Time
	BillMsec   int64
	AMD        string
	// NotPlaced: nobody was called (the switch refused before a channel
	// existed, or the originate never reached it); the member goes back
	// without an attempt counted.
	NotPlaced bool
	// From says how the end was learned: "events", "end record", "job" or "lost".
	From string
	// Agent is what the call meant for its agent (calls for an agent):
	// AgentEnded after a bridge, AgentReleased when nothing reached the
	// agent, or why the agent was not reached.
	Agent     string
	BridgedAt time.Time
	TalkMs    int64 // bridged to ended
	// Refused: the switch refused an originate before any channel existed
	// (its sessions-per-second, out of sessions): it slows the node.
	Refused bool
	// Abandoned: a live answer of a call meant for an agent that no agent
	// took (pacing.md: an abandoned, silent call), whether the dialer gave
	// up at the connect threshold or the member hung up first.
	Abandoned bool
	// SafeHarbor: the dialer gave up at the connect threshold and played
	// the safe-harbor message.
	SafeHarbor bool
	// Skipped: the agent skipped the preview offer (or it timed out), and
	// why.
	Skipped string
	// AMDWait is the answer's dead air while AMD listened (answer to
	// verdict); AMDNone: no verdict came in time (AMD says NOTSURE).
	AMDWait time.Duration
	AMDNone bool
}

// What a call meant for its agent.
const (
	AgentEnded        = "ended"        // they talked: wrap-up follows
	AgentReleased     = "released"     // the agent waited for nothing: ready again at once
	AgentMissed       = "missed"       // the agent's phone was not answered
	AgentRejected     = "rejected"     // the agent rejected the call
	AgentBusy         = "busy"         // busy or do-not-disturb
	AgentUnregistered = "unregistered" // the agent's phone is not registered
)

// New returns an attempt about to be placed.
func New(id, node string, record, endRecords bool) *Attempt {
	return &Attempt{ID: id, State: Queued, Member: Leg{UUID: id, Node: node}, Record: record, EndRecords: endRecords}
}

// NewForAgent returns an attempt that reaches agentID on the leg
// agentLeg by ringing it for at most ring, then dials the member.
func NewForAgent(id, node, agentID, agentLeg string, ring time.Duration, record, endRecords bool) *Attempt {
	a := New(id, node, record, endRecords)
	a.Agent, a.AgentID, a.AgentRing = &Leg{UUID: agentLeg, Node: node}, agentID, ring
	return a
}

// NewForSession returns an attempt that bridges the member into the
// agent's session, the leg session, already up on node.
func NewForSession(id, node, agentID, session string, record, endRecords bool) *Attempt {
	a := New(id, node, record, endRecords)
	a.Agent, a.AgentID, a.AgentKept = &Leg{UUID: session, Node: node, Session: true, Answered: true}, agentID, true
	return a
}

// NewPredictive returns an attempt that dials the member first and seeks
// an agent once they answer, giving up after connect.
func NewPredictive(id, node string, connect time.Duration, record, endRecords bool) *Attempt {
	a := New(id, node, record, endRecords)
	a.Connect = connect
	return a
}

// NewInbound returns an attempt for a call that came in on node: its
// channel exists and nothing is originated for it. Once the dialer
// answers it, an agent is sought for at most connect, as for a
// predictive live answer; none in time, and SafeHarbor hands it back.
func NewInbound(id, node string, connect time.Duration, endRecords bool, now time.Time) *Attempt {
	a := New(id, node, false, endRecords)
	a.Connect = connect
	a.State, a.SentAt, a.LastChange, a.JobDone = Originating, now, now, true
	return a
}

// Adopt returns an attempt found in the journal after a restart or a
// lapsed lease: it was sent at sentAt and nothing since is known.
func Adopt(id, node string, sentAt time.Time, endRecords bool) *Attempt {
	a := New(id, node, false, endRecords)
	a.State, a.SentAt, a.LastChange, a.adopted = Originating, sentAt, sentAt, true
	return a
}

// Step applies one input and returns the commands it calls for.
func Step(a *Attempt, in Input, now time.Time) []Command {
	if in.At.IsZero() {
		in.At = now
	}
	if a.State >= Classified {
		switch {
		case in.Kind == Written:
			a.State = Done
		case in.Kind == AgentFound && in.Found != nil: // found after the call ended
			return []Command{{Kind: ReleaseAgent, Leg: in.Found.Leg, Agent: in.Found.Agent}}
		}
		return nil
	}
	if a.Agent != nil && in.Leg == a.Agent.UUID {
		return a.agentLeg(in, now)
	}
	if in.Leg != "" && in.Leg != a.Member.UUID {
		return nil
	}
	leg := &a.Member
	switch in.Kind {
	case Place:
		if a.State != Queued {
			return nil
		}
		if a.OfferFor > 0 { // preview: the agent decides first
			a.State, a.LastChange = Offered, now
			return []Command{{Kind: Offer, Leg: leg.UUID}, a.arm(OfferTimer, now.Add(a.OfferFor))}
		}
		return a.place(now)
	case Accepted, Skipped:
		if a.State != Offered {
			return nil
		}
		return a.decided(in.Kind == Accepted, in.Cause, now)
	}
	return a.memberLeg(in, now)
}

// place sends the attempt's first originate: the agent's leg, rung before
// the member is dialed, or the member's (for a broadcast, a predictive
// call, or an agent in a session).
func (a *Attempt) place(now time.Time) []Command {
	if a.Agent != nil && !a.AgentKept { // the agent first, the member once the agent answered
		a.State, a.SentAt, a.LastChange = WaitingAgent, now, now
		return []Command{{Kind: OriginateAgent, Leg: a.Agent.UUID}, a.arm(CheckTimer, now.Add(a.AgentRing+Grace))}
	}
	a.State, a.SentAt, a.LastChange = Originating, now, now
	cmds := []Command{{Kind: Originate, Leg: a.Member.UUID}, a.arm(CheckTimer, now.Add(Grace))}
	if a.AgentKept { // the agent waits on the line for this member
		cmds = append(cmds, Command{Kind: AgentEvent, Leg: a.Agent.UUID, Event: AgentOffered})
	}
	return cmds
}

// decided goes on from the agent's answer to a preview offer: accepted,
// the call is placed; skipped, the member goes back with no attempt
// counted and the agent is free.
func (a *Attempt) decided(accept bool, reason string, now time.Time) []Command {
	cmds := []Command{{Kind: Withdraw, Leg: a.Member.UUID}}
	if accept {
		return append(cmds, a.place(now)...)
	}
	if a.Agent != nil && !a.AgentKept {
		a.Agent.Ended = true // never rung: nothing to hang up
	}
	o := Outcome{Cause: CauseSkipped, NotPlaced: true, EndedAt: now, From: "agent", Agent: AgentReleased, Skipped: reason}
	return append(cmds, a.classify(o, now)...)
}

// CauseSkipped is the cause of a preview offer the agent skipped.
const CauseSkipped = "PREVIEW_SKIPPED"

// memberLeg applies an input about the member's leg, or about the
// attempt as a whole.
func (a *Attempt) memberLeg(in Input, now time.Time) []Command {
	leg := &a.Member
	switch in.Kind {
	case NotSent:
		if leg.Session {
			return nil // events say otherwise
		}
		return a.classify(a.withAgent(Outcome{Cause: "NORMAL_TEMPORARY_FAILURE", NotPlaced: true, From: "job"}), now)
	case Create, Progress:
		leg.Session = true
		if a.advance(Ringing, now) {
			return []Command{a.arm(CheckTimer, now.Add(Quiet))}
		}
	case Answer:
		leg.Session = true
		if !leg.Answered {
			leg.Answered, leg.AnsweredAt = true, in.At
		}
		if a.advance(Answered, now) {
			var cmds []Command
			switch {
			case a.AMDWait > 0:
				a.advance(Detecting, now)
				cmds = []Command{a.arm(AMDTimer, in.At.Add(a.AMDWait))}
			case a.Agent == nil && a.Connect > 0:
				cmds = a.seekAgent(in.At, now)
			default:
				cmds = []Command{a.arm(CheckTimer, now.Add(Quiet))}
			}
			if a.Record {
				cmds = append(cmds, Command{Kind: StartRecord, Leg: leg.UUID})
			}
			if a.Agent != nil && a.AMDWait == 0 {
				cmds = append(cmds, a.bridge(now)...)
			}
			return cmds
		}
	case BridgeEvent:
		return a.bridged(in.At, now)
	case ExecuteComplete:
		if in.App == "amd" && a.AMD == "" && in.AMD != "" {
			a.AMD = in.AMD
			if a.State == Detecting {
				return a.judged(in.At, false, now)
			}
		}
	case Hangup:
		leg.Session = true
		if in.Cause != "" {
			leg.Cause = in.Cause
		}
		a.advance(HungUp, now)
	case HangupComplete, Destroy:
		leg.Session, leg.Ended = true, true
		if in.Cause != "" {
			leg.Cause = in.Cause
		}
		if in.BillMsec > 0 {
			leg.BillMsec = in.BillMsec
		}
		if !in.AnsweredAt.IsZero() && !leg.Answered {
			leg.Answered, leg.AnsweredAt = true, in.AnsweredAt
		}
		a.bridgedUnseen(in.BridgedAt, in.BridgeKnown)
		a.advance(HungUp, now)
		return a.ended(in.At, now)
	case JobResult:
		a.JobDone, a.JobCause = true, in.Cause
		switch {
		case in.Cause == "":
			return nil // answered: the channel's events tell the rest
		case !leg.Session:
			// Refused before a channel existed (throttled, no such
			// endpoint type, out of sessions): nobody was called.
			return a.classify(a.withAgent(Outcome{Cause: in.Cause, NotPlaced: true, Refused: true, EndedAt: in.At, From: "job"}), now)
		case leg.Ended:
			return a.ended(in.At, now) // the end waited for this cause
		}
	case TimerFired:
		if in.Timer.Gen != a.Deadline.Gen || a.Deadline.Kind == NoTimer || a.Suspended {
			return nil // an old deadline, or its switch is away
		}
		a.Deadline = Timer{}
		switch {
		case in.Timer.Kind == JobTimer:
			return a.classify(a.outcome(CauseLost, "lost", now), now)
		case a.waitsForAgent() && !now.Before(a.connectBy):
			return a.abandon(now)
		case in.Timer.Kind == OfferTimer && a.State == Offered:
			// The agent's answer may be on its way: the timeout's
			// decision must win the store's first-answer-stands over it.
			return []Command{{Kind: ExpireOffer, Leg: leg.UUID}}
		case in.Timer.Kind == AMDTimer && a.State == Detecting:
			a.AMD, a.amdNone = "NOTSURE", true // no verdict in time: not sure (pacing.md)
			return a.judged(now, true, now)
		case a.State == WaitingAgent && a.Agent != nil:
			return []Command{{Kind: CheckSwitch, Leg: a.Agent.UUID}}
		}
		return []Command{{Kind: CheckSwitch, Leg: leg.UUID}}
	case Verify:
		a.Suspended = false
		var cmds []Command
		if k := a.Deadline.Kind; k == AMDTimer || k == OfferTimer {
			// it may have passed unheeded while the switch was away
			cmds = append(cmds, a.arm(k, maxTime(a.Deadline.At, now)))
		}
		if a.State == Offered {
			return cmds // nothing is on the switch yet
		}
		if a.State != WaitingAgent || leg.Answered { // the member is not dialed before the agent answers
			cmds = append(cmds, Command{Kind: CheckSwitch, Leg: leg.UUID})
		}
		if a.Agent != nil && !a.Agent.Ended {
			cmds = append(cmds, Command{Kind: CheckSwitch, Leg: a.Agent.UUID})
		}
		if a.waitsForAgent() { // its connect deadline passed unheeded while the switch was away
			cmds = append(cmds, a.arm(ConnectTimer, a.connectBy))
		}
		return cmds
	case AgentFound:
		return a.agentFound(in.Found, now)
	case NodeLost:
		a.Suspended = true
	case SwitchAnswer:
		return a.switchAnswer(in, now)
	}
	return nil
}

// switchAnswer decides from what the switch said about the member leg.
func (a *Attempt) switchAnswer(in Input, now time.Time) []Command {
	leg := &a.Member
	switch {
	case !in.Known:
		return []Command{a.arm(CheckTimer, now.Add(Recheck))}
	case in.Exists:
		leg.Session, a.missing = true, 0
		a.advance(Ringing, now)
		if a.State == Detecting {
			return nil // the verdict's deadline stands
		}
		return []Command{a.arm(CheckTimer, now.Add(Quiet))}
	case in.End != nil:
		a.bridgedUnseen(in.End.BridgedAt, in.End.BridgeKnown)
		o := Outcome{Cause: in.End.Cause, BillMsec: in.End.BillMsec, EndedAt: now, AMD: a.AMD, From: "end record"}
		if !in.End.AnsweredAt.IsZero() {
			o.Answered, o.AnsweredAt = true, in.End.AnsweredAt
		}
		return a.classify(a.withAgent(o), now)
	case leg.Ended:
		return a.ended(now, now)
	}
	recorded := a.EndRecords && !in.Unrecorded
	if a.missing++; recorded && a.missing < 2 {
		return []Command{a.arm(CheckTimer, now.Add(Recheck))}
	}
	switch {
	case leg.Session || !recorded:
		// A call happened, or may have, and its end is unknown.
		return a.classify(a.outcome(CauseLost, "lost", now), now)
	case now.Sub(a.SentAt) < Grace:
		return []Command{a.arm(CheckTimer, a.SentAt.Add(Grace))}
	default:
		// No channel, no end record, and long enough since the
		// originate: the switch never created the call.
		return a.classify(a.withAgent(Outcome{Cause: "NORMAL_TEMPORARY_FAILURE", NotPlaced: true, EndedAt: now, From: "end record"}), now)
	}
}

// ended decides an attempt whose member leg ended: its cause is the
// channel's, else its failed job's; with neither it waits for the job.
func (a *Attempt) ended(at, now time.Time) []Command {
	leg := &a.Member
	switch {
	case leg.Cause != "":
		return a.classify(a.outcome(leg.Cause, "events", at), now)
	case a.JobCause != "":
		return a.classify(a.outcome(a.JobCause, "job", at), now)
	case a.JobDone:
		return a.classify(a.outcome("NORMAL_CLEARING", "events", at), now)
	}
	return []Command{a.arm(JobTimer, now.Add(JobWait))}
}

func (a *Attempt) outcome(cause, from string, at time.Time) Outcome {
	leg := a.Member
	return a.withAgent(Outcome{Cause: cause, Answered: leg.Answered, AnsweredAt: leg.AnsweredAt, EndedAt: at,
		BillMsec: leg.BillMsec, AMD: a.AMD, From: from})
}

func (a *Attempt) classify(o Outcome, now time.Time) []Command {
	if o.EndedAt.IsZero() {
		o.EndedAt = now
	}
	// What became of the attempt's answer is known to one that saw it
	// from the start, or that the switch told at the end whether it was
	// bridged: an adopted one may have been bridged unseen.
	o.Abandoned = o.Answered && o.AMD != "MACHINE" && a.bridgedAt.IsZero() && (!a.adopted || a.bridgeKnown) && (a.Agent != nil || a.Connect > 0)
	o.SafeHarbor = a.abandoned
	if !a.judgedAt.IsZero() && !a.Member.AnsweredAt.IsZero() {
		o.AMDWait, o.AMDNone = a.judgedAt.Sub(a.Member.AnsweredAt), a.amdNone
	}
	a.State, a.LastChange, a.Deadline = Classified, now, Timer{}
	cmds := []Command{{Kind: Classify, Leg: a.Member.UUID, Outcome: o}}
	if a.Agent != nil && !a.Agent.Ended && a.bridgedAt.IsZero() && !a.AgentKept {
		// The member's call is over and the agent's phone may still be
		// up (bridged legs end together; an adopted attempt does not
		// know): hang it up, a leg that is gone takes no harm; the
		// outcome already says what the agent does next.
		cmds = append(cmds, Command{Kind: HangupLeg, Leg: a.Agent.UUID, Cause: "NORMAL_CLEARING"})
	}
	return cmds
}

// advance moves the attempt to s; false when it is there or beyond.
func (a *Attempt) advance(s State, now time.Time) bool {
	if s <= a.State {
		return false
	}
	a.State, a.LastChange = s, now
	return true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// arm sets the attempt's one deadline. A live answer waiting for an agent
// keeps its connect deadline: nothing is armed past it.
func (a *Attempt) arm(kind TimerKind, at time.Time) Command {
	if a.waitsForAgent() && a.connectBy.Before(at) {
		kind, at = ConnectTimer, a.connectBy
	}
	a.gen++
	a.Deadline = Timer{Kind: kind, At: at, Gen: a.gen}
	return Command{Kind: Arm, Leg: a.Member.UUID, Timer: a.Deadline}
}
