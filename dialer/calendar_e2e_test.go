package dialer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

const worldScenario = `
seed: 9
gateways: [{name: gw}]
default: {answer: 1, ring: 1, talk: 60}
playback: {mean: 8}
`

func officeHours(t *testing.T, w *world, tz string, edit func(*store.Calendar)) *store.Calendar {
	t.Helper()
	cal := &store.Calendar{Name: "office", Timezone: tz}
	for d := 1; d <= 7; d++ {
		cal.Week = append(cal.Week, store.WorkRange{Day: d, StartTime: 9 * 60, EndTime: 18 * 60})
	}
	if edit != nil {
		edit(cal)
	}
	if err := w.st.CreateCalendar(context.Background(), cal, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	return cal
}

// TestCallsOnlyInLocalHours: the calendar's hours hold in each person's
// time zone: their own, else their number's, else the calendar's.
func TestCallsOnlyInLocalHours(t *testing.T) {
	w := newWorld(t, worldScenario)
	w.startEngine()
	cal := officeHours(t, w, "Europe/Kyiv", nil)
	c := w.campaign(func(c *store.Campaign) { c.Calendar.ID = cal.ID })
	tokyo := mem("+380911111112")
	tokyo.Timezone = "Asia/Tokyo"
	ids := w.add(c,
		mem("+380911111111"), // Kyiv by its number: 12:00 there, called now
		mem("+12125551234"),  // New York by its number: 05:00 there, called at 09:00 EST = 14:00 UTC
		tokyo,                // Tokyo by the member's zone: 19:00 there, called at 09:00 JST = 00:00 UTC
	)
	w.start(c)
	w.runUntil("the Kyiv member is called", 10*time.Second, func() bool { return len(w.obs.calls(ids[0])) > 0 })
	w.step = 30 * time.Second
	w.runUntil("the three are called", 16*time.Hour, w.ended(c, ids...))
	for i, want := range []time.Time{epoch, time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)} {
		calls := w.obs.calls(ids[i])
		if len(calls) != 1 {
			t.Fatalf("member %d called %d times: %+v; records %+v", i, len(calls), calls, history(w, c)[ids[i]])
		}
		// Never before the hour; soon after it, give or take a loaded
		// machine's goroutines falling behind the 30 s clock steps.
		if at := calls[0].at; at.Before(want) || at.After(want.Add(10*w.step)) {
			t.Errorf("member %d called at %v, want %v", i, at.UTC(), want)
		}
	}
}

// TestCallsAcrossTheDSTChange: 09:00 in New York is 14:00 UTC on Saturday
// and 13:00 UTC on Sunday, when summer time begins.
func TestCallsAcrossTheDSTChange(t *testing.T) {
	w := newWorldAt(t, worldScenario, time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC))
	w.step = 30 * time.Second
	w.startEngine()
	cal := officeHours(t, w, "America/New_York", func(c *store.Calendar) {
		for i := range c.Week {
			c.Week[i].EndTime = 9*60 + 30
		}
	})
	c := w.campaign(func(c *store.Campaign) {
		c.Calendar.ID = cal.ID
		c.Parameters.IntervalTryCount, c.Parameters.MinBillSec = 3600, 120 // 8 s of message: never long enough
	})
	ids := w.add(c, mem("+12125550001"))
	w.start(c)
	w.runUntil("two calls", 40*time.Hour, func() bool { return len(w.obs.calls(ids[0])) >= 2 })
	calls := w.obs.calls(ids[0])
	for i, want := range []time.Time{time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC)} {
		if at := calls[i].at; at.Before(want) || at.After(want.Add(10*w.step)) { // late only on a loaded machine
			t.Errorf("call %d at %v, want %v; call records %+v", i, at.UTC(), want, history(w, c)[ids[0]])
		}
	}
}

// TestCalendarPeriodEndFinishesTheCampaign.
func TestCalendarPeriodEndFinishesTheCampaign(t *testing.T) {
	w := newWorld(t, worldScenario)
	w.step = time.Minute
	w.startEngine()
	cal := officeHours(t, w, "Europe/Kyiv", func(c *store.Calendar) { c.EndDate = "2026-11-23" })
	c := w.campaign(func(c *store.Campaign) {
		c.Calendar.ID = cal.ID
		c.Parameters.MinBillSec, c.Parameters.MaxTryCount, c.Parameters.IntervalTryCount = 120, 0, 3600
	})
	ids := w.add(c, mem("+380911111111"))
	w.start(c)
	w.runUntil("the campaign finishes at the end of its last day", 16*time.Hour, func() bool {
		got, _ := w.st.GetCampaign(context.Background(), c.ID)
		return got.State == store.StateFinished
	})
	if now := w.clk.Now(); now.Before(time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)) {
		t.Fatalf("finished at %v, before midnight in Kyiv", now)
	}
	if m, st := w.member(c, ids[0]); st != store.MemberWaiting && st != store.MemberReady || m.EndCause != "" {
		t.Fatalf("the member was lost: %s %q", st, m.EndCause)
	}
}

// TestCommunicationTypeRangesE2E: a type-1 number may only be called
// 09:00-10:00 (member time); a type-2 number 12:00-13:00.
func TestCommunicationTypeRangesE2E(t *testing.T) {
	w := newWorldAt(t, worldScenario, time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)) // 07:00 in Kyiv
	w.step = 30 * time.Second
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) {
		c.Parameters.MinBillSec, c.Parameters.IntervalTryCount, c.Parameters.MaxTryCount = 120, 60, 0
		c.Communications.Types = []store.CommType{
			{Code: "1", Ranges: []store.TimeRange{{StartTime: 9 * 60, EndTime: 10 * 60, Attempts: 1, Priority: 5}}},
			{Code: "2", Ranges: []store.TimeRange{{StartTime: 12 * 60, EndTime: 13 * 60, Attempts: 1, Priority: 5}}},
		}
	})
	m := mem("+380911111111", "+380922222222")
	m.Communications[0].Type, m.Communications[1].Type = "1", "2"
	ids := w.add(c, m)
	w.start(c)
	w.runUntil("both numbers dialed", 8*time.Hour, func() bool { return len(w.obs.calls(ids[0])) >= 2 })
	calls := w.obs.calls(ids[0])
	kyiv, _ := time.LoadLocation("Europe/Kyiv")
	if calls[0].dest != "+380911111111" || calls[0].at.In(kyiv).Hour() != 9 || calls[1].dest != "+380922222222" || calls[1].at.In(kyiv).Hour() != 12 {
		t.Fatalf("dialed %s at %v and %v", dests(calls), calls[0].at.In(kyiv), calls[1].at.In(kyiv))
	}
}

// TestCalendarChangeAppliesAtOnce: when a running campaign's calendar is
// closed early, no call starts once the change is answered (not at the
// engine's next look at the campaign, up to a second later).
func TestCalendarChangeAppliesAtOnce(t *testing.T) {
	w := newWorld(t, "gateways: [{name: gw}]\ndefault: {busy: 1, setup: 0.3}") // a call every 0.3 s
	w.startEngine()
	cal := officeHours(t, w, "UTC", nil) // the epoch is 10:00 UTC: open
	c := w.campaign(func(c *store.Campaign) { c.Calendar.ID = cal.ID; c.Parameters.Limit = 1 })
	var ms []*store.Member
	for i := range 20 {
		ms = append(ms, mem(fmt.Sprintf("+38091111%04d", i)))
	}
	w.add(c, ms...)
	w.start(c)
	w.runUntil("calls go out", time.Minute, func() bool { return len(w.obs.calls("")) >= 3 })
	for i := range cal.Week {
		cal.Week[i].StartTime, cal.Week[i].EndTime = 18*60, 20*60
	}
	if err := w.st.UpdateCalendar(t.Context(), cal, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.eng.CalendarChanged(t.Context(), cal.ID); err != nil {
		t.Fatal(err)
	}
	closed, before := w.clk.Now(), len(w.obs.calls(""))
	w.runUntil("a minute", time.Minute, func() bool { return w.clk.Now().Sub(closed) >= time.Minute })
	for _, call := range w.obs.calls("")[before:] {
		// One sent before the change may be seen just after it, at the
		// same instant of the stopped clock: only a later one is wrong.
		if call.at.After(closed) {
			t.Errorf("a call at %v, after the calendar closed at %v", call.at.UTC(), closed.UTC())
		}
	}
}

// TestUSProfileCallsFrom8To21Local: under the US compliance profile, with
// no calendar, a person is called only from 8:00 to 21:00 their time.
func TestUSProfileCallsFrom8To21Local(t *testing.T) {
	w := newWorld(t, worldScenario)
	w.startEngine()
	c := w.campaign(func(c *store.Campaign) { c.Compliance = store.ComplianceUS })
	ids := w.add(c,
		mem("+380911111111"), // Kyiv: 12:00 there, called now
		mem("+12125551234"),  // New York: 05:00 there, called at 08:00 EST = 13:00 UTC
	)
	w.start(c)
	w.runUntil("the Kyiv member is called", 10*time.Second, func() bool { return len(w.obs.calls(ids[0])) > 0 })
	w.step = 30 * time.Second
	w.runUntil("both are called", 6*time.Hour, w.ended(c, ids...))
	want := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	calls := w.obs.calls(ids[1])
	if len(calls) != 1 || calls[0].at.Before(want) || calls[0].at.After(want.Add(10*w.step)) {
		t.Fatalf("the New York member's calls %+v, want one soon after %v", calls, want)
	}
}
