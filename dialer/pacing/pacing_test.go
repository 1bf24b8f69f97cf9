package pacing_test

import (
	"testing"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/dialer/pacing"
)

func TestLinesFillsFreeLines(t *testing.T) {
	ringing := pacing.Flight{State: attempt.Ringing}
	for _, tc := range []struct {
		lines, inFlight, want int
	}{
		{10, 0, 10}, {10, 4, 6}, {10, 10, 0}, {3, 5, 0}, {0, 0, 0},
	} {
		v := pacing.View{Lines: tc.lines}
		for i := 0; i < tc.inFlight; i++ {
			v.InFlight = append(v.InFlight, ringing)
		}
		if got := (pacing.Lines{}).Calls(v); got != tc.want {
			t.Errorf("%d lines, %d in flight: %d calls, want %d", tc.lines, tc.inFlight, got, tc.want)
		}
	}
}

func TestPredictive(t *testing.T) {
	flights := func(states ...attempt.State) []pacing.Flight {
		var out []pacing.Flight
		for _, s := range states {
			out = append(out, pacing.Flight{State: s})
		}
		return out
	}
	// a quarter of the calls answered, no abandon yet
	quarter := pacing.Windows{CallsHour: 100, LiveHour: 25, LiveDay: 25, LiveMonth: 25}
	base := func() pacing.View {
		return pacing.View{Lines: 100, Target: 2.5, Max: 3, Window: "24h", Completed: 500, PredictAdjust: 150,
			Agents: pacing.Agents{Idle: 4}, Abandon: quarter}
	}
	for _, tc := range []struct {
		name string
		edit func(v *pacing.View)
		want int
	}{
		{"under the target: 1/answer rate per agent, raised by 10 % a point", func(v *pacing.View) {}, 20},
		{"calls ringing count against it", func(v *pacing.View) { v.InFlight = flights(attempt.Ringing, attempt.Originating) }, 18},
		{"answers waiting take agents first", func(v *pacing.View) { v.InFlight = flights(attempt.WaitingAgent) }, 15},
		{"bridged calls take no ready agent", func(v *pacing.View) { v.InFlight = flights(attempt.Bridged, attempt.Bridged) }, 20},
		{"warm-up: progressive until predictAdjust attempts", func(v *pacing.View) { v.Completed = 149 }, 4},
		{"no history yet: progressive", func(v *pacing.View) { v.Abandon = pacing.Windows{} }, 4},
		{"at the ceiling over the window: progressive", func(v *pacing.View) {
			v.Abandon.AbandonedDay, v.Abandon.LiveDay = 3, 100
		}, 4},
		{"the ceiling is held over the campaign's window", func(v *pacing.View) {
			v.Window, v.Abandon.AbandonedDay, v.Abandon.LiveDay = "30d", 3, 100
		}, 20},
		{"between target and ceiling: less, never under one per agent", func(v *pacing.View) {
			v.Abandon.AbandonedHour = 1 // 4 % of 25 live answers: over the ceiling in the hour, under it in the window
			v.Abandon.LiveDay = 1000
		}, 4},
		{"the lines bound it", func(v *pacing.View) { v.Lines = 10; v.InFlight = flights(attempt.Ringing, attempt.Ringing) }, 8},
		{"no agent ready: nothing", func(v *pacing.View) { v.Agents.Idle = 0 }, 0},
		{"rare answers: at most 20 calls per agent", func(v *pacing.View) { v.Abandon.LiveHour = 0 }, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := base()
			tc.edit(&v)
			if got := (pacing.Predictive{}).Calls(v); got != tc.want {
				t.Fatalf("%d calls, want %d", got, tc.want)
			}
		})
	}
}

func TestAbandonRate(t *testing.T) {
	w := pacing.Windows{LiveHour: 50, AbandonedHour: 1, LiveDay: 400, AbandonedDay: 10, LiveMonth: 0}
	for window, want := range map[string]float64{"1h": 2, "24h": 2.5, "30d": 0} {
		if got := w.Rate(window); got != want {
			t.Errorf("%s: %g, want %g", window, got, want)
		}
	}
	// The UK rule: a tenth of 100 machine verdicts taken for people, who
	// heard nobody: 10 more live answers, 10 more abandoned.
	w.MachineDay, w.FalseMachine = 100, 0.1
	if got, want := w.Rate("24h"), 100*20.0/410; got != want {
		t.Errorf("with AMD's estimated false positives: %g, want %g", got, want)
	}
}

func TestCountFillsEveryWindow(t *testing.T) {
	var w pacing.Windows
	w.Count(true, false, false)
	w.Count(true, true, false)
	w.Count(false, false, true)
	want := pacing.Windows{CallsHour: 3, LiveHour: 2, LiveDay: 2, LiveMonth: 2, AbandonedHour: 1, AbandonedDay: 1, AbandonedMonth: 1,
		MachineHour: 1, MachineDay: 1, MachineMonth: 1}
	if w != want {
		t.Fatalf("%+v, want %+v", w, want)
	}
}
