package dialer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// TestCausesDecideTheMember runs one member per cause category through
// real calls and checks end causes, attempts, and the spacing of retries.
func TestCausesDecideTheMember(t *testing.T) {
	w := newWorld(t, basicScenario+`
  - {pattern: "^6", temp_fail: 1, setup: 0.5}
`)
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Normalize()                                      // the default table: USER_BUSY and NO_ANSWER retry, CALL_REJECTED stops
		c.Causes.OK = []string{"NORMAL_TEMPORARY_FAILURE"} // an OK cause ends the member
		for i, cause := range c.Causes.Retry {
			if cause == "NORMAL_TEMPORARY_FAILURE" {
				c.Causes.Retry = append(c.Causes.Retry[:i], c.Causes.Retry[i+1:]...)
				break
			}
		}
	})
	ids := w.add(c,
		mem("2000001"),            // busy every time: retried until MAX_TRY_COUNT
		mem("3000001", "2000002"), // rejected (an Error cause): that number stops, the other is dialed
		mem("4000001"),            // rings out: retried
		mem("5000001"),            // answers, 2 s: shorter than minBillSec 5, retried
		mem("6000001"),            // an OK cause: ends at once with it
	)
	w.start(c)
	w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
	for i, want := range []struct {
		end      string
		attempts int
		dialed   string
	}{
		{"MAX_TRY_COUNT", 3, "2000001,2000001,2000001"},
		{"MAX_TRY_COUNT", 3, "3000001,2000002,2000002"},
		{"MAX_TRY_COUNT", 3, "4000001,4000001,4000001"},
		{"MAX_TRY_COUNT", 3, "5000001,5000001,5000001"},
		{"NORMAL_TEMPORARY_FAILURE", 1, "6000001"},
	} {
		m, _ := w.member(c, ids[i])
		calls := w.obs.calls(ids[i])
		if m.EndCause != want.end || m.Attempts != want.attempts || dests(calls) != want.dialed {
			t.Errorf("member %d: end %q after %d attempts, dialed %s; want %q, %d, %s", i, m.EndCause, m.Attempts, dests(calls), want.end, want.attempts, want.dialed)
		}
		for j := 1; j < len(calls); j++ {
			if gap := calls[j].at.Sub(calls[j-1].at); gap < 60*time.Second {
				t.Errorf("member %d: retry %d came %v after the previous call, before intervalTryCount 60 s", i, j, gap)
			}
		}
	}
	if m, _ := w.member(c, ids[1]); !m.Communications[0].Stopped || m.Communications[0].LastCause != "CALL_REJECTED" {
		t.Errorf("rejected number: %+v", m.Communications[0])
	}
	h := history(w, c)
	if r := h[ids[3]][0]; r.Outcome != "short_call" || r.BillSec != 2 {
		t.Errorf("short call record %+v", r)
	}
}

// TestMinusCausesDoNotCount: a congested gateway refuses calls; those
// attempts do not count against the member.
func TestMinusCausesDoNotCount(t *testing.T) {
	w := newWorld(t, `
seed: 5
gateways: [{name: gw, cps: 1}]
numbers:
  - {pattern: "^2", busy: 1, setup: 0.2}
`)
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) { c.Parameters.MaxTryCount = 1; c.Parameters.IntervalTryCount = 5 })
	ids := w.add(c, mem("2000001"), mem("2000002"), mem("2000003"))
	w.start(c)
	w.runUntil("all members done", 5*time.Minute, w.ended(c, ids...))
	congested := 0
	for _, id := range ids {
		m, _ := w.member(c, id)
		if m.EndCause != "MAX_TRY_COUNT" || m.Attempts != 1 {
			t.Fatalf("member %s: %s after %d attempts", id, m.EndCause, m.Attempts)
		}
		for _, r := range history(w, c)[id] {
			if r.Cause == "NORMAL_CIRCUIT_CONGESTION" {
				congested++
				if r.Outcome != "minus" {
					t.Fatalf("congestion classified %q", r.Outcome)
				}
			}
		}
	}
	if congested == 0 {
		t.Fatal("the gateway's limit never refused a call: the test proves nothing")
	}
}

// TestRetriesByNumberAndStrategies: with retriesByNumber each number gets
// maxTryCount attempts; top-down takes them in turn, by-priority uses up the
// best first.
func TestRetriesByNumberAndStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy, want string
	}{
		{store.NumbersByPriority, "2000001,2000001,2000002,2000002"},
		{store.NumbersTopDown, "2000001,2000002,2000001,2000002"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			w := newWorld(t, basicScenario)
			w.startEngine()
			c := w.campaign(func(c *store.Campaign) {
				c.NumberStrategy = tc.strategy
				c.Parameters.MaxTryCount, c.Parameters.RetriesByNumber = 2, true
			})
			ids := w.add(c, mem("2000001", "2000002"))
			w.start(c)
			w.runUntil("the member is done", 20*time.Minute, w.ended(c, ids...))
			m, _ := w.member(c, ids[0])
			if got := dests(w.obs.calls(ids[0])); got != tc.want || m.EndCause != "MAX_TRY_COUNT" {
				t.Fatalf("dialed %s, end %q; want %s", got, m.EndCause, tc.want)
			}
		})
	}
}

// TestWaitingForResult: answered calls wait wrapUpTime for a call result;
// a result decides, no result means not successful.
func TestWaitingForResult(t *testing.T) {
	w := newWorld(t, basicScenario)
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Parameters.WaitingForResultStatus, c.Parameters.WrapUpTime = true, 30
		c.Parameters.MaxTryCount = 2
	})
	ids := w.add(c, mem("1000001"), mem("1000002"), mem("1000003", "1000004"))
	w.start(c)
	awaiting := func(id string) func() bool {
		return func() bool { _, st := w.member(c, id); return st == store.MemberResult }
	}
	for _, id := range ids {
		w.runUntil("member "+id+" awaits its result", 2*time.Minute, awaiting(id))
	}
	ctx := context.Background()
	// success ends it
	if _, _, _, err := w.eng.SubmitResult(ctx, c.ID, ids[0], store.CallResult{Success: true, Description: "sold"}); err != nil {
		t.Fatal(err)
	}
	// a new number, stop the old one, call back in 10 minutes
	ten := 600
	if _, _, _, err := w.eng.SubmitResult(ctx, c.ID, ids[2], store.CallResult{NextCommunication: "1000099", StopCommunications: []string{"1000003"}, NextAfterSec: &ten}); err != nil {
		t.Fatal(err)
	}
	m, st := w.member(c, ids[0])
	if m.EndCause != "NORMAL_CLEARING" || st != store.MemberDone {
		t.Fatalf("after success: %s %s", m.EndCause, st)
	}
	m, st = w.member(c, ids[2])
	if st != store.MemberWaiting || m.NextTryAt != w.clk.Now().Add(10*time.Minute).UnixMilli() || !m.Communications[0].Stopped || m.Communications[2].Number != "1000099" {
		t.Fatalf("after the result: %s next %v %+v", st, time.UnixMilli(m.NextTryAt), m.Communications)
	}
	// ids[1] gets no result: after 30 s it is not successful and retried
	w.runUntil("the wait of member 2 runs out", time.Minute, func() bool { _, st := w.member(c, ids[1]); return st == store.MemberWaiting })
	w.runUntil("members 2 and 3 are dialed again", 15*time.Minute, func() bool {
		return len(w.obs.calls(ids[1])) == 2 && len(w.obs.calls(ids[2])) == 2
	})
	if got := w.obs.calls(ids[2]); got[1].dest != "1000099" {
		t.Fatalf("the next communication was not dialed next: %s", dests(got))
	}
	// a result for an ended member is refused
	if _, _, _, err := w.eng.SubmitResult(ctx, c.ID, ids[0], store.CallResult{}); err == nil {
		t.Fatal("a result for an ended member was accepted")
	}
}

// TestExpireAndTerminate: an expired member ends MEMBER_EXPIRED without a
// call; a terminated one ends TERMINATED and stays.
func TestExpireAndTerminate(t *testing.T) {
	w := newWorld(t, basicScenario)
	w.startEngine()
	c := w.campaign(nil)
	expired := mem("1000001")
	expired.Expire = epoch.Add(-time.Minute).UnixMilli()
	soon := mem("2000001") // busy; expires before its retry
	soon.Expire = epoch.Add(30 * time.Second).UnixMilli()
	ids := w.add(c, expired, soon, mem("4000001"))
	if _, _, err := w.eng.TerminateMember(context.Background(), c.ID, ids[2]); err != nil {
		t.Fatal(err)
	}
	w.start(c)
	w.runUntil("all members done", 5*time.Minute, w.ended(c, ids...))
	for i, want := range []string{"MEMBER_EXPIRED", "MEMBER_EXPIRED", "TERMINATED"} {
		if m, _ := w.member(c, ids[i]); m.EndCause != want {
			t.Errorf("member %d: %s, want %s", i, m.EndCause, want)
		}
	}
	if n := len(w.obs.calls(ids[0])) + len(w.obs.calls(ids[2])); n != 0 {
		t.Fatalf("%d calls to members that must not be called", n)
	}
	if n := len(w.obs.calls(ids[1])); n != 1 {
		t.Fatalf("member that expires before its retry was called %d times", n)
	}
}

// TestDeleteMember: a member being called cannot be deleted (the call
// would lose its record); between attempts or after its end it can, it is
// never called again, and its number is free for a new member.
func TestDeleteMember(t *testing.T) {
	w := newWorld(t, basicScenario)
	w.startEngine()
	c := w.campaign(nil)
	ids := w.add(c, mem("1000001"), mem("2000001")) // listens to the message; busy, retried after 60 s
	w.start(c)
	w.runUntil("the call is answered", time.Minute, answered(w, 1))
	if err := w.eng.DeleteMember(t.Context(), c.ID, ids[0]); !errors.Is(err, store.ErrBeingCalled) {
		t.Fatalf("deleting a member during its call: %v, want %v", err, store.ErrBeingCalled)
	}
	w.runUntil("the first member ends", time.Minute, w.ended(c, ids[0]))
	if _, st := w.member(c, ids[1]); st != store.MemberWaiting {
		t.Fatalf("the busy member is %s, want waiting for its retry", st)
	}
	for _, id := range ids {
		if err := w.eng.DeleteMember(t.Context(), c.ID, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.st.GetMember(t.Context(), c.ID, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted member %s: %v, want not found", id, err)
		}
	}
	// the campaign may have finished meanwhile: autoRun starts it again
	res, err := w.eng.AddMembers(t.Context(), c.ID, []*store.Member{mem("1000001")}, true)
	if err != nil || res[0].Err != nil {
		t.Fatalf("adding the number again: %v %v", err, res)
	}
	again := []string{res[0].ID}
	w.runUntil("the new member is called", 5*time.Minute, w.ended(c, again...))
	if n := len(w.obs.calls(ids[1])); n != 1 {
		t.Fatalf("the deleted busy member was called %d times, want 1", n)
	}
	if len(w.obs.calls(again[0])) != 1 {
		t.Fatalf("the re-added member was called %d times", len(w.obs.calls(again[0])))
	}
}
