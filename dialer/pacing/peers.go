package pacing

import (
	"math"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

// The peers' policies, as ../shared/docs/pacing.md describes them
// ("Baselines to implement in the benchmark, exactly as the peers do"), so
// the pacing benchmark compares ours with what other dialers do on the
// same calls. Where pacing.md leaves a detail open, the comment on the
// policy says how it was read. Each is bounded by the campaign's free
// lines, as every policy of the engine is.

// flights counts the attempts in flight not yet answered (each may need an
// agent soon) and the live answers waiting for an agent.
func flights(v View) (dialing, waiting int) {
	for _, f := range v.InFlight {
		switch {
		case f.State < attempt.Answered:
			dialing++
		case f.State <= attempt.WaitingAgent:
			waiting++
		}
	}
	return dialing, waiting
}

// logged is every agent logged in and not paused: ready, in a call or in
// wrap-up.
func (a Agents) logged() int { return a.Idle + len(a.InCall) + len(a.WrapUp) }

func freeLines(v View) int { return max(v.Lines-len(v.InFlight), 0) }

// WebitelV1 is Webitel engine-nodejs's predictive.js (pacing.md baseline
// 2). With p = bridged/calls: while fewer than 10 calls were bridged, a
// line per logged-in agent; then lines = ceil(idle + idle*(1-p)*adj/100) +
// the busy agents, where adj = clamp(round(35 * 40^s), 0, 1000) and s =
// target - 100*abandoned/calls (abandoned over all calls, not over live
// answers: the flattering denominator), recomputed once past 200 calls
// and 35 (s = 0) before. It dials while the calls in progress, bridged
// ones included, are fewer than the lines, and never enforces Max.
//
// The totals are the campaign's since it started: the View's month
// window (a shift is shorter) and Completed; bridged is the live answers
// not abandoned.
type WebitelV1 struct{}

// Calls returns the calls to start.
func (WebitelV1) Calls(v View) int {
	logged, idle := v.Agents.logged(), v.Agents.Idle
	abandoned := v.Abandon.AbandonedMonth
	bridged, calls := v.Abandon.LiveMonth-abandoned, v.Completed
	lines := logged
	if bridged >= 10 && calls > 0 {
		p := float64(bridged) / float64(calls)
		adj := 35.0
		if calls > 200 {
			s := v.Target - 100*float64(abandoned)/float64(calls)
			adj = min(max(math.Round(35*math.Pow(40, s)), 0), 1000)
		}
		lines = int(math.Ceil(float64(idle)+float64(idle)*(1-p)*adj/100)) + (logged - idle)
	}
	return max(min(lines-len(v.InFlight), freeLines(v)), 0)
}

// WebitelV2 is Webitel call_center's cc_wrap_over_dial (pacing.md
// baseline 3): over = 1/connection rate (the last hour's live answers
// over its attempts); at or above Max over the last hour, 1
// (progressive); under Target by dx points, over*(1 + dx*10/100); else
// over*(Max-current)*110/(Max*100). That factor of calls per ready agent
// is refreshed every 30 s (View.Now) and the calls still ringing count
// against it. With no live answer in the hour it dials progressive (the
// peer divides by zero there). Use one value per campaign: it keeps the
// factor between refreshes.
type WebitelV2 struct {
	factor float64
	at     time.Time
	set    bool
}

// webitelRefresh is how often Webitel v2 refreshes its statistics.
const webitelRefresh = 30 * time.Second

// Calls returns the calls to start.
func (w *WebitelV2) Calls(v View) int {
	if !w.set || v.Now.Sub(w.at) >= webitelRefresh || v.Now.Before(w.at) {
		w.factor, w.at, w.set = webitelOverDial(v), v.Now, true
	}
	dialing, waiting := flights(v)
	agents := v.Agents.Idle - waiting
	if agents <= 0 {
		return 0
	}
	want := int(math.Ceil(float64(agents) * w.factor))
	return max(min(want-dialing, freeLines(v)), 0)
}

func webitelOverDial(v View) float64 {
	w := v.Abandon
	if w.CallsHour == 0 || w.LiveHour == 0 {
		return 1
	}
	over := float64(w.CallsHour) / float64(w.LiveHour)
	current := 100 * float64(w.AbandonedHour) / float64(w.LiveHour)
	switch {
	case current >= v.Max:
		return 1
	case v.Target-current > 0:
		return over * (1 + (v.Target-current)*10/100)
	}
	return over * (v.Max - current) * 110 / (v.Max * 100)
}

// VICIdial is VICIdial's AST_VDadapt.pl (pacing.md baseline 4) with
// intensity 0: every second it samples the ready agents and the live
// answers waiting; every 15 s, with D the mean ready less the mean waiting
// over the last 15 samples, the dial level is multiplied by 1 + D/agents
// and kept within [1, 3]; it places round(level * agents) less the calls
// in progress (bridged ones included). agents are those ready or in a
// call: VICIdial counts an agent in wrap-up (dispositioning, paused) out.
//
// Over the drop limit (today's abandoned over live answers above Max),
// ADAPT_HARD_LIMIT sets the level to 1. ADAPT_TAPERED (HardLimit false)
// lets the shift run over the limit in its first half and halves the
// level in the second (pacing.md: "average halves it"; VICIdial's manual:
// tapered "allows running over the dropped percentage in the first half
// of the shift and gets more strict as it goes on"): ShiftStart and
// Shift say where the half is.
//
// Use one value per campaign: it keeps its samples and level.
type VICIdial struct {
	HardLimit         bool
	ShiftStart        time.Time
	Shift             time.Duration
	level             float64
	ready, waiting    [vicidialSamples]float64
	n                 int // samples taken
	sampled, adjusted time.Time
}

const (
	vicidialSamples = 15
	vicidialAdjust  = 15 * time.Second
	vicidialMax     = 3.0
)

// Calls returns the calls to start.
func (d *VICIdial) Calls(v View) int {
	_, waiting := flights(v)
	agents := v.Agents.Idle + len(v.Agents.InCall)
	if d.level == 0 || v.Now.Before(d.sampled) {
		*d = VICIdial{HardLimit: d.HardLimit, ShiftStart: d.ShiftStart, Shift: d.Shift, level: 1, sampled: v.Now, adjusted: v.Now}
		d.sample(v.Agents.Idle, waiting)
	}
	for !v.Now.Before(d.sampled.Add(time.Second)) {
		d.sampled = d.sampled.Add(time.Second)
		d.sample(v.Agents.Idle, waiting) // a second without a view saw what this one sees
	}
	for !v.Now.Before(d.adjusted.Add(vicidialAdjust)) {
		d.adjusted = d.adjusted.Add(vicidialAdjust)
		d.adjust(v, agents)
	}
	want := int(math.Round(d.level * float64(agents)))
	return max(min(want-len(v.InFlight), freeLines(v)), 0)
}

func (d *VICIdial) sample(ready, waiting int) {
	i := d.n % vicidialSamples
	d.ready[i], d.waiting[i] = float64(ready), float64(waiting)
	d.n++
}

func (d *VICIdial) adjust(v View, agents int) {
	if agents > 0 {
		n := min(d.n, vicidialSamples)
		var ready, waiting float64
		for i := range n {
			ready, waiting = ready+d.ready[i], waiting+d.waiting[i]
		}
		diff := (ready - waiting) / float64(n)
		d.level *= 1 + diff/float64(agents)
	}
	d.level = min(max(d.level, 1), vicidialMax)
	w := v.Abandon
	if w.LiveDay == 0 || 100*float64(w.AbandonedDay)/float64(w.LiveDay) <= v.Max {
		return
	}
	switch {
	case d.HardLimit:
		d.level = 1
	case d.Shift > 0 && v.Now.Sub(d.ShiftStart) >= d.Shift/2:
		d.level = max(d.level/2, 1)
	}
}

// Level is the dial level (calls per agent) the policy holds now.
func (d *VICIdial) Level() float64 { return d.level }

// Static dials a fixed Ratio of calls per ready agent (rounded), less the
// calls still ringing: pacing.md's tuned static baseline, whose ratio the
// benchmark finds by search with the true parameters. No feedback.
type Static struct{ Ratio float64 }

// Calls returns the calls to start.
func (s Static) Calls(v View) int {
	dialing, waiting := flights(v)
	agents := v.Agents.Idle - waiting
	if agents <= 0 {
		return 0
	}
	want := int(math.Round(float64(agents) * max(s.Ratio, 1)))
	return max(min(want-dialing, freeLines(v)), 0)
}
