package pacing

import (
	"math"
	"slices"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

// Forecast is a predictive policy that forecasts, for the moment a call
// placed now would be answered, how many agents will be free and how many
// live answers will want one, and places the most calls whose expected
// share of abandoned answers stays under an aim below the target:
//
//   - supply: the ready agents; those in wrap-up whose wrap-up ends in
//     time; and each agent in a call with the probability that a call
//     which has lasted so long ends, and its wrap-up after it, in time
//     (the talk time is lognormal, learnt from the calls seen ending);
//   - demand: the live answers waiting; each answer AMD is judging (a
//     person with the share of people among answers); each call ringing
//     with the probability that a call unanswered after ringing so long
//     is answered live (the answer rate, with a prior until the campaign's
//     own outweighs it, and the ring time); and each new call with the
//     live-answer rate;
//   - the abandoned share of that demand is E[(demand - supply)+] / E[demand],
//     both sums of independent Bernoulli draws taken as normal;
//   - the aim is Aim times the target, corrected once a minute by the rate
//     measured over the compliance window (feedback, so a model that is
//     wrong is still held under the target), and cut to a tenth near the
//     ceiling.
//
// Until PredictAdjust attempts have completed it dials one call per ready
// agent, as Predictive does. It needs View.Now (the talk times it learns
// are the gaps between views) and keeps state: one value per campaign.
type Forecast struct {
	// AnswerDelay is the mean time from an originate to a live answer
	// wanting an agent: the ring of an answered call and, when AMD runs,
	// its verdict (default 8 s). The engine knows it from its outcomes.
	AnswerDelay time.Duration
	// NoAnswer is how long an unanswered call rings (the originate's
	// timeout; default 30 s).
	NoAnswer time.Duration
	// Connect is the connect threshold (default 2 s): an agent free up to
	// so long after the answer still takes it in time.
	Connect time.Duration
	// LivePrior is the live answers per attempt assumed while the
	// campaign has few of its own (default 0.3); TalkPrior the mean talk
	// time assumed before calls are seen ending (default 2 min).
	LivePrior float64
	TalkPrior time.Duration
	// Aim is the share of the target aimed at (default 0.7): the margin
	// that keeps the compliance window under the ceiling with high
	// probability rather than on average.
	Aim float64

	talk          logNormalFit
	wrap          time.Duration // the longest wrap-up left seen: the agents' wrap-up time
	prev          []time.Duration
	prevAt        time.Time
	gain          float64
	adjusted      time.Time
	started       bool
	supply        []float64 // P(k of the agents not ready are free in time)
	ringQuantiles []time.Duration
	ringTable     []float64 // ringLasts by steps of ringTableStep
	demand        []float64 // P(k live answers want an agent by then)
	short         []float64 // E[(k - free agents)+] by k
}

// ringLastsTable is ringLasts read from a table of steps of
// ringTableStep (the value at the step's start: a ring a little likelier
// to go on, so a little more demand): it is asked for every call ringing
// at every turn.
func (f *Forecast) ringLastsTable(d time.Duration) float64 {
	if i := int(d / ringTableStep); d > 0 && i < len(f.ringTable) {
		return f.ringTable[i]
	}
	return f.ringLasts(d)
}

const ringTableStep = 50 * time.Millisecond

// ringLasts is the probability that an answered call's ring lasts at
// least d.
func (f *Forecast) ringLasts(d time.Duration) float64 {
	if d <= 0 {
		return 1
	}
	mu := math.Log(f.AnswerDelay.Seconds()) - forecastRingSigma*forecastRingSigma/2
	return 1 - normalCDF((math.Log(d.Seconds())-mu)/forecastRingSigma)
}

// addBernoulli folds one more count of probability q into the
// distribution of a count (a Poisson binomial), dropping a tail too
// unlikely to matter.
func addBernoulli(dist []float64, q float64) []float64 {
	if q <= 0 {
		return dist
	}
	dist = append(dist, 0)
	for k := len(dist) - 1; k > 0; k-- {
		dist[k] = dist[k]*(1-q) + dist[k-1]*q
	}
	dist[0] *= 1 - q
	for len(dist) > 1 && dist[len(dist)-1] < 1e-13 {
		dist = dist[:len(dist)-1]
	}
	return dist
}

// Forecast's fixed parameters.
const (
	forecastPriorWeight = 50.0  // attempts the live-answer prior is worth
	forecastTalkMemory  = 0.998 // each talk time seen weighs so much less at the next
	forecastTalkPriorN  = 10.0  // talk times the prior is worth
	forecastTalkSigma   = 0.8   // the prior's log standard deviation
	forecastRingSigma   = 0.5   // the answered calls' ring time's log standard deviation
	forecastGainStep    = 0.3   // the feedback's step, per minute, per target of error
	forecastMinLive     = 20    // live answers in the window before feedback
)

func (f *Forecast) defaults() {
	or := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	or(&f.AnswerDelay, 8*time.Second)
	or(&f.NoAnswer, 30*time.Second)
	or(&f.Connect, 2*time.Second)
	or(&f.TalkPrior, 2*time.Minute)
	if f.LivePrior <= 0 || f.LivePrior > 1 {
		f.LivePrior = 0.3
	}
	if f.Aim <= 0 || f.Aim > 1 {
		f.Aim = 0.7
	}
	f.talk = newLogNormalFit(f.TalkPrior.Seconds(), forecastTalkSigma, forecastTalkPriorN)
	f.gain, f.started = 1, true
	f.ringTables()
}

// ringTables tabulates the answered calls' ring time from AnswerDelay.
func (f *Forecast) ringTables() {
	f.ringTable, f.ringQuantiles = f.ringTable[:0], f.ringQuantiles[:0]
	for d := time.Duration(0); d <= f.NoAnswer; d += ringTableStep {
		f.ringTable = append(f.ringTable, f.ringLasts(d))
	}
	// the ring time's deciles 1, 3, 5, 7 and 9
	mu := math.Log(f.AnswerDelay.Seconds()) - forecastRingSigma*forecastRingSigma/2
	for _, z := range []float64{-1.2816, -0.5244, 0, 0.5244, 1.2816} {
		f.ringQuantiles = append(f.ringQuantiles, time.Duration(math.Exp(mu+z*forecastRingSigma)*float64(time.Second)))
	}
}

// SetAnswerDelay updates AnswerDelay from what the campaign measures (the
// engine: the ring of its answered calls, and AMD's verdict); a change
// under a tenth is ignored, the tables being worth keeping.
func (f *Forecast) SetAnswerDelay(d time.Duration) {
	if d <= 0 || f.AnswerDelay > 0 && math.Abs(float64(d-f.AnswerDelay)) < 0.1*float64(f.AnswerDelay) {
		return
	}
	f.AnswerDelay = d
	if f.started {
		f.ringTables()
	}
}

// Calls returns the calls to start.
func (f *Forecast) Calls(v View) int {
	if !f.started {
		f.defaults()
	}
	f.observe(v)
	free := freeLines(v)
	dialing, waiting := flights(v)
	agents := v.Agents.Idle - waiting
	if free <= 0 {
		return 0
	}
	w := v.Abandon
	// Progressive until PredictAdjust attempts completed, and while the
	// rate over the compliance window is at or over the ceiling: a forecast
	// that aims low still dials ahead of idle agents, and a model that is
	// wrong must not keep a campaign over the ceiling.
	if v.Completed < int64(v.PredictAdjust) || v.Max > 0 && w.Rate(v.Window) >= v.Max {
		return max(min(agents-dialing, free), 0)
	}
	p := (float64(w.LiveHour) + f.LivePrior*forecastPriorWeight) / (float64(w.CallsHour) + forecastPriorWeight)
	p = min(max(p, 0.001), 1)
	machines := 0.0 // the share of answers AMD calls machines
	if w.MachineHour+w.LiveHour > 0 {
		machines = float64(w.MachineHour) / float64(w.MachineHour+w.LiveHour)
	}
	answered := min(p/(1-machines), 1)

	// supply: the agents who will be free when the answer to a call
	// placed now comes (its ring time is random), or within the connect
	// threshold after: the ready ones surely; one in wrap-up if the ring
	// lasts until its wrap-up ends; one in a call if the rest of the call
	// and the wrap-up after it fit in the ring time, averaged over the
	// ring time's quantiles
	supplyCertain := v.Agents.Idle
	f.supply = append(f.supply[:0], 1)
	addSupply := func(q float64) {
		switch {
		case q >= 1-1e-6:
			supplyCertain++
		case q > 1e-6:
			f.supply = addBernoulli(f.supply, q)
		}
	}
	for _, left := range v.Agents.WrapUp {
		addSupply(f.ringLasts(left - f.Connect))
	}
	for _, in := range v.Agents.InCall {
		var q float64
		for _, r := range f.ringQuantiles {
			q += f.talk.endsWithin(in.Seconds(), (r + f.Connect - f.wrap).Seconds())
		}
		addSupply(q / float64(len(f.ringQuantiles)))
	}
	// demand from the calls in flight: the distribution of how many are
	// live answers wanting an agent (each call its own chance)
	f.demand = append(f.demand[:0], 1)
	for _, fl := range v.InFlight {
		switch {
		case fl.State == attempt.WaitingAgent:
			f.demand = addBernoulli(f.demand, 1)
		case fl.State == attempt.Answered || fl.State == attempt.Detecting:
			f.demand = addBernoulli(f.demand, 1-machines)
		case fl.State == attempt.Ringing:
			f.demand = addBernoulli(f.demand, f.liveAfter(fl.Age, p, answered))
		case fl.State < attempt.Ringing:
			f.demand = addBernoulli(f.demand, p)
		}
	}
	aim := v.Target / 100 * f.Aim * f.gain
	if rate := w.Rate(v.Window); v.Max > 0 && rate >= 0.9*v.Max {
		aim = min(aim, v.Target/1000) // at the ceiling's door: a tenth of the target
	}
	// the forecast share of the demand no agent takes, E[(A - S)+] / E[A],
	// with n more calls; the most calls whose share is within the aim
	f.short = f.short[:0]    // E[(a - S)+] for a = 0, 1, ...
	below, counted := 0.0, 0 // P(B < counted)
	shortOf := func(a int) float64 {
		for len(f.short) <= a {
			k := len(f.short)
			if k == 0 {
				f.short = append(f.short, 0)
				continue
			}
			// E[(k - S)+] - E[(k-1 - S)+] = P(S <= k-1) = P(B <= k-1-supplyCertain)
			for ; counted <= k-1-supplyCertain && counted < len(f.supply); counted++ {
				below += f.supply[counted]
			}
			step := 0.0
			if k-1-supplyCertain >= 0 {
				step = min(below, 1)
			}
			f.short = append(f.short, f.short[k-1]+step)
		}
		return f.short[a]
	}
	share := func() float64 {
		var mean, e float64
		for a, pa := range f.demand {
			mean += float64(a) * pa
			e += pa * shortOf(a)
		}
		if mean <= 0 {
			return 0
		}
		return e / mean
	}
	supplyMean := float64(supplyCertain + len(f.supply) - 1)
	hi := min(free, int(math.Ceil((supplyMean+4*math.Sqrt(supplyMean+1)+2)/p))+1)
	n := 0
	for n < hi {
		f.demand = addBernoulli(f.demand, p)
		if share() > aim {
			break
		}
		n++
	}
	lo := n
	return max(lo, 0)
}

// observe learns from the view: the talk times of the calls that ended
// since the last view (an agent's time in call that did not go on by the
// time between the views), the wrap-up time, and the feedback on the
// abandon rate.
func (f *Forecast) observe(v View) {
	for _, left := range v.Agents.WrapUp {
		f.wrap = max(f.wrap, left)
	}
	cur := append(f.prev[:0:0], v.Agents.InCall...)
	slices.Sort(cur)
	if dt := v.Now.Sub(f.prevAt); !f.prevAt.IsZero() && dt > 0 {
		j := 0
		for _, was := range f.prev {
			goesOn := was + dt
			for j < len(cur) && cur[j] < goesOn {
				j++
			}
			if j < len(cur) && cur[j] == goesOn {
				j++
				continue
			}
			f.talk.add((was + dt/2).Seconds()) // it ended between the views
		}
	}
	f.prev, f.prevAt = cur, v.Now
	if f.adjusted.IsZero() {
		f.adjusted = v.Now
	}
	if v.Now.Sub(f.adjusted) < time.Minute {
		return
	}
	f.adjusted = v.Now
	live := v.Abandon.LiveDay
	if v.Window == "30d" {
		live = v.Abandon.LiveMonth
	}
	if live < forecastMinLive || v.Target <= 0 {
		return
	}
	miss := (f.Aim*v.Target - v.Abandon.Rate(v.Window)) / v.Target
	f.gain = min(max(f.gain*math.Exp(forecastGainStep*miss), 0.05), 3)
}

// liveAfter is the probability that a call still ringing after age is
// answered live: p of calls are, after a lognormal ring of mean
// AnswerDelay; answered of calls are answered at all; the rest ring until
// NoAnswer.
func (f *Forecast) liveAfter(age time.Duration, p, answered float64) float64 {
	stillRinging := f.ringLastsTable(age)
	unanswered := 0.0
	if age < f.NoAnswer {
		unanswered = 1 - answered
	}
	den := answered*stillRinging + unanswered
	if den <= 0 {
		return 0
	}
	return p * stillRinging / den
}

// logNormalFit fits a lognormal to the times seen, the older weighing
// less, over a prior.
type logNormalFit struct{ n, sum, sumSq float64 }

func newLogNormalFit(mean, sigma, weight float64) logNormalFit {
	mu := math.Log(mean) - sigma*sigma/2
	return logNormalFit{n: weight, sum: weight * mu, sumSq: weight * (sigma*sigma + mu*mu)}
}

func (l *logNormalFit) add(seconds float64) {
	x := math.Log(max(seconds, 0.1))
	l.n, l.sum, l.sumSq = l.n*forecastTalkMemory+1, l.sum*forecastTalkMemory+x, l.sumSq*forecastTalkMemory+x*x
}

func (l *logNormalFit) params() (mu, sigma float64) {
	mu = l.sum / l.n
	return mu, math.Sqrt(max(l.sumSq/l.n-mu*mu, 0.01))
}

// endsWithin is the probability that a call that has lasted elapsed
// seconds ends within the next within seconds.
func (l *logNormalFit) endsWithin(elapsed, within float64) float64 {
	if within <= 0 {
		return 0
	}
	mu, sigma := l.params()
	cdf := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return normalCDF((math.Log(x) - mu) / sigma)
	}
	past := cdf(elapsed)
	if past >= 1-1e-9 {
		return 1 // longer than the fit has room for: the next moment as likely as any
	}
	return min(max((cdf(elapsed+within)-past)/(1-past), 0), 1)
}

func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// excess is E[max(X, 0)] for X normal of mean mean and standard
// deviation sd.
func excess(mean, sd float64) float64 {
	if sd < 1e-9 {
		return max(mean, 0)
	}
	z := mean / sd
	return mean*normalCDF(z) + sd*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi)
}
