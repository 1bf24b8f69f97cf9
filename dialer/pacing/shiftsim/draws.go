package shiftsim

import (
	"math"
	"math/rand/v2"
	"time"
)

// member is what one member does when called: drawn once from (seed,
// member index), whichever policy calls them and whenever. Whether they
// answer depends on the answer rate when they are called, so the draw is
// a uniform number held against it (common random numbers: a policy that
// calls member 7 at the same moment as another meets the same outcome).
type member struct {
	uAnswer, uMachine float64
	ring              time.Duration // ringing before the answer (an answer only)
	talk              time.Duration
	patience          time.Duration // an answered person's wait in silence before hanging up
	amd               time.Duration // AMD's time to its verdict
}

// The streams' second keys: a member's stream is (seed, index), an agent's
// (seed, agentStream+index), the random strategy's (seed, shuffleStream).
const (
	agentStream   = 1 << 62
	shuffleStream = 1<<63 + 1
)

func (s *Scenario) member(i int) member {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	m := member{uAnswer: r.Float64(), uMachine: r.Float64()}
	m.ring = min(lognormal(r, s.RingSeconds, 0.5), seconds(s.NoAnswerSeconds))
	m.talk = max(lognormal(r, s.TalkSeconds, s.TalkSigma), time.Second)
	m.patience = max(lognormal(r, s.PatienceSeconds, 0.6), time.Second)
	m.amd = seconds(s.AMDSeconds * (0.5 + r.Float64()))
	return m
}

// answers reports whether a member called at offset t answers, and
// whether the answer is a machine.
func (s *Scenario) answers(m member, t time.Duration) (answered, machine bool) {
	answered = m.uAnswer < s.answerRateAt(t)
	return answered, answered && m.uMachine < s.MachineShare
}

// lognormal draws a lognormal time of the given mean (seconds) and log
// standard deviation.
func lognormal(r *rand.Rand, mean, sigma float64) time.Duration {
	mu := math.Log(mean) - sigma*sigma/2
	return seconds(math.Exp(mu + sigma*r.NormFloat64()))
}

// agentPlan is one agent's shift: when they first log in and when their
// breaks fall due.
type agentPlan struct {
	login      time.Duration // the first login, for an agent of the starting team
	firstBreak time.Duration
}

func (s *Scenario) agentPlan(j int) agentPlan {
	r := rand.New(rand.NewPCG(s.Seed, agentStream+uint64(j)))
	p := agentPlan{login: time.Duration(r.Float64() * s.LoginSpreadMinutes * float64(time.Minute))}
	every := hours(s.BreakEveryHours)
	p.firstBreak = every/2 + time.Duration(r.Float64()*float64(every))
	return p
}
