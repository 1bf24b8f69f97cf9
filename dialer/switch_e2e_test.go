package dialer_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/internal/syncbuf"
	"github.com/fsdialer/fsdialer/store"
)

// TestThrottledOriginatesAreNotAttempts: FreeSWITCH refuses sessions past
// its sessions-per-second with -ERR DESTINATION_OUT_OF_ORDER and no
// channel. A dialer sending faster than that must not count the refusals:
// every attempt a member is charged is a channel the switch made.
func TestThrottledOriginatesAreNotAttempts(t *testing.T) {
	w := newWorld(t, `
seed: 8
gateways: [{name: gw}]
sessions_per_second: 5
default: {busy: 1, setup: 0.2}
`)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics, c.CallsPerSecond = metrics, -1 } // as fast as it can
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Parameters.Limit, c.Parameters.MaxTryCount, c.Parameters.IntervalTryCount = 40, 2, 5
	})
	var ms []*store.Member
	for i := 0; i < 40; i++ {
		ms = append(ms, mem(fmt.Sprintf("2%07d", i)))
	}
	ids := w.add(c, ms...)
	w.start(c)
	w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
	throttled := 0
	for _, l := range w.sw.Ledger().Logs {
		if strings.Contains(l.Text, "Throttle Error") {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("the switch refused nothing: the test proves less than it claims")
	}
	if refused := testutil.ToFloat64(metrics.Refused.WithLabelValues("fs1", "DESTINATION_OUT_OF_ORDER")); refused != float64(throttled) {
		t.Errorf("dialer_originates_refused_total %v, the switch refused %d", refused, throttled)
	}
	channels := map[string]int{}
	for _, call := range w.sw.Calls() {
		if call.Variables["dialer_campaign_id"] == c.ID {
			channels[call.Variables["dialer_member_id"]]++
		}
	}
	for _, id := range ids {
		m, _ := w.member(c, id)
		if m.EndCause != dialer.EndMaxTryCount || m.Attempts != 2 || channels[id] != 2 {
			t.Errorf("member %s: %s after %d attempts, %d channels on the switch; want MAX_TRY_COUNT after 2 real calls", id, m.EndCause, m.Attempts, channels[id])
		}
	}
}

// TestUnknownGatewayTakesTheJobsCause: FreeSWITCH sends CHANNEL_DESTROY
// without a Hangup-Cause, then BACKGROUND_JOB -ERR INVALID_GATEWAY
// (fs-captures/invalid_gateway.esl). The job's cause decides: an Error
// cause in the default table, so each member ends after one attempt with
// it, and the attempts show as errors (what the failing-calls alert
// watches), instead of a NORMAL_CLEARING retried forever.
func TestUnknownGatewayTakesTheJobsCause(t *testing.T) {
	w := newWorld(t, robustScenario)
	metrics := dialer.NewMetrics(nil)
	w.cfg = func(c *dialer.Config) { c.Metrics = metrics }
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Resources[0].Destinations[0].GwName = "gw-typo"
		c.Parameters.MaxTryCount = 0 // no limit: only the cause can end them
	})
	ids := w.add(c, mem("+380911000001"), mem("+380911000002"))
	w.start(c)
	w.runUntil("both members done", 10*time.Minute, w.ended(c, ids...))
	for _, id := range ids {
		m, _ := w.member(c, id)
		if m.EndCause != "INVALID_GATEWAY" || m.Attempts != 1 {
			t.Errorf("member %s: %q after %d attempts; want INVALID_GATEWAY after 1", id, m.EndCause, m.Attempts)
		}
	}
	if n := testutil.ToFloat64(metrics.Results.WithLabelValues(c.ID, "error")); n != 2 {
		t.Errorf("%v attempts counted as errors, want 2", n)
	}
}

// After a reconnect the dialer says what it found: calls still up, ended
// (by the switch's record), never placed, lost.
func TestReconnectIsLogged(t *testing.T) {
	w := newWorld(t, robustScenario)
	var logs syncbuf.Buffer
	w.cfg = func(c *dialer.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }
	w.startEngine()
	c, ids := robustCampaign(w, 20)
	w.start(c)
	w.runUntil("ten calls answered", time.Minute, answered(w, 10))
	w.proxy.Cut(time.Hour)          // the network: the switch and its calls go on
	w.clk.Advance(10 * time.Second) // calls end while nobody listens
	w.proxy.Cut(0)                  // back
	w.runUntil("all members done", 30*time.Minute, w.ended(c, ids...))
	// The round is logged when its last answer is in, which may be after
	// the members were written.
	line := ""
	w.runUntil("the round logged", time.Minute, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "calls reconciled with the switch") && strings.Contains(l, "after=reconnected") {
				line = l
			}
		}
		return line != ""
	})
	if line == "" || !strings.Contains(line, "lost=0") || strings.Contains(line, "ended_by_switch_record=0 ") || strings.Contains(line, "still_up=0 ") {
		t.Fatalf("reconcile log line %q in:\n%s", line, logs.String())
	}
}

// TestMemberStoredBeforeTheChecks: a member whose variables were stored
// before the API refused such values is never put in a command: it ends
// DIALER_INVALID_MEMBER without a call, and once fixed and reset it is
// dialed.
func TestMemberStoredBeforeTheChecks(t *testing.T) {
	w := newWorld(t, robustScenario)
	w.startEngine()
	c := w.campaign(nil)
	ids := w.add(c, mem("+380911000009"))
	// what an older version let in: a value that would end the {} block
	key := "dialer:{" + c.ID + "}:members"
	raw, err := w.st.Client().HGet(t.Context(), key, ids[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	raw = strings.Replace(raw, `{"v":1,`, `{"v":1,"var":{"note":"x}sofia/gateway/evil/1"},`, 1)
	if err := w.st.Client().HSet(t.Context(), key, ids[0], raw).Err(); err != nil {
		t.Fatal(err)
	}
	w.start(c)
	w.runUntil("the member ended", time.Minute, w.ended(c, ids...))
	if m, _ := w.member(c, ids[0]); m.EndCause != dialer.EndInvalidMember || m.Attempts != 0 {
		t.Fatalf("member: %q after %d attempts", m.EndCause, m.Attempts)
	}
	if n := len(w.sw.Calls()); n != 0 {
		t.Fatalf("%d calls placed", n)
	}
	fixed := mem("+380911000009")
	fixed.Variables = map[string]any{"note": "fixed"}
	if _, _, err := w.eng.UpdateMember(t.Context(), c.ID, ids[0], fixed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.eng.ResetRetries(t.Context(), c.ID, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.StartCampaign(t.Context(), c.ID); err != nil { // it finished meanwhile
		t.Fatal(err)
	}
	w.runUntil("the member is called", 5*time.Minute, func() bool { return len(w.sw.Calls()) == 1 })
	if v := w.sw.Calls()[0].Variables["note"]; v != "fixed" {
		t.Fatalf("variable %q", v)
	}
}

// TestStopWithoutItsCalendar: a stop takes effect even when the campaign's
// calendar can no longer be read (the old runner read it first, failed, and
// went on claiming members).
func TestStopWithoutItsCalendar(t *testing.T) {
	w := newWorld(t, robustScenario)
	w.startEngine()
	cal := &store.Calendar{Name: "always", Timezone: "UTC"}
	for d := 1; d <= 7; d++ {
		cal.Week = append(cal.Week, store.WorkRange{Day: d, StartTime: 0, EndTime: 1440})
	}
	if err := w.st.CreateCalendar(t.Context(), cal, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	c := w.campaign(func(c *store.Campaign) { c.Calendar.ID = cal.ID; c.Parameters.Limit = 2 })
	var ms []*store.Member
	for i := 0; i < 10; i++ {
		ms = append(ms, mem(fmt.Sprintf("+3809110%05d", i)))
	}
	w.add(c, ms...)
	w.start(c)
	w.runUntil("a call", time.Minute, func() bool { return len(w.sw.Calls()) > 0 })
	if err := w.st.Client().HDel(t.Context(), "dialer:calendars", cal.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.StopCampaign(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	before := len(w.sw.Calls())
	w.runUntil("two minutes", 3*time.Minute, after(w, 2*time.Minute))
	if n := len(w.sw.Calls()); n != before {
		t.Fatalf("%d calls placed after the stop", n-before)
	}
}
