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
			{time.Second, hangupComplete("NORMAL_CLEARING", 1000, true), "classify NORMAL_CLEARING/released"},
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
