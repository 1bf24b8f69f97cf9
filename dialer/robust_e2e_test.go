package dialer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
)

// Calls that last between 5 and 35 s: when the dialer is lost for a while,
// some end meanwhile and some are still on.
const robustScenario = `
seed: 12
gateways: [{name: gw}]
playback: {dist: uniform, mean: 20, spread: 15}
default: {answer: 1, ring: 1, talk: 300}
`

func robustCampaign(w *world, n int) (*store.Campaign, []string) {
	c := w.campaign(func(c *store.Campaign) {
		c.Parameters.MinBillSec, c.Parameters.IntervalTryCount, c.Parameters.MaxTryCount = 3, 30, 5
	})
	var ms []*store.Member
	for i := 0; i < n; i++ {
		ms = append(ms, mem(fmt.Sprintf("+38091%07d", i)))
	}
	return c, w.add(c, ms...)
}

// checkNothingLost: every member ended by the rules, none was ever called
// twice at once, the journal is empty and every attempt was classified.
func checkNothingLost(t *testing.T, w *world, c *store.Campaign, ids []string) {
	t.Helper()
	for _, id := range ids {
		m, st := w.member(c, id)
		if st != store.MemberDone || m.EndCause != "NORMAL_CLEARING" {
			t.Errorf("member %s: %s %q after %d attempts", id, st, m.EndCause, m.Attempts)
		}
	}
	if n := w.obs.maxConcurrentPerMember(); n != 1 {
		t.Errorf("a member had %d calls at once", n)
	}
	if open, _ := w.st.OpenAttempts(context.Background(), c.ID); len(open) != 0 {
		t.Errorf("%d attempts left open in the journal", len(open))
	}
	recs := 0
	for _, h := range history(w, c) {
		recs += len(h)
	}
	if calls := len(w.obs.campaignCalls(c.ID)); recs != calls {
		t.Errorf("%d calls on the switch, %d call records", calls, recs)
	}
}

func answered(w *world, n int) func() bool {
	return func() bool { return w.obs.count("CHANNEL_ANSWER") >= n }
}

// TestCrashAndRestart: the dialer dies (kill -9) with ten calls up; while it
// is away some end. A new dialer re-attaches the live calls and learns how
// the ended ones ended from the switch's own end records: each is
// classified by its true outcome and none is dialed again.
func TestCrashAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name, instance string
	}{
		{"same host", "test-dialer"}, // takes its campaigns back at once
		{"another dialer", "other"},  // waits for the lease to lapse
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, robustScenario)
			w.startEngine()
			c, ids := robustCampaign(w, 20)
			w.start(c)
			w.runUntil("ten calls answered", time.Minute, answered(w, 10))
			w.stopEngine()
			away := w.clk.Now()
			w.clk.Advance(15 * time.Second) // calls go on, some end
			time.Sleep(20 * time.Millisecond)
			back := w.clk.Now()
			instance := tc.instance
			w.cfg = func(cfg *dialer.Config) { cfg.Instance = instance }
			w.startEngine()
			w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
			checkNothingLost(t, w, c, ids)
			checkAgainstSwitch(t, w, c, away, back)
		})
	}
}

// TestSwitchConnectionLost: the event socket drops in the middle of calls
// and calls end while nobody listens; the dialer reconnects, asks the
// switch about each and carries on, with every call classified by what the
// switch did.
func TestSwitchConnectionLost(t *testing.T) {
	w := newWorld(t, robustScenario)
	w.startEngine()
	c, ids := robustCampaign(w, 20)
	w.start(c)
	w.runUntil("ten calls answered", time.Minute, answered(w, 10))
	away := w.clk.Now()
	w.proxy.Cut(time.Hour)          // the network: the switch and its calls go on
	w.clk.Advance(10 * time.Second) // calls end while nobody listens
	w.proxy.Cut(0)                  // back
	back := w.clk.Now()
	w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
	checkNothingLost(t, w, c, ids)
	checkAgainstSwitch(t, w, c, away, back)
}

// checkAgainstSwitch compares the campaign's call records with the
// switch's own record of every channel it made: one record per call, with
// the switch's cause and bill time; no number with two live channels at
// once; every member called once (each first call was a success, so a
// second call would be a redial of a member already reached). Some calls
// must have ended between away and back, or the test proves less than it
// claims.
func checkAgainstSwitch(t *testing.T, w *world, c *store.Campaign, away, back time.Time) {
	t.Helper()
	led := w.sw.Ledger()
	if o := led.Overlaps(); len(o) > 0 {
		t.Errorf("numbers with two live channels at once: %+v", o)
	}
	records := map[string]store.CallRecord{}
	for _, h := range history(w, c) {
		for _, r := range h {
			records[r.Attempt] = r
		}
	}
	perMember := map[string]int{}
	endedAway := 0
	for _, call := range led.Calls {
		if call.Variables["dialer_campaign_id"] != c.ID {
			continue
		}
		perMember[call.Variables["dialer_member_id"]]++
		if !call.HungUp.Before(away) && !call.HungUp.After(back) {
			endedAway++
		}
		rec, ok := records[call.UUID]
		switch {
		case !ok:
			t.Errorf("call %s to %s has no call record", call.UUID, call.Destination)
		case rec.Cause != call.HangupCause || rec.BillMsec != call.Billmsec:
			t.Errorf("call %s: recorded %s after %d ms, the switch says %s after %d ms", call.UUID, rec.Cause, rec.BillMsec, call.HangupCause, call.Billmsec)
		}
	}
	for member, n := range perMember {
		if n != 1 {
			t.Errorf("member %s was called %d times", member, n)
		}
	}
	if endedAway == 0 {
		t.Error("no call ended while the dialer was away: the test proves less than it claims")
	}
}

// TestRedisOutage: Redis stops answering with calls up. Dialing stops,
// calls go on, their results wait in the dialer and are written when Redis
// is back.
func TestRedisOutage(t *testing.T) {
	w := newWorld(t, robustScenario)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics = metrics }
	w.startEngine()
	c, ids := robustCampaign(w, 20)
	w.start(c)
	w.runUntil("ten calls answered", time.Minute, answered(w, 10))
	if err := w.redis.Pause(); err != nil {
		t.Fatal(err)
	}
	sent := placedBy(w, c.ID)
	w.runUntil("40 s of outage", time.Minute, after(w, 40*time.Second)) // every call of the first batch ends
	if now := placedBy(w, c.ID); now != sent {
		t.Fatalf("%d originates during the outage", now-sent)
	}
	w.waitReal("the results of the ended calls wait in the dialer", 30*time.Second, func() bool {
		return testutil.ToFloat64(metrics.PendingWrites) >= 5
	})
	if now := placedBy(w, c.ID); now != sent {
		t.Fatalf("%d originates during the outage", now-sent)
	}
	if err := w.redis.Resume(); err != nil {
		t.Fatal(err)
	}
	w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
	checkNothingLost(t, w, c, ids)
}
