package pacing

import (
	"math"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// forecastView: past the warm-up, 30 % of the hour's 1000 attempts live,
// no abandon, 100 lines.
func forecastView() View {
	return View{Lines: 100, Target: 2.5, Max: 3, Window: "24h", Completed: 1000, PredictAdjust: 150, Now: t0,
		Abandon: Windows{CallsHour: 1000, LiveHour: 300, LiveDay: 300, LiveMonth: 300}}
}

func flightsOf(states ...attempt.State) []Flight {
	var out []Flight
	for _, s := range states {
		out = append(out, Flight{State: s})
	}
	return out
}

// What the forecast must do, each compared with a base view: more calls
// for more supply, fewer for more demand or a worse record.
func TestForecastDirections(t *testing.T) {
	calls := func(edit func(v *View)) int {
		v := forecastView()
		v.Agents = Agents{Idle: 3, InCall: []time.Duration{30 * time.Second, 90 * time.Second}, WrapUp: []time.Duration{20 * time.Second}}
		edit(&v)
		return (&Forecast{}).Calls(v)
	}
	base := calls(func(*View) {})
	if base < 3 {
		t.Fatalf("base: %d calls for 3 ready agents at 30 %% answers", base)
	}
	for _, tc := range []struct {
		name string
		edit func(v *View)
		more bool // more calls than the base, else fewer
	}{
		{"more ready agents", func(v *View) { v.Agents.Idle = 6 }, true},
		{"a wrap-up that ends in time", func(v *View) { v.Agents.WrapUp[0] = time.Second }, true},
		{"live answers waiting", func(v *View) { v.InFlight = flightsOf(attempt.WaitingAgent, attempt.WaitingAgent) }, false},
		{"calls just placed", func(v *View) { v.InFlight = flightsOf(attempt.Originating, attempt.Originating, attempt.Originating) }, false},
		{"a lower answer rate: more calls per agent", func(v *View) { v.Abandon.LiveHour, v.Abandon.LiveDay = 100, 100 }, true},
		{"near the ceiling over the window", func(v *View) { v.Abandon.AbandonedDay = 9 }, false},
	} {
		if got := calls(tc.edit); got == base || (got > base) != tc.more {
			t.Errorf("%s: %d calls, base %d, want more: %v", tc.name, got, base, tc.more)
		}
	}
	// an old ringing call is less likely an answer than a new one
	young := calls(func(v *View) { v.InFlight = []Flight{{State: attempt.Ringing, Age: time.Second}} })
	old := calls(func(v *View) { v.InFlight = []Flight{{State: attempt.Ringing, Age: 25 * time.Second}} })
	if old < young {
		t.Errorf("a call ringing 25 s takes more (%d calls) than one ringing 1 s (%d)", old, young)
	}
}

func TestForecastLinesAndCeiling(t *testing.T) {
	v := forecastView()
	v.Agents.Idle, v.InFlight = 5, flightsOf(attempt.Ringing, attempt.WaitingAgent)
	v.Lines = 6
	if got := (&Forecast{}).Calls(v); got != 4 {
		t.Errorf("6 lines, 2 in flight: %d calls, want 4", got)
	}
	v.Agents.Idle, v.InFlight = 0, nil
	if got := (&Forecast{}).Calls(v); got != 0 {
		t.Errorf("no agent at all: %d calls", got)
	}
	// Over the ceiling over the window by more than chance explains,
	// progressive: one call per ready agent (the predictive crash test's
	// world reached 37 % with Forecast still dialing ahead of 20 idle
	// agents). At it by chance, next to no risk: fewer calls than under
	// it, but ahead of the ready agents still.
	calls := func(abandoned int64) int {
		v := forecastView()
		v.Agents.Idle, v.InFlight = 20, flightsOf(attempt.Ringing, attempt.Ringing)
		v.Abandon.AbandonedDay = abandoned // of 300 live answers
		return (&Forecast{}).Calls(v)
	}
	under, atByChance, over := calls(8), calls(9), calls(17)
	if over != 18 {
		t.Errorf("17 abandons of 300 (over 3 %% by more than 1 + 2 standard deviations): %d calls, want 18 (20 ready, 2 calls ringing)", over)
	}
	if atByChance <= 18 || atByChance >= under {
		t.Errorf("9 abandons of 300 (at 3 %%): %d calls, want between 18 and the %d under the ceiling", atByChance, under)
	}
	if got := calls(16); got != atByChance {
		t.Errorf("16 abandons of 300 (over 3 %% by chance): %d calls, want %d as at 9", got, atByChance)
	}
}

// The fewest abandons over a 3 % ceiling that chance does not explain:
// more than 3 % of the live answers, one abandon, and two standard
// deviations.
func TestOverCeiling(t *testing.T) {
	for _, tc := range []struct {
		live, abandoned int64
		want            bool
	}{
		{0, 0, false},
		{1, 1, false}, // a window's first abandon
		{5, 1, false},
		{5, 2, true},
		{11, 2, false},
		{11, 3, true},
		{50, 4, false},
		{50, 5, true},
		{300, 16, false},
		{300, 17, true},
	} {
		w := Windows{LiveDay: tc.live, AbandonedDay: tc.abandoned}
		if got := overCeiling(w, "24h", 0.03); got != tc.want {
			t.Errorf("%d abandons of %d live answers: over the ceiling %v, want %v", tc.abandoned, tc.live, got, tc.want)
		}
	}
}

// In the warm-up (fewer than PredictAdjust attempts completed) it dials
// ahead of the ready agents only as far as the answers seen allow: at the
// upper bound of their rate, every call in flight counted as answered, the
// ready agents its only supply.
func TestForecastWarmUp(t *testing.T) {
	view := func(completed, calls, live int64, ringing int, rung time.Duration) View {
		v := forecastView()
		v.Completed, v.Agents.Idle = completed, 10
		v.Abandon = Windows{CallsHour: calls, LiveHour: live, LiveDay: live, LiveMonth: live}
		for range ringing {
			v.InFlight = append(v.InFlight, Flight{State: attempt.Ringing, Age: rung})
		}
		return v
	}
	after := (&Forecast{}).Calls(view(1000, 200, 20, 0, 0))
	for _, tc := range []struct {
		name            string
		calls, live     int64
		ringing         int
		rung            time.Duration
		atLeast, atMost int
	}{
		{"nothing seen: one call per ready agent", 0, 0, 0, 0, 10, 10},
		{"10 % of 200 answered", 200, 20, 0, 0, 15, after - 1},
		{"70 % of 200 answered", 200, 140, 0, 0, 10, 10},
		// the busy calls come back first: 5 of them say little of the 5
		// still ringing (counted as seen alone, 5 calls of 5 unanswered
		// put the rate's bound at 0.44, and it placed 9)
		{"5 busy, 5 ringing 1 s", 5, 0, 5, time.Second, 0, 5},
		// a call unanswered long past an answer's ring is no live answer
		// to come (counted as one, 20 unanswered of 20 decided and 20
		// ringing 25 s put the bound at 0.65, and it placed 10)
		{"20 unanswered, 20 ringing 25 s", 20, 0, 20, 25 * time.Second, 20, 100},
	} {
		got := (&Forecast{}).Calls(view(100, tc.calls, tc.live, tc.ringing, tc.rung))
		if got < tc.atLeast || got > tc.atMost {
			t.Errorf("%s: %d calls for 10 ready agents, want %d to %d (past the warm-up: %d)", tc.name, got, tc.atLeast, tc.atMost, after)
		}
	}
}

// The talk time is learnt from the views: calls of 60 s seen ending.
func TestForecastLearnsTalkTime(t *testing.T) {
	f := &Forecast{}
	v := forecastView()
	// 10 agents whose calls of 60 s start 6 s apart, seen every second
	for s := 0; s < 3600; s++ {
		v.Now = t0.Add(time.Duration(s) * time.Second)
		v.Agents.InCall = v.Agents.InCall[:0]
		for a := range 10 {
			v.Agents.InCall = append(v.Agents.InCall, time.Duration((s+6*a)%60)*time.Second)
		}
		f.Calls(v)
	}
	mu, sigma := f.talk.params()
	if mean := math.Exp(mu + sigma*sigma/2); math.Abs(mean-60) > 2 || sigma > 0.15 {
		t.Fatalf("learnt a mean of %.1f s (sigma %.2f), want 60", mean, sigma)
	}
}

func TestForecastHelpers(t *testing.T) {
	f := &Forecast{}
	f.defaults()
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"a call just placed is live with the live rate", f.liveAfter(0, 0.3, 0.4), 0.3},
		{"past the no-answer time only an answerer still rings", f.liveAfter(time.Minute, 0.3, 0.4), 0.75},
		{"Phi(0)", normalCDF(0), 0.5},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("%s: %g, want %g", tc.name, tc.got, tc.want)
		}
	}
	fit := newLogNormalFit(60, 0.8, 10)
	if p := fit.endsWithin(30, 0); p != 0 {
		t.Errorf("ends within 0 s: %g", p)
	}
	if a, b := fit.endsWithin(30, 5), fit.endsWithin(30, 50); !(a > 0 && a < b && b < 1) {
		t.Errorf("ends within 5 s: %g, within 50 s: %g", a, b)
	}
}

// The threshold follows the abandon budget: live answers without an
// abandon raise it, abandons lower it, and a window with nothing to spare
// dials only what is next to sure to find an agent.
func TestForecastBudget(t *testing.T) {
	f := &Forecast{}
	v := forecastView()
	v.Agents.Idle = 5
	f.Calls(v)
	start := f.risk
	// ten minutes: 100 live answers, no abandon
	for range 10 {
		v.Now = v.Now.Add(time.Minute)
		v.Abandon.LiveDay += 10
		f.Calls(v)
	}
	if f.risk <= start {
		t.Fatalf("100 live answers and no abandon: threshold %g, was %g", f.risk, start)
	}
	up := f.risk
	v.Now = v.Now.Add(time.Minute)
	v.Abandon.LiveDay += 10
	v.Abandon.AbandonedDay += 3
	f.Calls(v)
	if f.risk >= up {
		t.Fatalf("3 abandons in 10 live answers: threshold %g, was %g", f.risk, up)
	}
	// 25 abandons of 410 live answers (a ceiling of 10 %, not to hit it):
	// 15 over the target, more than the next two hours' live answers
	// (400 an hour) can make up for at the target: one call per ready
	// agent
	v.Max = 10
	v.Abandon.AbandonedDay = 25
	v.Abandon.LiveHour = 400
	frugal := f.Calls(v)
	if frugal < 5 {
		t.Errorf("nothing to spare: %d calls for 5 ready agents, want one each at least", frugal)
	}
	// nobody ready, three agents' wrap-ups ending in a second: with
	// nothing to spare they are no supply (a forecast of who will be
	// free needs an answer delay that may not be measured yet)
	busy := v
	busy.Agents = Agents{WrapUp: []time.Duration{time.Second, time.Second, time.Second}}
	if got := f.Calls(busy); got != 0 {
		t.Errorf("nothing to spare, nobody ready: %d calls", got)
	}
	v.Abandon.AbandonedDay = 0
	if got := f.Calls(v); got <= frugal {
		t.Errorf("all the budget to spare: %d calls for 5 ready agents, want more than the %d with nothing to spare", got, frugal)
	}
	busy.Abandon.AbandonedDay = 0
	if got := f.Calls(busy); got == 0 {
		t.Error("all the budget to spare: no call for three agents a second from ready")
	}
}

// Agents seen leaving after their calls (breaks, log-outs) count less as
// the supply of the next moments.
func TestForecastLearnsLeaving(t *testing.T) {
	v := forecastView()
	v.Agents.Idle = 2
	v.Agents.WrapUp = []time.Duration{3 * time.Second, 4 * time.Second, 5 * time.Second}
	stays, leaves := &Forecast{}, &Forecast{}
	// 200 calls end, one each second; after each, the agent goes on a
	// break for one of the two
	for s := range 200 {
		for _, f := range []*Forecast{stays, leaves} {
			u := v
			u.Now = t0.Add(time.Duration(2*s) * time.Second)
			u.Agents.InCall = []time.Duration{time.Duration(60+s) * time.Second}
			f.Calls(u)
			u.Now = u.Now.Add(time.Second)
			u.Agents.InCall = nil
			if f == stays {
				u.Agents.WrapUp = append(u.Agents.WrapUp, 10*time.Second)
			}
			f.Calls(u)
		}
	}
	if a, b := stays.Calls(v), leaves.Calls(v); b >= a {
		t.Errorf("agents who leave after half their calls: %d calls, who stay: %d", b, a)
	}
}

// The live-answer rate follows a change within the time of a few hundred
// live answers: 30 % for half an hour (100 attempts a minute), then 15 %;
// the hour's window would still say 22.5 % half an hour later.
func TestForecastRecentLiveRate(t *testing.T) {
	f := &Forecast{}
	v := forecastView()
	v.Agents.Idle = 5
	rate := func() float64 { return f.recentLive / f.recentCalls }
	for m := range 60 {
		if m == 30 {
			if r := rate(); math.Abs(r-0.3) > 0.01 {
				t.Fatalf("after 30 minutes at 30 %%: %.3f", r)
			}
		}
		live := int64(30)
		if m >= 30 {
			live = 15
		}
		v.Now, v.Completed, v.Abandon.LiveDay = v.Now.Add(time.Minute), v.Completed+100, v.Abandon.LiveDay+live
		f.Calls(v)
	}
	if r := rate(); r > 0.17 {
		t.Errorf("half an hour after the answer rate halved: %.3f, want near 0.15", r)
	}
}
