// Package pacing decides how many calls a campaign starts now. A Pacer
// sees a plain View (the line cap, the attempts in flight by state and age,
// the agents, the abandon windows) and nothing else: no clock, Redis or
// ESL, so the pacing benchmark drives the same code with simulated agents
// and calls on a fake clock.
package pacing

import (
	"math"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

// Pacer says how many calls to start now.
type Pacer interface {
	Calls(v View) int
}

// View is what a pacer may know about a campaign at one moment.
type View struct {
	// Lines is the most calls the campaign may have at once (its limit).
	Lines int
	// InFlight are the attempts placed and not yet over.
	InFlight []Flight
	// Agents serving the campaign (none for a voice broadcast).
	Agents Agents
	// Abandon are the campaign's live answers and abandoned calls.
	Abandon Windows
	// Target and Max are the abandon rates to aim at and never to pass,
	// in percent (targetPredictiveSilentCalls, maxPredictiveSilentCalls).
	Target, Max float64
	// Window is the one Max is held over: "24h" or "30d" (the campaign's
	// compliance profile).
	Window string
	// Completed attempts so far, and PredictAdjust, the number after which
	// predictive pacing starts (progressive until then).
	Completed     int64
	PredictAdjust int
	// Now is the moment the view was taken, for the policies that sample
	// or refresh on a period (the peers' in peers.go); zero when the caller
	// keeps no clock (engine.go's view() does not fill it yet).
	Now time.Time
}

// Flight is one attempt in flight.
type Flight struct {
	State attempt.State
	Age   time.Duration // since its originate
}

// Agents are the agents who serve a campaign.
type Agents struct {
	Idle   int             // ready for a call now
	InCall []time.Duration // each busy agent's time in the current call
	WrapUp []time.Duration // each agent in wrap-up: time left
}

// Windows count live answers and abandoned calls over the regulators'
// windows (pacing.md: abandon rate = abandoned / live answers).
type Windows struct {
	CallsHour                 int64 // attempts classified in the last hour
	MachineHour, MachineDay   int64 // AMD's MACHINE verdicts
	MachineMonth              int64
	FalseMachine              float64 // the share of those taken for people (the UK rule)
	LiveHour, AbandonedHour   int64
	LiveDay, AbandonedDay     int64
	LiveMonth, AbandonedMonth int64
}

// Lines is the policy of modes without agents (a voice broadcast): a call
// on every free line.
type Lines struct{}

// Calls returns the free lines.
func (Lines) Calls(v View) int { return max(v.Lines-len(v.InFlight), 0) }

// Progressive is the policy of progressive dialing: one call for each
// agent ready to take it, reserved before the member is dialed, within
// the free lines. It never abandons a call.
type Progressive struct{}

// Calls returns the ready agents, at most the free lines.
func (Progressive) Calls(v View) int { return max(min(v.Agents.Idle, v.Lines-len(v.InFlight)), 0) }

// Count adds a classified attempt to the windows: a live answer, an
// abandoned call, an AMD machine verdict.
func (w *Windows) Count(live, abandoned, machine bool) {
	w.CallsHour++
	add := func(b bool, hour, day, month *int64) {
		if b {
			*hour, *day, *month = *hour+1, *day+1, *month+1
		}
	}
	add(live, &w.LiveHour, &w.LiveDay, &w.LiveMonth)
	add(abandoned, &w.AbandonedHour, &w.AbandonedDay, &w.AbandonedMonth)
	add(machine, &w.MachineHour, &w.MachineDay, &w.MachineMonth)
}

// counts are the live answers and the abandoned calls over a window
// ("1h", "24h", "30d"), AMD's machine verdicts taken for people (the UK
// rule) counted in both.
func (w Windows) counts(window string) (live, abandoned float64) {
	l, a, machines := w.LiveHour, w.AbandonedHour, w.MachineHour
	switch window {
	case "24h":
		l, a, machines = w.LiveDay, w.AbandonedDay, w.MachineDay
	case "30d":
		l, a, machines = w.LiveMonth, w.AbandonedMonth, w.MachineMonth
	}
	people := w.FalseMachine * float64(machines)
	return float64(l) + people, float64(a) + people
}

// Rate is the abandon rate in percent over a window ("1h", "24h", "30d");
// 0 with no live answer.
func (w Windows) Rate(window string) float64 {
	live, abandoned := w.counts(window)
	if live == 0 {
		return 0
	}
	return 100 * abandoned / live
}

// Predictive is a first policy of predictive dialing, correct rather than
// best (Webitel v2's over-dial, pacing.md baseline 3): progressive until
// PredictAdjust attempts have completed and while the abandon rate over
// the compliance window is at or above Max; else calls per ready agent of
// 1/answer rate (the last hour's live answers over its attempts), raised
// by 10 % per point the hour's rate is under Target and lowered as it
// nears Max.
type Predictive struct{}

// minAnswerRate bounds the over-dial when almost nobody answers.
const minAnswerRate = 0.05

// Calls returns the calls to start.
func (Predictive) Calls(v View) int {
	var dialing, waiting int
	for _, f := range v.InFlight {
		switch {
		case f.State < attempt.Answered:
			dialing++ // each may need an agent soon
		case f.State <= attempt.WaitingAgent:
			waiting++ // needs an agent now
		}
	}
	free := v.Lines - len(v.InFlight)
	agents := v.Agents.Idle - waiting
	if agents <= 0 || free <= 0 {
		return 0
	}
	want := agents // progressive: one call per agent
	w := v.Abandon
	if v.Completed >= int64(v.PredictAdjust) && w.CallsHour > 0 && (v.Max <= 0 || w.Rate(v.Window) < v.Max) {
		// Past the warm-up and under the ceiling: dial ahead.
		p := max(float64(w.LiveHour)/float64(w.CallsHour), minAnswerRate)
		over, current := 1/p, w.Rate("1h")
		ceiling := v.Max
		if ceiling <= 0 {
			ceiling = 100 // no ceiling set
		}
		factor := over * (ceiling - current) * 1.1 / ceiling // nearing the ceiling: less
		if dx := v.Target - current; dx > 0 {
			factor = over * (1 + dx*10/100)
		}
		want = int(math.Ceil(float64(agents) * max(factor, 1)))
	}
	return max(min(want-dialing, free), 0)
}
