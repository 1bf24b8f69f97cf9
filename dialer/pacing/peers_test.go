package pacing_test

import (
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/pacing"
)

func inFlight(n int, s attempt.State) []pacing.Flight {
	out := make([]pacing.Flight, n)
	for i := range out {
		out[i].State = s
	}
	return out
}

func busy(n int) []time.Duration { return make([]time.Duration, n) }

// Webitel v1 on views worked out by hand: 4 ready, 6 in a call (their 6
// calls in flight), 100 lines.
func TestWebitelV1(t *testing.T) {
	base := func() pacing.View {
		return pacing.View{Lines: 100, Target: 2.5, Max: 3, InFlight: inFlight(6, attempt.Bridged),
			Agents: pacing.Agents{Idle: 4, InCall: busy(6)}}
	}
	for _, tc := range []struct {
		name string
		edit func(v *pacing.View)
		want int
	}{
		{"warm-up, under 10 bridged: a line per logged-in agent", func(v *pacing.View) {
			v.Agents.WrapUp = busy(2) // 12 logged in, 6 calls up
			v.Completed, v.Abandon.LiveMonth = 50, 9
		}, 6},
		{"under 200 calls: adj 35; p = 40/100; ceil(4 + 4*0.6*0.35) + 6 lines", func(v *pacing.View) {
			v.Completed, v.Abandon.LiveMonth = 100, 40
		}, 5},
		{"past 200 calls, 1 % abandoned of all calls: s = 1.5, adj at its 1000 cap", func(v *pacing.View) {
			v.Completed, v.Abandon.LiveMonth, v.Abandon.AbandonedMonth = 1000, 300, 10 // p = 0.29: ceil(4 + 4*0.71*10) = 33
		}, 33},
		{"4 % abandoned: s = -1.5, adj rounds to 0: one line per agent", func(v *pacing.View) {
			v.Completed, v.Abandon.LiveMonth, v.Abandon.AbandonedMonth = 1000, 300, 40
		}, 4},
		{"bounded by the free lines", func(v *pacing.View) {
			v.Lines, v.Completed, v.Abandon.LiveMonth, v.Abandon.AbandonedMonth = 20, 1000, 300, 10
		}, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := base()
			tc.edit(&v)
			if got := (pacing.WebitelV1{}).Calls(v); got != tc.want {
				t.Fatalf("%d calls, want %d", got, tc.want)
			}
		})
	}
}

// Webitel v2: a quarter of the hour's attempts answered live, 4 ready, 2
// ringing; the factor is refreshed every 30 s.
func TestWebitelV2(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	view := func(at time.Duration, calls, live, abandoned int64) pacing.View {
		return pacing.View{Lines: 100, Target: 2.5, Max: 3, Now: t0.Add(at), InFlight: inFlight(2, attempt.Ringing),
			Agents: pacing.Agents{Idle: 4}, Abandon: pacing.Windows{CallsHour: calls, LiveHour: live, AbandonedHour: abandoned}}
	}
	p := &pacing.WebitelV2{}
	for _, step := range []struct {
		name string
		v    pacing.View
		want int
	}{
		{"no abandon: over 4, raised 25 %: ceil(4*5) less 2 ringing", view(0, 100, 25, 0), 18},
		{"10 s on, over the ceiling: the factor is not refreshed yet", view(10*time.Second, 100, 25, 1), 18},
		{"30 s on: 4 % is at or over Max: progressive", view(30*time.Second, 100, 25, 1), 2},
		{"2.8 % between target and Max: 4*(0.2)*110/300 per agent", view(time.Minute, 1000, 250, 7), 0},
		{"no live answer in the hour: progressive", view(2*time.Minute, 100, 0, 0), 2},
	} {
		if got := p.Calls(step.v); got != step.want {
			t.Errorf("%s: %d calls, want %d", step.name, got, step.want)
		}
	}
}

// VICIdial: 4 ready, 6 in a call and their 6 calls; each 15 s of 4 ready
// and none waiting multiplies the level by 1 + 4/10.
func TestVICIdial(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	view := func(sec int, liveDay, abandonedDay int64) pacing.View {
		return pacing.View{Lines: 100, Target: 2.5, Max: 3, Now: t0.Add(time.Duration(sec) * time.Second),
			InFlight: inFlight(6, attempt.Bridged), Agents: pacing.Agents{Idle: 4, InCall: busy(6), WrapUp: busy(3)},
			Abandon: pacing.Windows{LiveDay: liveDay, AbandonedDay: abandonedDay}}
	}
	// run feeds a view a second from..to and returns the last answer.
	run := func(p *pacing.VICIdial, from, to int, liveDay, abandonedDay int64) int {
		var got int
		for s := from; s <= to; s++ {
			got = p.Calls(view(s, liveDay, abandonedDay))
		}
		return got
	}
	for _, tc := range []struct {
		name  string
		hard  bool
		shift time.Duration
		want  []int // after 0, 15, 30, 45, 60 s; then over the limit at 75 s
	}{
		// levels 1, 1.4, 1.96, 2.744, 3 (capped): round(level*10) - 6
		{"hard limit: over the drop limit, level 1", true, 0, []int{4, 8, 14, 21, 24, 4}},
		{"tapered, first half of the shift: runs over", false, 8 * time.Hour, []int{4, 8, 14, 21, 24, 24}},
		{"tapered, second half: the level halves", false, 2 * time.Minute, []int{4, 8, 14, 21, 24, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pacing.VICIdial{HardLimit: tc.hard, ShiftStart: t0, Shift: tc.shift}
			var got []int
			got = append(got, run(p, 0, 0, 100, 0))
			for end := 15; end <= 60; end += 15 {
				got = append(got, run(p, end-14, end, 100, 0))
			}
			got = append(got, run(p, 61, 75, 100, 4))
			if len(got) != len(tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestStatic(t *testing.T) {
	for _, tc := range []struct {
		ratio          float64
		idle, ringing  int
		waiting, lines int
		want           int
	}{
		{2.5, 4, 3, 0, 100, 7},
		{2.5, 4, 3, 1, 100, 5}, // a live answer waits: it takes a ready agent
		{0.5, 4, 0, 0, 100, 4}, // never under one per agent
		{2.5, 4, 3, 0, 8, 5},   // the free lines bound it
		{2.5, 0, 0, 0, 100, 0},
	} {
		v := pacing.View{Lines: tc.lines, Agents: pacing.Agents{Idle: tc.idle},
			InFlight: append(inFlight(tc.ringing, attempt.Ringing), inFlight(tc.waiting, attempt.WaitingAgent)...)}
		if got := (pacing.Static{Ratio: tc.ratio}).Calls(v); got != tc.want {
			t.Errorf("%+v: %d calls, want %d", tc, got, tc.want)
		}
	}
}
