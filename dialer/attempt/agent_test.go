package attempt

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const agentLeg = "22222222-0000-4000-8000-000000000007"

func ag(k Kind) Input { return Input{Kind: k, Leg: agentLeg} }

func agentEnd(cause string) Input { return Input{Kind: HangupComplete, Leg: agentLeg, Cause: cause} }

// kinds lists the commands of a step, for comparison.
func kinds(cmds []Command) string {
	var out []string
	for _, c := range cmds {
		s := c.Kind.String()
		switch c.Kind {
		case Arm:
			continue // deadlines are tested apart
		case HangupLeg:
			who := "member"
			if c.Leg == agentLeg {
				who = "agent"
			}
			s += " " + who + " " + c.Cause
		case AgentEvent:
			s += " " + c.Event
		case Classify:
			s += " " + c.Outcome.Cause + "/" + c.Outcome.Agent
			if c.Outcome.NotPlaced {
				s += " not placed"
			}
			if c.Outcome.Abandoned {
				s += " abandoned"
			}
			if c.Outcome.SafeHarbor {
				s += " safe harbor"
			}
		case ReleaseAgent:
			s += " " + c.Agent
			if c.Event != "" {
				s += " " + c.Event
			}
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// The paths of a call for an agent reached by ringing: what each event
// calls for, and what the call meant for the member and for the agent.
func TestAgentPaths(t *testing.T) {
	type step struct {
		after time.Duration
		in    Input
		want  string // the commands, but deadlines
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the agent answers, the member answers, they talk", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Create), "agent event offered"},
			{2 * time.Second, ag(Answer), "originate"},
			{time.Second, ev(Create), ""},
			{5 * time.Second, ev(Answer), "bridge"},
			{0, ev(BridgeEvent), "agent event bridged"},
			{0, ag(BridgeEvent), ""},
			{60 * time.Second, hangupComplete("NORMAL_CLEARING", 60000, true), "classify NORMAL_CLEARING/ended"},
			{0, agentEnd("NORMAL_CLEARING"), ""},
		}},
		{"the agent does not answer: the member is not dialed", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Create), "agent event offered"},
			{15 * time.Second, agentEnd("NO_ANSWER"), "classify NO_ANSWER/missed not placed"},
			{0, Input{Kind: JobResult, Leg: agentLeg, Cause: "NO_ANSWER"}, ""},
		}},
		{"the agent rejects", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Create), "agent event offered"},
			{2 * time.Second, agentEnd("CALL_REJECTED"), "classify CALL_REJECTED/rejected not placed"},
		}},
		{"the agent is busy", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Create), "agent event offered"},
			{0, agentEnd("USER_BUSY"), "classify USER_BUSY/busy not placed"},
		}},
		{"the agent's phone is not registered", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Millisecond, Input{Kind: JobResult, Leg: agentLeg, Cause: "USER_NOT_REGISTERED"}, "classify USER_NOT_REGISTERED/unregistered not placed"},
		}},
		{"the member is busy: the agent is released and hung up", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Answer), "agent event offered, originate"},
			{time.Second, ev(Create), ""},
			{time.Second, hangupComplete("USER_BUSY", 0, false), "classify USER_BUSY/released, hangup agent NORMAL_CLEARING"},
		}},
		{"the agent hangs up while the member's phone rings", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Answer), "agent event offered, originate"},
			{time.Second, ev(Create), ""},
			{3 * time.Second, agentEnd("NORMAL_CLEARING"), "hangup member ORIGINATOR_CANCEL"},
			{0, hangupComplete("ORIGINATOR_CANCEL", 0, false), "classify ORIGINATOR_CANCEL/released"},
		}},
		{"the member answers just as the agent left", []step{
			{0, Input{Kind: Place}, "originate agent"},
			{time.Second, ag(Answer), "agent event offered, originate"},
			{time.Second, ev(Create), ""},
			{3 * time.Second, ev(Answer), "bridge"},
			{0, agentEnd("NORMAL_CLEARING"), "hangup member NORMAL_CLEARING"},
			{time.Second, hangupComplete("NORMAL_CLEARING", 1000, true), "classify NORMAL_CLEARING/released abandoned"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewForAgent(id, "fs1", "100", agentLeg, 15*time.Second, false, true)
			now := t0
			for i, st := range tc.steps {
				now = now.Add(st.after)
				if got := kinds(Step(a, st.in, now)); got != st.want {
					t.Fatalf("step %d (%s of %s): %q, want %q", i, st.in.Kind, legName(st.in.Leg), got, st.want)
				}
			}
		})
	}
}

// The paths of a call for an agent reached by a session: the member is
// dialed at once, bridged into the agent's leg on answer, and the leg is
// never rung nor hung up by the attempt.
func TestSessionPaths(t *testing.T) {
	type step struct {
		in   Input
		want string // the commands, but deadlines
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the member answers and talks; the agent's leg stays", []step{
			{Input{Kind: Place}, "originate, agent event offered"},
			{ev(Create), ""},
			{ev(Answer), "bridge"},
			{ev(BridgeEvent), "agent event bridged"},
			{hangupComplete("NORMAL_CLEARING", 60000, true), "classify NORMAL_CLEARING/ended"},
		}},
		{"the member is busy: the agent is released, the leg kept", []step{
			{Input{Kind: Place}, "originate, agent event offered"},
			{ev(Create), ""},
			{hangupComplete("USER_BUSY", 0, false), "classify USER_BUSY/released"},
		}},
		{"the agent hangs up while the member's phone rings", []step{
			{Input{Kind: Place}, "originate, agent event offered"},
			{ev(Create), ""},
			{agentEnd("NORMAL_CLEARING"), "hangup member ORIGINATOR_CANCEL"},
			{hangupComplete("ORIGINATOR_CANCEL", 0, false), "classify ORIGINATOR_CANCEL/released"},
		}},
		{"the agent's leg hangs up in the talk: the member's call ends with it", []step{
			{Input{Kind: Place}, "originate, agent event offered"},
			{ev(Answer), "bridge"},
			{ag(BridgeEvent), "agent event bridged"},
			{agentEnd("NORMAL_CLEARING"), ""},
			{hangupComplete("NORMAL_CLEARING", 9000, true), "classify NORMAL_CLEARING/ended"},
		}},
		{"the leg's own events (it was answered long ago) change nothing", []step{
			{Input{Kind: Place}, "originate, agent event offered"},
			{ag(Answer), ""},
			{ag(ExecuteComplete), ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewForSession(id, "fs1", "100", agentLeg, false, true)
			now := t0
			for i, st := range tc.steps {
				now = now.Add(time.Second)
				if got := kinds(Step(a, st.in, now)); got != st.want {
					t.Fatalf("step %d (%s of %s): %q, want %q", i, st.in.Kind, legName(st.in.Leg), got, st.want)
				}
			}
		})
	}
}

// An agent's answer missed (the event socket was cut): the leg still
// there once its ringing could be over has answered, and the member is
// dialed; asked sooner, the switch is asked again then.
func TestAgentAnswerMissed(t *testing.T) {
	a := NewForAgent(id, "fs1", "100", agentLeg, 15*time.Second, false, true)
	Step(a, Input{Kind: Place}, t0)
	Step(a, ag(Create), t0.Add(time.Second))
	exists := Input{Kind: SwitchAnswer, Leg: agentLeg, Known: true, Exists: true}
	cmds := Step(a, exists, t0.Add(10*time.Second)) // a reconnect's question, while it may ring
	if kinds(cmds) != "" || a.Deadline.At != t0.Add(15*time.Second+Grace) {
		t.Fatalf("asked while it may ring: %q, deadline %v", kinds(cmds), a.Deadline.At.Sub(t0))
	}
	if got := kinds(Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, a.Deadline.At)); got != "check switch" {
		t.Fatalf("at the deadline: %q", got)
	}
	if got := kinds(Step(a, exists, t0.Add(45*time.Second))); got != "originate" || a.State != Originating {
		t.Fatalf("still there after its ringing: %q, %s", got, a.State)
	}
}

// An attempt adopted after a restart does not know its agent's leg: when
// the member's call turns out to be over, the agent's leg is hung up
// whatever it was.
func TestAdoptedAttemptHangsUpItsAgent(t *testing.T) {
	a := Adopt(id, "fs1", t0, true)
	a.Agent, a.AgentID = &Leg{UUID: agentLeg, Node: "fs1"}, "100"
	Step(a, Input{Kind: Verify}, t0.Add(time.Minute))
	end := &EndRecord{Cause: "USER_BUSY"}
	got := kinds(Step(a, Input{Kind: SwitchAnswer, Leg: id, Known: true, End: end}, t0.Add(time.Minute)))
	if got != "classify USER_BUSY/released, hangup agent NORMAL_CLEARING" {
		t.Fatalf("%q", got)
	}
}

func legName(leg string) string {
	if leg == agentLeg {
		return "the agent"
	}
	return "the member"
}

// After a bridge, the outcome carries the bridge time and the talk time;
// the agent's counters come from it.
func TestAgentTalkTime(t *testing.T) {
	a := NewForAgent(id, "fs1", "100", agentLeg, 15*time.Second, false, true)
	Step(a, Input{Kind: Place}, t0)
	Step(a, ag(Answer), t0.Add(2*time.Second))
	Step(a, ev(Answer), t0.Add(8*time.Second))
	Step(a, Input{Kind: BridgeEvent, Leg: id, At: t0.Add(8 * time.Second)}, t0.Add(8*time.Second))
	cmds := Step(a, Input{Kind: HangupComplete, Leg: id, Cause: "NORMAL_CLEARING", BillMsec: 42000, At: t0.Add(50 * time.Second)}, t0.Add(50*time.Second))
	want := Outcome{Cause: "NORMAL_CLEARING", Answered: true, AnsweredAt: t0.Add(8 * time.Second), EndedAt: t0.Add(50 * time.Second),
		BillMsec: 42000, From: "events", Agent: AgentEnded, BridgedAt: t0.Add(8 * time.Second), TalkMs: 42000}
	if len(cmds) == 0 || !reflect.DeepEqual(cmds[0].Outcome, want) {
		t.Fatalf("outcome %+v\nwant %+v", cmds, want)
	}
}

// The paths of a predictive call: the member first, an agent sought once
// they answer, and the safe-harbor message when none comes within the
// connect threshold.
func TestPredictivePaths(t *testing.T) {
	const connect = 2 * time.Second
	session := func(agent string) Input {
		return Input{Kind: AgentFound, Found: &Found{Agent: agent, Leg: agentLeg, Session: true}}
	}
	ring := Input{Kind: AgentFound, Found: &Found{Agent: "7", Leg: agentLeg, Ring: 15 * time.Second}}
	deadline := Input{Kind: TimerFired} // at the attempt's deadline
	type step struct {
		after time.Duration
		in    Input
		want  string // the commands, but deadlines
	}
	answered := []step{
		{0, Input{Kind: Place}, "originate"},
		{time.Second, ev(Create), ""},
		{5 * time.Second, ev(Answer), "find agent"},
	}
	for _, tc := range []struct {
		name  string
		steps []step
		state State // after the steps
	}{
		{"an agent in a session takes the live answer", append(answered[:3:3],
			step{100 * time.Millisecond, session("7"), "agent event offered, bridge"},
			step{50 * time.Millisecond, ev(BridgeEvent), "agent event bridged"},
			step{60 * time.Second, hangupComplete("NORMAL_CLEARING", 60000, true), "classify NORMAL_CLEARING/ended"},
		), Classified},
		{"no agent in time: the safe-harbor message, an abandoned call", append(answered[:3:3],
			step{0, deadline, "safe harbor"},
			step{0, session("7"), "release agent 7"},
			step{8 * time.Second, hangupComplete("NORMAL_CLEARING", 10000, true), "classify NORMAL_CLEARING/ abandoned safe harbor"},
		), Classified},
		{"the member hangs up before an agent comes: abandoned", append(answered[:3:3],
			step{time.Second, hangupComplete("NORMAL_CLEARING", 1000, true), "classify NORMAL_CLEARING/ abandoned"},
			step{0, session("7"), "release agent 7"},
		), Classified},
		{"a rung agent answers in time", append(answered[:3:3],
			step{0, ring, "originate agent"},
			step{100 * time.Millisecond, ag(Create), "agent event offered"},
			step{time.Second, ag(Answer), "bridge"},
			step{10 * time.Millisecond, ev(BridgeEvent), "agent event bridged"},
			step{time.Minute, hangupComplete("NORMAL_CLEARING", 60000, true), "classify NORMAL_CLEARING/ended"},
		), Classified},
		{"a rung agent rejects it: another is sought", append(answered[:3:3],
			step{0, ring, "originate agent"},
			step{100 * time.Millisecond, agentEnd("CALL_REJECTED"), "release agent 7 rejected, find agent"},
			step{100 * time.Millisecond, session("8"), "agent event offered, bridge"},
		), Bridging},
		{"a rung agent too slow: their phone stops, it costs them nothing", append(answered[:3:3],
			step{0, ring, "originate agent"},
			step{100 * time.Millisecond, ag(Create), "agent event offered"},
			step{0, deadline, "safe harbor, hangup agent ORIGINATOR_CANCEL"},
			step{10 * time.Millisecond, agentEnd("ORIGINATOR_CANCEL"), ""},
			step{8 * time.Second, hangupComplete("NORMAL_CLEARING", 10000, true), "classify NORMAL_CLEARING/released abandoned safe harbor"},
		), Classified},
		{"nobody answers: no abandon", []step{
			{0, Input{Kind: Place}, "originate"},
			{time.Second, ev(Create), ""},
			{30 * time.Second, hangupComplete("NO_ANSWER", 0, false), "classify NO_ANSWER/"},
		}, Classified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewPredictive(id, "fs1", connect, false, true)
			now := t0
			for i, st := range tc.steps {
				now = now.Add(st.after)
				in := st.in
				if in.Kind == TimerFired {
					in.Timer, now = a.Deadline, a.Deadline.At
				}
				if got := kinds(Step(a, in, now)); got != st.want {
					t.Fatalf("step %d (%s of %s): %q, want %q", i, in.Kind, legName(in.Leg), got, st.want)
				}
			}
			if a.State != tc.state {
				t.Fatalf("ends %s, want %s", a.State, tc.state)
			}
		})
	}
}

// The connect deadline runs from the answer and holds: a check armed
// while the answer waits comes no later, and a deadline missed while the
// switch was away is kept once it is back.
func TestConnectDeadlineHolds(t *testing.T) {
	a := NewPredictive(id, "fs1", 2*time.Second, false, true)
	Step(a, Input{Kind: Place}, t0)
	answer := ev(Answer)
	answer.At = t0.Add(5 * time.Second)
	Step(a, answer, t0.Add(5*time.Second+300*time.Millisecond)) // read late
	if a.Deadline.Kind != ConnectTimer || a.Deadline.At != t0.Add(7*time.Second) {
		t.Fatalf("deadline %v %v, want the connect deadline 2 s after the answer", a.Deadline.Kind, a.Deadline.At.Sub(t0))
	}
	Step(a, Input{Kind: SwitchAnswer, Leg: id}, t0.Add(6*time.Second)) // not known: asks again later
	if a.Deadline.At != t0.Add(7*time.Second) {
		t.Fatalf("a recheck moved the connect deadline to %v", a.Deadline.At.Sub(t0))
	}
	Step(a, Input{Kind: NodeLost}, t0.Add(6*time.Second))
	if cmds := Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, t0.Add(7*time.Second)); len(cmds) != 0 {
		t.Fatalf("deadline while the switch is away: %q", kinds(cmds))
	}
	cmds := Step(a, Input{Kind: Verify}, t0.Add(9*time.Second))
	if got := kinds(cmds); got != "check switch" || a.Deadline.Kind != ConnectTimer {
		t.Fatalf("back: %q, deadline %v", got, a.Deadline.Kind)
	}
	if got := kinds(Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, t0.Add(9*time.Second))); got != "safe harbor" {
		t.Fatalf("overdue deadline: %q", got)
	}
}

// What a call meant for the abandon rate: only a live answer meant for an
// agent and never bridged is abandoned, and only when the dialer saw the
// whole call.
func TestAbandonedIsAnUnbridgedLiveAnswer(t *testing.T) {
	end := func(a *Attempt, amd string, at time.Time) Outcome {
		if amd != "" {
			Step(a, Input{Kind: ExecuteComplete, Leg: id, App: "amd", AMD: amd}, at)
		}
		for _, c := range Step(a, hangupComplete("NORMAL_CLEARING", 3000, true), at) {
			if c.Kind == Classify {
				return c.Outcome
			}
		}
		t.Fatal("not classified")
		return Outcome{}
	}
	answer := func(a *Attempt) *Attempt {
		Step(a, Input{Kind: Place}, t0)
		Step(a, ev(Answer), t0.Add(time.Second))
		return a
	}
	adopted := Adopt(id, "fs1", t0, true)
	adopted.Agent, adopted.AgentID, adopted.AgentKept = &Leg{UUID: agentLeg, Node: "fs1", Session: true, Answered: true}, "7", true
	Step(adopted, ev(Answer), t0.Add(time.Second))
	told := Adopt(id, "fs1", t0, true) // the end's event says it was never bridged
	told.Agent, told.AgentID, told.AgentKept = &Leg{UUID: agentLeg, Node: "fs1", Session: true, Answered: true}, "7", true
	Step(told, ev(Answer), t0.Add(time.Second))
	Step(told, Input{Kind: Destroy, Leg: id, BridgeKnown: true}, t0.Add(2*time.Second)) // variable_bridge_uepoch 0
	for _, tc := range []struct {
		name string
		a    *Attempt
		amd  string
		want bool
	}{
		{"broadcast", answer(New(id, "fs1", false, true)), "", false},
		{"predictive, no agent", answer(NewPredictive(id, "fs1", 2*time.Second, false, true)), "", true},
		{"predictive, a machine", answer(NewPredictive(id, "fs1", 2*time.Second, false, true)), "MACHINE", false},
		{"predictive, not sure", answer(NewPredictive(id, "fs1", 2*time.Second, false, true)), "NOTSURE", true},
		{"adopted, the end not saying whether it was bridged", adopted, "", false},
		{"adopted, the end saying it was never bridged", told, "", true},
	} {
		if got := end(tc.a, tc.amd, t0.Add(3*time.Second)).Abandoned; got != tc.want {
			t.Errorf("%s: abandoned %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The paths of an answer AMD listens to: a person goes on to the agent or
// the message, a machine is hung up or hears its message, and no verdict
// in time is NOTSURE.
func TestAMDPaths(t *testing.T) {
	verdict := func(v string) Input { return Input{Kind: ExecuteComplete, Leg: id, App: "amd", AMD: v} }
	deadline := Input{Kind: TimerFired}
	session := Input{Kind: AgentFound, Found: &Found{Agent: "7", Leg: agentLeg, Session: true}}
	predictive := func(allowNotSure, message bool) func() *Attempt {
		return func() *Attempt {
			a := NewPredictive(id, "fs1", 2*time.Second, false, true)
			a.AMDWait, a.AllowNotSure, a.MachineMessage = 6*time.Second, allowNotSure, message
			return a
		}
	}
	type step struct {
		in   Input
		want string
	}
	answered := []step{{Input{Kind: Place}, "originate"}, {ev(Answer), ""}}
	for _, tc := range []struct {
		name  string
		new   func() *Attempt
		steps []step
	}{
		{"a person: an agent is sought", predictive(false, false), append(answered[:2:2],
			step{verdict("HUMAN"), "find agent"}, step{session, "agent event offered, bridge"})},
		{"a machine is hung up, and is no live answer", predictive(false, false), append(answered[:2:2],
			step{verdict("MACHINE"), "hangup member NORMAL_CLEARING"},
			step{hangupComplete("NORMAL_CLEARING", 4000, true), "classify NORMAL_CLEARING/"})},
		{"a machine hears its message", predictive(false, true), append(answered[:2:2],
			step{verdict("MACHINE"), "machine message"})},
		{"not sure, allowed: an agent is sought", predictive(true, false), append(answered[:2:2],
			step{verdict("NOTSURE"), "find agent"})},
		{"not sure, not allowed: hung up, and abandoned (it may be a person)", predictive(false, false), append(answered[:2:2],
			step{verdict("NOTSURE"), "hangup member NORMAL_CLEARING"},
			step{hangupComplete("NORMAL_CLEARING", 4000, true), "classify NORMAL_CLEARING/ abandoned"})},
		{"no verdict in time is not sure", predictive(true, false), append(answered[:2:2],
			step{deadline, "find agent"}, step{verdict("HUMAN"), ""})},
		{"progressive: the agent waits while AMD listens", func() *Attempt {
			a := NewForSession(id, "fs1", "7", agentLeg, false, true)
			a.AMDWait = 6 * time.Second
			return a
		}, []step{{Input{Kind: Place}, "originate, agent event offered"}, {ev(Answer), ""}, {verdict("HUMAN"), "bridge"}}},
		{"broadcast: a person held by amd without a verdict hears the message", func() *Attempt {
			a := New(id, "fs1", false, true)
			a.AMDWait, a.AllowNotSure = 6*time.Second, true
			return a
		}, append(answered[:2:2], step{deadline, "resume"})},
		{"broadcast: a person with a verdict hears the message as it goes on", func() *Attempt {
			a := New(id, "fs1", false, true)
			a.AMDWait = 6 * time.Second
			return a
		}, append(answered[:2:2], step{verdict("HUMAN"), ""})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.new()
			now := t0
			for i, st := range tc.steps {
				now = now.Add(time.Second)
				in := st.in
				if in.Kind == TimerFired {
					in.Timer, now = a.Deadline, a.Deadline.At
				}
				if got := kinds(Step(a, in, now)); got != st.want {
					t.Fatalf("step %d (%s): %q, want %q", i, in.Kind, got, st.want)
				}
			}
		})
	}
}

// The connect threshold of an answer AMD judged runs from the verdict,
// and the verdict's wait is the outcome's.
func TestConnectRunsFromTheVerdict(t *testing.T) {
	a := NewPredictive(id, "fs1", 2*time.Second, false, true)
	a.AMDWait = 6 * time.Second
	Step(a, Input{Kind: Place}, t0)
	Step(a, ev(Answer), t0.Add(time.Second))
	Step(a, Input{Kind: ExecuteComplete, Leg: id, App: "amd", AMD: "HUMAN"}, t0.Add(4*time.Second))
	if a.Deadline.Kind != ConnectTimer || a.Deadline.At != t0.Add(6*time.Second) {
		t.Fatalf("deadline %v at %v, want the connect deadline 2 s after the verdict", a.Deadline.Kind, a.Deadline.At.Sub(t0))
	}
	for _, c := range Step(a, hangupComplete("NORMAL_CLEARING", 4000, true), t0.Add(5*time.Second)) {
		if c.Kind == Classify && (c.Outcome.AMDWait != 3*time.Second || c.Outcome.AMDNone || !c.Outcome.Abandoned) {
			t.Fatalf("outcome %+v", c.Outcome)
		}
	}
}

// The paths of a preview call: the member is shown to the agent, who
// accepts (the call is placed as a progressive one) or skips (the member
// goes back, no attempt counted); an offer left unanswered is skipped or
// dialed as the campaign says.
func TestPreviewPaths(t *testing.T) {
	deadline := Input{Kind: TimerFired}
	for _, tc := range []struct {
		name   string
		dial   bool
		steps  []Input
		want   []string
		state  State
		reason string
	}{
		{"accepted: the agent's phone rings first", false,
			[]Input{{Kind: Place}, {Kind: Accepted}, ag(Create)},
			[]string{"offer", "withdraw, originate agent", "agent event offered"}, WaitingAgent, ""},
		{"skipped: no call, the agent free", false,
			[]Input{{Kind: Place}, {Kind: Skipped, Cause: "wrong number"}, {Kind: Accepted}},
			[]string{"offer", "withdraw, classify PREVIEW_SKIPPED/released not placed", ""}, Classified, "wrong number"},
		{"unanswered, skipped (the store's first answer stands)", false,
			[]Input{{Kind: Place}, deadline, {Kind: Skipped, Cause: "no answer"}},
			[]string{"offer", "expire offer", "withdraw, classify PREVIEW_SKIPPED/released not placed"}, Classified, "no answer"},
		{"unanswered, dialed", true,
			[]Input{{Kind: Place}, deadline, {Kind: Accepted}},
			[]string{"offer", "expire offer", "withdraw, originate agent"}, WaitingAgent, ""},
		{"a reconnect does not end an offer", false,
			[]Input{{Kind: Place}, {Kind: Verify}, {Kind: Accepted}},
			[]string{"offer", "", "withdraw, originate agent"}, WaitingAgent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewForAgent(id, "fs1", "7", agentLeg, 15*time.Second, false, true)
			a.OfferFor, a.DialOnTimeout = 30*time.Second, tc.dial
			now := t0
			var skipped string
			for i, in := range tc.steps {
				now = now.Add(time.Second)
				if in.Kind == TimerFired {
					in.Timer, now = a.Deadline, a.Deadline.At
				}
				cmds := Step(a, in, now)
				for _, c := range cmds {
					if c.Kind == Classify {
						skipped = c.Outcome.Skipped
					}
				}
				if got := kinds(cmds); got != tc.want[i] {
					t.Fatalf("step %d (%s): %q, want %q", i, in.Kind, got, tc.want[i])
				}
			}
			if a.State != tc.state || skipped != tc.reason {
				t.Fatalf("ends %s, skipped %q; want %s, %q", a.State, skipped, tc.state, tc.reason)
			}
		})
	}
}

// A bridge whose CHANNEL_BRIDGE was lost (a cut of the event socket) is
// learned from the end: the member talked to the agent, which is no
// abandoned call, and the agent wraps up.
func TestBridgeLearnedAtTheEnd(t *testing.T) {
	for _, byRecord := range []bool{false, true} {
		a := NewForSession(id, "fs1", "7", agentLeg, false, true)
		Step(a, Input{Kind: Place}, t0)
		Step(a, ev(Answer), t0.Add(time.Second))
		bridged := t0.Add(1100 * time.Millisecond)
		in := hangupComplete("NORMAL_CLEARING", 30000, true)
		in.BridgedAt = bridged
		if byRecord {
			in = Input{Kind: SwitchAnswer, Leg: id, Known: true, End: &EndRecord{Cause: "NORMAL_CLEARING", BillMsec: 30000, AnsweredAt: t0.Add(time.Second), BridgedAt: bridged}}
		}
		for _, c := range Step(a, in, t0.Add(time.Minute)) {
			if c.Kind == Classify && (c.Outcome.Abandoned || c.Outcome.Agent != AgentEnded || !c.Outcome.BridgedAt.Equal(bridged)) {
				t.Errorf("end record %v: outcome %+v", byRecord, c.Outcome)
			}
		}
	}
}

// Deadlines outlive a switch that went away: AMD's verdict and a preview
// offer are still waited for only so long once it is back, and the
// switch's word that the member's leg exists does not move AMD's.
func TestDeadlinesOutliveASwitchAway(t *testing.T) {
	a := NewPredictive(id, "fs1", 2*time.Second, false, true)
	a.AMDWait = 6 * time.Second
	Step(a, Input{Kind: Place}, t0)
	Step(a, ev(Answer), t0.Add(time.Second))
	Step(a, Input{Kind: NodeLost}, t0.Add(2*time.Second))
	if cmds := Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, t0.Add(7*time.Second)); len(cmds) != 0 {
		t.Fatalf("AMD deadline while away: %q", kinds(cmds))
	}
	Step(a, Input{Kind: Verify}, t0.Add(20*time.Second))
	Step(a, Input{Kind: SwitchAnswer, Leg: id, Known: true, Exists: true}, t0.Add(20*time.Second))
	if a.Deadline.Kind != AMDTimer || a.Deadline.At != t0.Add(20*time.Second) {
		t.Fatalf("after the switch came back: deadline %v at %v", a.Deadline.Kind, a.Deadline.At.Sub(t0))
	}
	if got := kinds(Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, a.Deadline.At)); got != "hangup member NORMAL_CLEARING" {
		t.Fatalf("no verdict: %q", got)
	}

	p := NewForAgent(id, "fs1", "7", agentLeg, 15*time.Second, false, true)
	p.OfferFor = 30 * time.Second
	Step(p, Input{Kind: Place}, t0)
	Step(p, Input{Kind: NodeLost}, t0.Add(time.Second))
	Step(p, Input{Kind: TimerFired, Timer: p.Deadline}, t0.Add(30*time.Second))
	if got := kinds(Step(p, Input{Kind: Verify}, t0.Add(40*time.Second))); got != "" || p.Deadline.Kind != OfferTimer {
		t.Fatalf("offer after the switch came back: %q, deadline %v", got, p.Deadline.Kind)
	}
	if got := kinds(Step(p, Input{Kind: TimerFired, Timer: p.Deadline}, p.Deadline.At)); got != "expire offer" {
		t.Fatalf("offer's deadline: %q", got)
	}
}

// A rung agent who answers just as the dialer gives up is hung up; the
// member hears the safe-harbor message to its end.
func TestSafeHarborNotCutByTheAgentsHangup(t *testing.T) {
	a := NewPredictive(id, "fs1", 2*time.Second, false, true)
	Step(a, Input{Kind: Place}, t0)
	Step(a, ev(Answer), t0.Add(time.Second))
	Step(a, Input{Kind: AgentFound, Found: &Found{Agent: "7", Leg: agentLeg, Ring: 15 * time.Second}}, t0.Add(1100*time.Millisecond))
	if got := kinds(Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, a.Deadline.At)); got != "safe harbor, hangup agent ORIGINATOR_CANCEL" {
		t.Fatalf("at the threshold: %q", got)
	}
	Step(a, ag(Answer), t0.Add(3*time.Second)) // it was on its way
	if got := kinds(Step(a, agentEnd("ORIGINATOR_CANCEL"), t0.Add(3100*time.Millisecond))); got != "" {
		t.Fatalf("the agent's hangup: %q", got)
	}
}
