package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// A campaign of three members as the switch saw it: m1 reached at once,
// m2 busy then reached, m3 never answering.
func sampleRun() (sim.Ledger, Recorded) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	seq := uint64(0)
	call := func(uuid, member, dest string, answered bool, billmsec int64, cause string) sim.CallRecord {
		seq += 2
		c := sim.CallRecord{UUID: uuid, Destination: dest, Created: t0.Add(time.Duration(seq) * time.Second), CreatedSeq: seq,
			HungUp: t0.Add(time.Duration(seq+1) * time.Second), HungUpSeq: seq + 1, HangupCause: cause, Billmsec: billmsec, Billsec: billmsec / 1000,
			Variables: map[string]string{"dialer_campaign_id": "c1", "dialer_member_id": member, "dialer_attempt_id": uuid}}
		if answered {
			c.Answered = c.Created.Add(time.Second)
		}
		return c
	}
	led := sim.Ledger{Calls: []sim.CallRecord{
		call("a1", "m1", "380500000001", true, 12000, "NORMAL_CLEARING"),
		call("a2", "m2", "380500000002", false, 0, "USER_BUSY"),
		call("a3", "m3", "380500000003", false, 0, "NO_ANSWER"),
		call("a4", "m2", "380500000002", true, 7000, "NORMAL_CLEARING"),
		call("a5", "m3", "380500000003", false, 0, "NO_ANSWER"),
	}}
	rec := Recorded{Campaign: "c1", MinBillSec: 5, Attempts: 5, Members: map[string]MemberEnd{
		"m1": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m2": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m3": {State: store.MemberDone, EndCause: "MAX_TRY_COUNT"},
	}}
	for _, c := range led.Calls {
		cr := store.CallRecord{Attempt: c.UUID, Campaign: "c1", Member: c.Variables["dialer_member_id"], Cause: c.HangupCause, BillMsec: c.Billmsec}
		if !c.Answered.IsZero() {
			cr.AnsweredAt = c.Answered.UnixMilli()
		}
		rec.Records = append(rec.Records, cr)
	}
	return led, rec
}

// TestVerifyFindsEachFault: a run that kept every promise passes, and each
// broken promise is found, by the check meant for it.
func TestVerifyFindsEachFault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(led *sim.Ledger, rec *Recorded)
		want  string // the problem's prefix; "" none
	}{
		{"a clean run", func(*sim.Ledger, *Recorded) {}, ""},
		{"two live channels to one number", func(led *sim.Ledger, _ *Recorded) {
			led.Calls[4].CreatedSeq = led.Calls[2].HungUpSeq - 1 // a5 made before a3 hung up
		}, "double dial"},
		{"a member left leased", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m3"] = MemberEnd{State: store.MemberLeased}
		}, "lost member"},
		{"a member waiting with no due time", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m3"] = MemberEnd{State: store.MemberWaiting}
		}, "lost member"},
		{"a call without a record", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = rec.Records[:4]
		}, "unrecorded call"},
		{"a call recorded twice", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = append(rec.Records, rec.Records[1])
		}, "duplicated record"},
		{"a record of no call", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records = append(rec.Records, store.CallRecord{Attempt: "a9", Member: "m3", Cause: "DIALER_LOST_CALL"})
		}, "record of no call"},
		{"the wrong cause", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[0].Cause = "DIALER_LOST_CALL"
		}, "outcome mismatch"},
		{"the wrong bill time", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[3].BillMsec = 4999
		}, "outcome mismatch"},
		{"an answer not recorded", func(_ *sim.Ledger, rec *Recorded) {
			rec.Records[0].AnsweredAt = 0
		}, "outcome mismatch"},
		{"dialed again after a completed call", func(led *sim.Ledger, rec *Recorded) {
			// a2 reached m2, and was recorded so, and yet a4 followed
			led.Calls[1].Answered, led.Calls[1].Billmsec, led.Calls[1].HangupCause = led.Calls[1].Created.Add(time.Second), 6000, "NORMAL_CLEARING"
			rec.Records[1].AnsweredAt, rec.Records[1].BillMsec, rec.Records[1].Cause = led.Calls[1].Answered.UnixMilli(), 6000, "NORMAL_CLEARING"
		}, "redial after a completed call"},
		{"a reached member ended otherwise", func(_ *sim.Ledger, rec *Recorded) {
			rec.Members["m1"] = MemberEnd{State: store.MemberDone, EndCause: "MAX_TRY_COUNT"}
		}, "wrong end cause"},
		{"an attempts counter off", func(_ *sim.Ledger, rec *Recorded) {
			rec.Attempts = 6
		}, "attempts"},
		{"the journal left open", func(_ *sim.Ledger, rec *Recorded) {
			rec.Open = 1
		}, "journal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			led, rec := sampleRun()
			tc.spoil(&led, &rec)
			problems := Verify(led, rec).Problems()
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in a clean run: %q", problems)
				}
				return
			}
			for _, p := range problems {
				if !strings.HasPrefix(p, tc.want) {
					t.Errorf("also %q", p)
				}
			}
			if len(problems) == 0 {
				t.Fatalf("no %s found", tc.want)
			}
		})
	}
}

func TestVerifyCounts(t *testing.T) {
	led, rec := sampleRun()
	r := Verify(led, rec)
	if r.Members != 3 || r.Channels != 5 || r.Answered != 2 || r.Completed != 2 || r.Records != 5 || r.Stillborn != 0 {
		t.Fatalf("report %+v", r)
	}
}

// A progressive campaign as the switch saw it, on one clock of seconds
// from t0 with the switch's sequence in step (seq n at t0+n s). Agent s1
// is reached by a session: its leg S1 is called once, answers and stays
// up to the end, m1 is bridged into it. Agent r1 is rung for each call:
// R2 rings and answers, then m2 is dialed, answers and is bridged to it;
// R3 answers, m3 is busy, R3 is hung up. Then the dialer stops (seq 80)
// and the switch shuts down, hanging S1 up.
func agentRun() (sim.Ledger, Recorded, AgentRun) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	at := func(seq uint64) time.Time { return t0.Add(time.Duration(seq) * time.Second) }
	call := func(uuid, dest string, vars map[string]string, created, answered, hungUp uint64, billmsec int64, cause string) sim.CallRecord {
		c := sim.CallRecord{UUID: uuid, Destination: dest, Variables: vars, Created: at(created), CreatedSeq: created,
			HungUp: at(hungUp), HungUpSeq: hungUp, HangupCause: cause, Billmsec: billmsec, Billsec: billmsec / 1000}
		if answered > 0 {
			c.Answered = at(answered)
		}
		return c
	}
	member := func(id, attempt string) map[string]string {
		return map[string]string{"dialer_campaign_id": "c1", "dialer_member_id": id, "dialer_attempt_id": attempt}
	}
	ring := func(agent, id, attempt string) map[string]string {
		v := member(id, attempt)
		v["dialer_agent_id"] = agent
		return v
	}
	session := map[string]string{"dialer_agent_id": "s1", "dialer_session": "true", "park_after_bridge": "true"}
	bridge := func(c *sim.CallRecord, other string, from, until uint64) {
		c.Bridges = append(c.Bridges, sim.BridgeSpan{Other: other, From: at(from), FromSeq: from, Until: at(until), UntilSeq: until})
	}
	s1 := call("S1", "1010", session, 1, 2, 90, 0, "SYSTEM_SHUTDOWN")
	a1 := call("a1", "380500000001", member("m1", "a1"), 5, 8, 30, 22000, "NORMAL_CLEARING")
	bridge(&s1, "a1", 9, 30)
	bridge(&a1, "S1", 9, 30)
	r2 := call("R2", "1000", ring("r1", "m2", "a2"), 10, 11, 40, 29000, "NORMAL_CLEARING")
	a2 := call("a2", "380500000002", member("m2", "a2"), 12, 15, 40, 25000, "NORMAL_CLEARING")
	bridge(&r2, "a2", 16, 40)
	bridge(&a2, "R2", 16, 40)
	r3 := call("R3", "1000", ring("r1", "m3", "a3"), 45, 46, 52, 0, "NORMAL_CLEARING")
	a3 := call("a3", "380500000003", member("m3", "a3"), 47, 0, 50, 0, "USER_BUSY")
	led := sim.Ledger{Calls: []sim.CallRecord{s1, a1, r2, a2, r3, a3}}
	rec := Recorded{Campaign: "c1", MinBillSec: 5, Attempts: 3, Agents: true, Members: map[string]MemberEnd{
		"m1": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m2": {State: store.MemberDone, EndCause: "NORMAL_CLEARING"},
		"m3": {State: store.MemberWaiting, NextTryAt: at(200).UnixMilli()},
	}}
	for _, c := range []sim.CallRecord{a1, a2, a3} {
		cr := store.CallRecord{Attempt: c.UUID, Campaign: "c1", Member: c.Variables["dialer_member_id"], Cause: c.HangupCause, BillMsec: c.Billmsec}
		if !c.Answered.IsZero() {
			cr.AnsweredAt = c.Answered.UnixMilli()
		}
		rec.Records = append(rec.Records, cr)
	}
	run := AgentRun{EndSeq: 80, Grace: 5 * time.Second, Agents: map[string]AgentEnd{
		"r1": {Reach: store.ReachRing, Status: store.AgentAvailable},
		"s1": {Reach: store.ReachSession, Status: store.AgentAvailable, Session: "S1", SessionState: store.SessionUp},
	}}
	return led, rec, run
}

// callOf finds a channel of the sample by uuid.
func callOf(led *sim.Ledger, uuid string) *sim.CallRecord {
	for i := range led.Calls {
		if led.Calls[i].UUID == uuid {
			return &led.Calls[i]
		}
	}
	panic("no channel " + uuid)
}

// TestVerifyAgentsFindsEachFault: a progressive run that kept every
// promise passes, agent legs and all; each broken promise is found by the
// check meant for it.
func TestVerifyAgentsFindsEachFault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(led *sim.Ledger, rec *Recorded, run *AgentRun)
		want  string   // the problem's prefix; "" none
		also  []string // other problems the same fault makes
	}{
		{"a clean run", func(*sim.Ledger, *Recorded, *AgentRun) {}, "", nil},
		{"an answer left alone inside a fault window", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			run.Faults = []FaultWindow{{Kind: "esl", From: callOf(led, "a2").Created, Until: callOf(led, "a2").Answered.Add(-time.Second)}}
		}, "", nil},
		{"an answer left alone in the grace after a fault", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			run.Faults = []FaultWindow{{Kind: "dialer", From: callOf(led, "a2").Created.Add(-10 * time.Second), Until: callOf(led, "a2").Answered.Add(-run.Grace)}}
		}, "", nil},
		{"an answer left alone after the grace", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			run.Faults = []FaultWindow{{Kind: "redis", From: callOf(led, "a2").Created.Add(-10 * time.Second), Until: callOf(led, "a2").Answered.Add(-run.Grace - time.Millisecond)}}
		}, "abandoned member", nil},
		{"an answer left alone before a fault", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			run.Faults = []FaultWindow{{Kind: "dialer", From: callOf(led, "a2").Answered.Add(time.Millisecond), Until: callOf(led, "a2").HungUp}}
		}, "abandoned member", nil},
		{"a session agent bridged to a second member", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			s := callOf(led, "S1")
			s.Bridges = append(s.Bridges, sim.BridgeSpan{Other: "a2", From: s.Created.Add(20 * time.Second), FromSeq: 21, Until: s.Created.Add(28 * time.Second), UntilSeq: 29})
		}, "agent in two bridges", nil},
		{"a ring agent bridged on a second leg", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			// R3 made and bridged while R2's bridge lasts: two members on r1
			r3 := callOf(led, "R3")
			r3.CreatedSeq, r3.Bridges = 17, []sim.BridgeSpan{{Other: "a3", FromSeq: 18, UntilSeq: 19}}
		}, "agent in two bridges", []string{"agent called twice at once"}},
		{"a member bridged to two agents at once", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			a2 := callOf(led, "a2")
			a2.Bridges = append(a2.Bridges, sim.BridgeSpan{Other: "S1", FromSeq: 35, UntilSeq: 38})
		}, "agent in two bridges", nil},
		{"an agent rung twice at once", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			callOf(led, "R3").CreatedSeq = 39 // before R2 hung up, unbridged
		}, "agent called twice at once", nil},
		{"a second session leg for one agent", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			led.Calls = append(led.Calls, sim.CallRecord{UUID: "S2", Destination: "1010", CreatedSeq: 60, HungUpSeq: 61, HangupCause: "NORMAL_CLEARING",
				Variables: map[string]string{"dialer_agent_id": "s1", "dialer_session": "true"}})
		}, "agent called twice at once", nil},
		{"a ring leg left up", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			callOf(led, "R3").HungUpSeq = 90 // hung up by the switch's shutdown
		}, "stranded agent leg", nil},
		{"a ring leg left up to the ledger's end", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			callOf(led, "R3").HungUpSeq = 0
		}, "stranded agent leg", nil},
		{"a session leg up that the store forgot", func(_ *sim.Ledger, _ *Recorded, run *AgentRun) {
			run.Agents["s1"] = AgentEnd{Reach: store.ReachSession, Status: store.AgentLoggedOut}
		}, "stranded agent leg", nil},
		{"a session the store holds up, gone on the switch", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			callOf(led, "S1").HungUpSeq = 70
		}, "ghost session", nil},
		{"an agent leg taken for a member call", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			delete(callOf(led, "R2").Variables, "dialer_agent_id") // now a channel of m2 without a record
		}, "unrecorded call", []string{"redial after a completed call", "attempts"}},
		{"a member dialed twice at once, agents about", func(led *sim.Ledger, _ *Recorded, _ *AgentRun) {
			a3 := callOf(led, "a3")
			a3.Destination, a3.CreatedSeq = "380500000002", 39 // m2's number before a2 hung up
		}, "double dial", nil},
		{"a member lost", func(_ *sim.Ledger, rec *Recorded, _ *AgentRun) {
			rec.Members["m3"] = MemberEnd{State: store.MemberLeased}
		}, "lost member", nil},
		{"a member ended against the switch's record", func(_ *sim.Ledger, rec *Recorded, _ *AgentRun) {
			rec.Members["m2"] = MemberEnd{State: store.MemberDone, EndCause: "MAX_TRY_COUNT"}
		}, "wrong end cause", nil},
		{"an abandoned member ended ABANDONED", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			callOf(led, "a2").Billmsec, rec.Records[1].BillMsec = 9000, 9000 // waited 9 s: still nobody heard
			rec.Members["m2"] = MemberEnd{State: store.MemberDone, EndCause: "ABANDONED"}
			run.Faults = []FaultWindow{{Kind: "esl", From: callOf(led, "a2").Created, Until: callOf(led, "a2").HungUp}}
		}, "", nil},
		{"an abandoned member ended as reached", func(led *sim.Ledger, rec *Recorded, run *AgentRun) {
			abandon(led, rec)
			callOf(led, "a2").Billmsec, rec.Records[1].BillMsec = 9000, 9000 // answered 9 s, heard nobody
			rec.Members["m2"] = MemberEnd{State: store.MemberDone, EndCause: "NORMAL_CLEARING"}
			run.Faults = []FaultWindow{{Kind: "esl", From: callOf(led, "a2").Created, Until: callOf(led, "a2").HungUp}}
		}, "abandoned, recorded reached", nil},
		{"a member ended ABANDONED whose answer was bridged", func(_ *sim.Ledger, rec *Recorded, _ *AgentRun) {
			rec.Members["m3"] = MemberEnd{State: store.MemberDone, EndCause: "ABANDONED"}
		}, "wrong end cause", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			led, rec, run := agentRun()
			tc.spoil(&led, &rec, &run)
			problems := VerifyAgents(led, rec, run).Problems()
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems in a clean run: %q", problems)
				}
				return
			}
			found := false
			for _, p := range problems {
				ok := strings.HasPrefix(p, tc.want)
				found = found || ok
				for _, a := range tc.also {
					ok = ok || strings.HasPrefix(p, a)
				}
				if !ok {
					t.Errorf("also %q", p)
				}
			}
			if !found {
				t.Fatalf("no %s found in %q", tc.want, problems)
			}
		})
	}
}

// abandon turns the sample's a2 into a member who answered and was never
// bridged: they waited, heard nobody and hung up after 4 s.
func abandon(led *sim.Ledger, rec *Recorded) {
	a2, r2 := callOf(led, "a2"), callOf(led, "R2")
	a2.Bridges, r2.Bridges = nil, nil
	a2.HungUp, a2.HungUpSeq, a2.Billmsec, a2.Billsec = a2.Answered.Add(4*time.Second), 19, 4000, 4
	rec.Records[1].BillMsec = 4000
	rec.Members["m2"] = MemberEnd{State: store.MemberWaiting, NextTryAt: a2.HungUp.Add(time.Minute).UnixMilli()}
}

func TestVerifyAgentsCounts(t *testing.T) {
	led, rec, run := agentRun()
	r := VerifyAgents(led, rec, run)
	if r.Channels != 3 || r.Records != 3 || r.Agents != 2 || r.RingLegs != 2 || r.SessionLegs != 1 || r.MembersUp != 2 || r.Bridged != 2 ||
		r.AgentsBridged != 2 || r.SessionsUp != 1 || len(r.Excused) != 0 {
		t.Fatalf("report %+v", r)
	}
}
