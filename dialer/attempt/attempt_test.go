package attempt

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

const id = "11111111-0000-4000-8000-000000000005"

// step is one input and how long after the previous one it comes.
type step struct {
	after time.Duration
	in    Input
}

func ev(k Kind) Input { return Input{Kind: k, Leg: id} }

func hangupComplete(cause string, billMsec int64, answered bool) Input {
	in := Input{Kind: HangupComplete, Leg: id, Cause: cause, BillMsec: billMsec}
	if answered {
		in.AnsweredAt = t0.Add(2 * time.Second)
	}
	return in
}

// run places an attempt and applies the steps; it returns the attempt, the
// commands of the last step and the outcome of a Classify, if any.
func run(t *testing.T, a *Attempt, steps []step) (last []Command, classified *Outcome, classifies int) {
	t.Helper()
	now := t0
	for _, s := range steps {
		now = now.Add(s.after)
		if s.in.Kind == TimerFired && s.in.Timer == (Timer{}) {
			s.in.Timer = a.Deadline // the timer the loop armed
		}
		last = Step(a, s.in, now)
		for _, c := range last {
			if c.Kind == Classify {
				o := c.Outcome
				classified = &o
				classifies++
			}
		}
	}
	return last, classified, classifies
}

func placed() step { return step{0, Input{Kind: Place}} }

// The paths of a broadcast call, in the orders a real switch sends their
// events (testdata/fs-captures), and what each is classified as.
func TestBroadcastPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		want  *Outcome // nil: not classified yet
		state State
	}{
		{"answered and played", []step{placed(), {time.Second, ev(Create)}, {time.Second, ev(Progress)},
			{time.Second, Input{Kind: Answer, Leg: id, At: t0.Add(3 * time.Second)}},
			{8 * time.Second, ev(Hangup)}, {0, hangupComplete("NORMAL_CLEARING", 8020, true)}},
			&Outcome{Cause: "NORMAL_CLEARING", Answered: true, AnsweredAt: t0.Add(3 * time.Second), EndedAt: t0.Add(11 * time.Second), BillMsec: 8020, From: "events"}, Classified},
		{"busy: HANGUP_COMPLETE before the job", []step{placed(), {time.Second, ev(Create)},
			{time.Second, hangupComplete("USER_BUSY", 0, false)}, {0, Input{Kind: JobResult, Leg: id, Cause: "USER_BUSY"}}},
			&Outcome{Cause: "USER_BUSY", EndedAt: t0.Add(2 * time.Second), From: "events"}, Classified},
		{"no answer: the job before HANGUP_COMPLETE", []step{placed(), {time.Second, ev(Create)},
			{30 * time.Second, Input{Kind: JobResult, Leg: id, Cause: "NO_ANSWER"}}, {0, hangupComplete("NO_ANSWER", 0, false)}},
			&Outcome{Cause: "NO_ANSWER", EndedAt: t0.Add(31 * time.Second), From: "events"}, Classified},
		{"unknown gateway: DESTROY without a cause, then the job", []step{placed(),
			{10 * time.Millisecond, Input{Kind: Destroy, Leg: id}}, {0, Input{Kind: JobResult, Leg: id, Cause: "INVALID_GATEWAY"}}},
			&Outcome{Cause: "INVALID_GATEWAY", EndedAt: t0.Add(10 * time.Millisecond), From: "job"}, Classified},
		{"unknown gateway, job lost: its wait ends as lost", []step{placed(),
			{10 * time.Millisecond, Input{Kind: Destroy, Leg: id}}, {JobWait, Input{Kind: TimerFired}}},
			&Outcome{Cause: CauseLost, EndedAt: t0.Add(JobWait + 10*time.Millisecond), From: "lost"}, Classified},
		{"throttled: refused before any channel", []step{placed(),
			{time.Millisecond, Input{Kind: JobResult, Leg: id, Cause: "DESTINATION_OUT_OF_ORDER"}}},
			&Outcome{Cause: "DESTINATION_OUT_OF_ORDER", NotPlaced: true, Refused: true, EndedAt: t0.Add(time.Millisecond), From: "job"}, Classified},
		{"never sent", []step{placed(), {0, Input{Kind: NotSent}}},
			&Outcome{Cause: "NORMAL_TEMPORARY_FAILURE", NotPlaced: true, EndedAt: t0, From: "job"}, Classified},
		{"ringing, no end yet", []step{placed(), {time.Second, ev(Create)}, {time.Second, ev(Progress)}}, nil, Ringing},
		{"a late ANSWER after the hangup changes nothing", []step{placed(), {time.Second, ev(Create)},
			{time.Second, hangupComplete("NO_ANSWER", 0, false)}, {0, ev(Answer)}, {0, ev(Destroy)}},
			&Outcome{Cause: "NO_ANSWER", EndedAt: t0.Add(2 * time.Second), From: "events"}, Classified},
		{"an event of another channel is not this attempt's", []step{placed(),
			{time.Second, Input{Kind: HangupComplete, Leg: "other", Cause: "NORMAL_CLEARING"}}}, nil, Originating},
		{"answered, billsec from billmsec: 1.3 s", []step{placed(), {time.Second, ev(Create)}, {time.Second, ev(Answer)},
			{1300 * time.Millisecond, hangupComplete("NORMAL_CLEARING", 1300, true)}},
			&Outcome{Cause: "NORMAL_CLEARING", Answered: true, AnsweredAt: t0.Add(2 * time.Second), EndedAt: t0.Add(3300 * time.Millisecond), BillMsec: 1300, From: "events"}, Classified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(id, "fs1", false, true)
			_, got, n := run(t, a, tc.steps)
			if a.State != tc.state {
				t.Errorf("state %s, want %s", a.State, tc.state)
			}
			if n > 1 {
				t.Errorf("classified %d times", n)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("outcome\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// What the switch says about a leg whose events may have been missed
// (after a restart, a reconnect, a long quiet): the call goes on, or its
// end record tells how it ended, or it never existed, or nobody can tell.
func TestSwitchAnswers(t *testing.T) {
	record := &EndRecord{Cause: "NORMAL_CLEARING", BillMsec: 5020, AnsweredAt: t0.Add(4 * time.Second)}
	for _, tc := range []struct {
		name       string
		endRecords bool
		before     []step // after Adopt at t0
		answer     Input
		after      time.Duration // from t0 to the answer
		want       *Outcome
		wantCmd    CommandKind // the command when not classified
		wantAt     time.Time   // its deadline
	}{
		{"the call goes on", true, nil, Input{Kind: SwitchAnswer, Known: true, Exists: true}, time.Second,
			nil, Arm, t0.Add(time.Second + Quiet)},
		{"it ended meanwhile: its end record", true, nil, Input{Kind: SwitchAnswer, Known: true, End: record}, time.Minute,
			&Outcome{Cause: "NORMAL_CLEARING", Answered: true, AnsweredAt: t0.Add(4 * time.Second), EndedAt: t0.Add(time.Minute), BillMsec: 5020, From: "end record"}, 0, time.Time{}},
		{"unanswered, recorded by the switch", true, nil, Input{Kind: SwitchAnswer, Known: true, End: &EndRecord{Cause: "USER_BUSY"}}, time.Minute,
			&Outcome{Cause: "USER_BUSY", EndedAt: t0.Add(time.Minute), From: "end record"}, 0, time.Time{}},
		{"no channel, no record, too soon to tell", true, nil, Input{Kind: SwitchAnswer, Known: true}, Recheck + time.Second,
			nil, Arm, t0.Add(Grace)},
		{"no channel, no record, long after the originate: never placed", true, nil, Input{Kind: SwitchAnswer, Known: true}, Grace + time.Second,
			&Outcome{Cause: "NORMAL_TEMPORARY_FAILURE", NotPlaced: true, EndedAt: t0.Add(Grace + time.Second), From: "end record"}, 0, time.Time{}},
		{"a channel was seen, then gone without a record: lost", true, []step{{time.Second, ev(Create)}}, Input{Kind: SwitchAnswer, Known: true}, 2 * time.Second,
			&Outcome{Cause: CauseLost, EndedAt: t0.Add(2 * time.Second), From: "lost"}, 0, time.Time{}},
		{"without end records a missing channel is lost", false, nil, Input{Kind: SwitchAnswer, Known: true}, Grace + time.Second,
			&Outcome{Cause: CauseLost, EndedAt: t0.Add(Grace + time.Second), From: "lost"}, 0, time.Time{}},
		{"a switch without mod_db cannot tell: lost", true, nil, Input{Kind: SwitchAnswer, Known: true, Unrecorded: true}, Grace + time.Second,
			&Outcome{Cause: CauseLost, EndedAt: t0.Add(Grace + time.Second), From: "lost"}, 0, time.Time{}},
		{"the switch did not answer: ask again", true, nil, Input{Kind: SwitchAnswer}, time.Second,
			nil, Arm, t0.Add(time.Second + Recheck)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Adopt(id, "fs1", t0, tc.endRecords)
			run(t, a, tc.before)
			if tc.answer.Known && !tc.answer.Exists && tc.answer.End == nil && tc.endRecords && !tc.answer.Unrecorded {
				// one answer that the switch has neither is not proof:
				// its record may be a moment away; it is asked again
				cmds := Step(a, tc.answer, t0.Add(tc.after-Recheck))
				if len(cmds) != 1 || cmds[0].Kind != Arm || !cmds[0].Timer.At.Equal(t0.Add(tc.after)) {
					t.Fatalf("first answer: %+v", cmds)
				}
			}
			cmds := Step(a, tc.answer, t0.Add(tc.after))
			var got *Outcome
			for _, c := range cmds {
				if c.Kind == Classify {
					o := c.Outcome
					got = &o
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("outcome\n got %+v\nwant %+v", got, tc.want)
			}
			if tc.want == nil && (len(cmds) != 1 || cmds[0].Kind != tc.wantCmd || !cmds[0].Timer.At.Equal(tc.wantAt)) {
				t.Fatalf("commands %+v; want %s at %v", cmds, tc.wantCmd, tc.wantAt)
			}
		})
	}
}

// A reconnect and the call's end arrive together: the end, which the
// switch sent first, decides; the switch's later answer changes nothing.
func TestEndBeforeTheSwitchAnswer(t *testing.T) {
	a := New(id, "fs1", false, true)
	run(t, a, []step{placed(), {time.Second, ev(Create)}, {time.Second, ev(Answer)}, {0, Input{Kind: NodeLost}}})
	cmds := Step(a, Input{Kind: Verify}, t0.Add(30*time.Second))
	if len(cmds) != 1 || cmds[0].Kind != CheckSwitch {
		t.Fatalf("verify: %+v", cmds)
	}
	_, o, _ := run(t, a, []step{{30 * time.Second, hangupComplete("NORMAL_CLEARING", 30000, true)}})
	if o == nil || o.Cause != "NORMAL_CLEARING" || o.From != "events" {
		t.Fatalf("outcome %+v", o)
	}
	if cmds := Step(a, Input{Kind: SwitchAnswer, Known: true}, t0.Add(31*time.Second)); cmds != nil {
		t.Fatalf("the late switch answer gave %+v", cmds)
	}
}

// Deadlines: only the one armed last fires, and none while the switch is
// away.
func TestDeadlines(t *testing.T) {
	a := New(id, "fs1", false, true)
	cmds := Step(a, Input{Kind: Place}, t0)
	if len(cmds) != 2 || cmds[0].Kind != Originate || cmds[1].Kind != Arm || !cmds[1].Timer.At.Equal(t0.Add(Grace)) {
		t.Fatalf("place: %+v", cmds)
	}
	first := cmds[1].Timer
	cmds = Step(a, ev(Create), t0.Add(time.Second))
	if len(cmds) != 1 || cmds[0].Timer.At != t0.Add(time.Second+Quiet) {
		t.Fatalf("create: %+v", cmds)
	}
	if cmds := Step(a, Input{Kind: TimerFired, Timer: first}, t0.Add(Grace)); cmds != nil {
		t.Fatalf("an old deadline fired: %+v", cmds)
	}
	Step(a, Input{Kind: NodeLost}, t0.Add(2*time.Second))
	if cmds := Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, a.Deadline.At); cmds != nil {
		t.Fatalf("a deadline fired while the switch was away: %+v", cmds)
	}
	cmds = Step(a, Input{Kind: Verify}, t0.Add(time.Hour))
	if len(cmds) != 1 || cmds[0].Kind != CheckSwitch {
		t.Fatalf("verify after the switch came back: %+v", cmds)
	}
	if cmds := Step(a, Input{Kind: TimerFired, Timer: a.Deadline}, t0.Add(time.Hour)); len(cmds) != 1 || cmds[0].Kind != CheckSwitch {
		t.Fatalf("the quiet deadline: %+v", cmds)
	}
}

func TestRecordingStartsAtAnswer(t *testing.T) {
	a := New(id, "fs1", true, true)
	run(t, a, []step{placed(), {time.Second, ev(Create)}})
	cmds := Step(a, ev(Answer), t0.Add(2*time.Second))
	if len(cmds) != 2 || cmds[1].Kind != StartRecord || cmds[1].Leg != id {
		t.Fatalf("answer: %+v", cmds)
	}
	if cmds := Step(a, ev(Answer), t0.Add(3*time.Second)); cmds != nil {
		t.Fatalf("a repeated answer: %+v", cmds)
	}
}

func TestWrittenEndsTheAttempt(t *testing.T) {
	a := New(id, "fs1", false, true)
	run(t, a, []step{placed(), {0, Input{Kind: NotSent}}})
	Step(a, Input{Kind: Written}, t0)
	if a.State != Done {
		t.Fatalf("state %s", a.State)
	}
}

// The channel is gone but its end record not yet written (the hook runs
// just after the hangup): the attempt asks again instead of judging it
// never placed, and the record then decides.
func TestRecordJustAfterTheChannel(t *testing.T) {
	a := Adopt(id, "fs1", t0, true)
	later := t0.Add(time.Hour)
	cmds := Step(a, Input{Kind: SwitchAnswer, Known: true}, later)
	if len(cmds) != 1 || cmds[0].Kind != Arm || cmds[0].Timer.At != later.Add(Recheck) {
		t.Fatalf("first answer: %+v", cmds)
	}
	cmds = Step(a, Input{Kind: TimerFired, Timer: cmds[0].Timer}, later.Add(Recheck))
	if len(cmds) != 1 || cmds[0].Kind != CheckSwitch {
		t.Fatalf("recheck: %+v", cmds)
	}
	rec := &EndRecord{Cause: "NORMAL_CLEARING", BillMsec: 61000, AnsweredAt: t0.Add(3 * time.Second)}
	cmds = Step(a, Input{Kind: SwitchAnswer, Known: true, End: rec}, later.Add(Recheck))
	if len(cmds) != 1 || cmds[0].Kind != Classify || cmds[0].Outcome.NotPlaced || cmds[0].Outcome.BillMsec != 61000 {
		t.Fatalf("second answer: %+v", cmds)
	}
}
