package dialer_test

import (
	"testing"
	"time"
)

// TestDoNotCallListsAtPlacement: a number on the global list, or on the
// campaign's (by itself or by a prefix), is never dialed, by the switch's
// record; it is stopped with DNC_LISTED in the member's history and the
// member's other numbers are dialed; a member whose every number is
// listed ends DNC_LISTED. Another campaign's list does not count.
func TestDoNotCallListsAtPlacement(t *testing.T) {
	w := newWorld(t, "gateways: [{name: gw}]\ndefault: {answer: 1, ring: 2, talk: 30}\nplayback: 5\n")
	w.startEngine()
	c := w.campaign(nil)
	ctx := t.Context()
	for _, l := range []struct {
		campaign string
		entries  []string
	}{
		{"", []string{"+380911000001"}},
		{c.ID, []string{"38092*", "380913000003"}},
		{"another", []string{"380914000004"}},
	} {
		if _, err := w.st.AddDNC(ctx, l.campaign, l.entries); err != nil {
			t.Fatal(err)
		}
	}
	ids := w.add(c,
		mem("+380911000001"),                  // global list: never dialed
		mem("+380920000002", "+380912000002"), // the first by the campaign's prefix: the second dialed
		mem("+380913000003", "+380925555555"), // both listed
		mem("+380914000004"),                  // on another campaign's list only
	)
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	want := []struct {
		cause  string
		dialed string
		dnc    int // history entries DNC_LISTED
	}{
		{"DNC_LISTED", "", 1},
		{"NORMAL_CLEARING", "+380912000002", 1},
		{"DNC_LISTED", "", 2},
		{"NORMAL_CLEARING", "+380914000004", 0},
	}
	dialed := map[string]int{}
	for _, call := range w.sw.Calls() {
		dialed[call.Destination]++
	}
	for i, id := range ids {
		m, _ := w.member(c, id)
		dnc := 0
		for _, h := range m.History {
			if h.Cause == "DNC_LISTED" {
				dnc++
			}
		}
		if m.EndCause != want[i].cause || dnc != want[i].dnc {
			t.Errorf("member %d: ended %s with %d DNC_LISTED in its history %+v, want %s and %d", i, m.EndCause, dnc, m.History, want[i].cause, want[i].dnc)
		}
		for _, cm := range m.Communications {
			if n := dialed[cm.Number]; cm.Number != want[i].dialed && n > 0 || cm.Number == want[i].dialed && n != 1 {
				t.Errorf("member %d: the switch dialed %s %d times", i, cm.Number, n)
			}
		}
	}
	if len(dialed) != 2 {
		t.Errorf("the switch dialed %v, want the two numbers no list has", dialed)
	}
}
