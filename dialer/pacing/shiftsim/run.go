package shiftsim

import (
	"time"

	"github.com/fsdialer/fsdialer/dialer/pacing"
)

// Policy is a way of dialing to run a scenario with.
type Policy struct {
	Name string
	// New returns the pacer for one run (a fresh one: some keep state),
	// given the scenario and the start of its shift.
	New func(sc *Scenario, start time.Time) pacing.Pacer
	// Progressive: each call reserves its agent before the member is
	// dialed (the engine's progressive path); else live answers seek an
	// agent (the predictive path).
	Progressive bool
	// Oracle: the clairvoyant bound, which needs no pacer.
	Oracle bool
}

// Result is what one run measured.
type Result struct {
	Scenario, Policy string
	Occupancy        float64 // agents' time on calls and in wrap-up over their time logged in and not paused
	AbandonRate      float64 // percent of live answers, the whole run
	WorstHour        float64 // percent, the worst 1-hour window
	WorstDay         float64 // percent, the worst 24-hour window (the run, when shorter)
	WaitMean         float64 // seconds an available agent waited for each call
	WaitP95          float64
	ConnectedInTime  float64 // share of live answers bridged within the connect threshold
	// CallsPerAgentHour are the calls bridged per agent-hour available.
	CallsPerAgentHour float64
	Score             float64 // (U - U_progressive) / (U_clairvoyant - U_progressive); 0 over the ceiling
	Ratio             float64 // tuned static: the ratio found

	Attempts, Live, Abandoned, Bridged, InTime, Skipped int64
	AgentHours                                          float64
}

// Policy names.
const (
	Progressive     = "progressive"
	Ours            = "predictive"
	Forecast        = "forecast"
	WebitelV1       = "webitel-v1"
	WebitelV2       = "webitel-v2"
	VICIdialHard    = "vicidial-hard"
	VICIdialTapered = "vicidial-tapered"
	TunedStatic     = "tuned-static"
	Clairvoyant     = "clairvoyant"
)

// Policies are the policies the benchmark runs, in the table's order
// (tuned static's ratio is searched for by Search).
func Policies() []Policy {
	return []Policy{
		{Name: Progressive, Progressive: true, New: func(*Scenario, time.Time) pacing.Pacer { return pacing.Progressive{} }},
		{Name: Ours, New: func(*Scenario, time.Time) pacing.Pacer { return pacing.Predictive{} }},
		{Name: Forecast, New: func(sc *Scenario, _ time.Time) pacing.Pacer {
			// what the engine knows of the campaign: its answer delay (its
			// outcomes' ring times, and AMD's analysis time), its
			// originate timeout and connect threshold; the talk time and
			// the live-answer rate it learns
			return &pacing.Forecast{AnswerDelay: seconds(sc.RingSeconds + sc.AMDSeconds),
				NoAnswer: seconds(sc.NoAnswerSeconds), Connect: seconds(sc.ConnectSeconds)}
		}},
		{Name: WebitelV1, New: func(*Scenario, time.Time) pacing.Pacer { return pacing.WebitelV1{} }},
		{Name: WebitelV2, New: func(*Scenario, time.Time) pacing.Pacer { return &pacing.WebitelV2{} }},
		{Name: VICIdialHard, New: func(sc *Scenario, start time.Time) pacing.Pacer {
			return &pacing.VICIdial{HardLimit: true, ShiftStart: start, Shift: hours(sc.Hours)}
		}},
		{Name: VICIdialTapered, New: func(sc *Scenario, start time.Time) pacing.Pacer {
			return &pacing.VICIdial{ShiftStart: start, Shift: hours(sc.Hours)}
		}},
		{Name: TunedStatic},
		{Name: Clairvoyant, Oracle: true},
	}
}

// StaticPolicy is the static ratio policy at ratio.
func StaticPolicy(ratio float64) Policy {
	return Policy{Name: TunedStatic, New: func(*Scenario, time.Time) pacing.Pacer { return pacing.Static{Ratio: ratio} }}
}

// Run plays one shift of the scenario with the policy. It is a pure
// function of its arguments: the same scenario and policy give the same
// result.
func Run(sc Scenario, p Policy) Result {
	return newSim(&sc, p).run()
}
