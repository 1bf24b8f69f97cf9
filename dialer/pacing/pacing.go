// Package pacing decides how many calls a campaign starts now. A Pacer
// sees a plain View (the line cap, the attempts in flight by state and age,
// the agents, the abandon windows) and nothing else: no clock, Redis or
// ESL, so the pacing benchmark drives the same code with simulated agents
// and calls on a fake clock.
package pacing

import (
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
