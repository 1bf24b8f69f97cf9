package pacing

import (
	"math"
	"slices"
	"time"

	"github.com/fsdialer/fsdialer/dialer/attempt"
)

// Forecast is a predictive policy that forecasts, for the moment a call
// placed now would be answered, how many agents will be free and how many
// live answers will want one, and places each further call only while
// the risk that one more live answer finds no agent stays under a
// threshold that an abandon budget steers:
//
//   - supply: the ready agents; those in wrap-up whose wrap-up ends in
//     time; and each agent in a call with the probability that a call
//     which has lasted so long ends, and its wrap-up after it, in time
//     (the talk time is lognormal, learnt from the calls seen ending);
//     an agent who finishes a call stays with the probability learnt
//     from the agents seen leaving (breaks, log-outs) after calls;
//   - demand: the live answers waiting; each answer AMD is judging (a
//     person with the share of people among answers); each call ringing
//     with the probability that a call unanswered after ringing so long
//     is answered live (the answer rate, with a prior until the campaign's
//     own outweighs it, and the ring time); and each new call with the
//     live-answer rate;
//   - the risk of one more call is P(demand >= supply), both counts
//     Poisson-binomial: the chance that its live answer, if it is one, is
//     the one no agent takes (the marginal abandon, where the first
//     version bounded the average share of the demand abandoned);
//   - the threshold on that risk starts at Risk times the target and is
//     learnt: each live answer raises it by forecastRiskStep times the
//     rate the budget allows, each abandon lowers it by forecastRiskStep
//     (a stochastic approximation whose fixed point is the allowed rate);
//     the allowed rate is the target plus the abandons the compliance
//     window has to spare (the target's share of its live answers, less
//     those abandoned and a margin for the noise of the next two hours'
//     abandons) spread over those two hours, once the window has 20 live
//     answers; it is at most forecastMaxRisk times the target. With too
//     little to spare, and near the ceiling (or over it by chance), it
//     places only the calls whose risk is under a tenth of the target,
//     the ready agents its only supply; over the ceiling by more than
//     chance explains it dials progressive.
//
// Until PredictAdjust attempts have completed (the warm-up) the ready
// agents are its only supply and the live-answer rate is the upper bound
// of the rate seen (every call in flight that may still be answered
// counted as a live answer): about one call per ready agent at first,
// more as the calls ring on unanswered. It needs View.Now (the talk times it
// learns are the gaps between views) and keeps state: one value per
// campaign.
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
	// Risk is the threshold's start as a share of the target (default
	// 1.2: 0.03 at a target of 2.5 %): the chance, per further call, that
	// its live answer finds no agent.
	Risk float64

	talk          logNormalFit
	wrap          time.Duration // the longest wrap-up left seen: the agents' wrap-up time
	prev          []time.Duration
	prevAt        time.Time
	firstView     time.Time
	prevTeam      int     // agents ready, in a call or in wrap-up at the last view
	left          float64 // agents seen leaving, weighed as the talk times are
	ended         float64 // calls seen ending, likewise
	risk          float64 // the threshold
	allowed       float64 // the abandon rate the budget allows now, a fraction
	prevLive      float64 // the window's live answers and abandons at the last view
	prevAband     float64
	counting      bool
	recentOn      bool
	recentLive    float64 // live answers and attempts classified lately (recent)
	recentCalls   float64
	prevDayLive   float64
	prevDone      float64
	started       bool
	supply        []float64 // P(k of the agents not ready are free in time)
	supplyCDF     []float64
	ringQuantiles []time.Duration
	ringTable     []float64 // ringLasts by steps of ringTableStep
	demand        []float64 // P(k live answers want an agent by then)
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
	forecastMinLive     = 20    // live answers in the window (AMD's people among its machines too) before the threshold moves
	forecastLiveMemory  = 200.0 // live answers the live-answer rate remembers
	forecastRiskStep    = 0.1   // the threshold's step: -10 % an abandon, +10 % x allowed rate a live answer
	forecastHorizon     = 2.0   // hours of live answers (at the last hour's pace) the budget looks ahead
	forecastMinHorizon  = 50.0  // live answers it looks ahead at least
	forecastMarginFixed = 1.0   // abandons kept in hand, ...
	forecastMarginZ     = 1.75  // ... plus so many standard deviations of the horizon's abandons
	forecastFrugal      = 0.1   // allowed rate, as a share of the target, under which it takes next to no risk
	forecastLeavePrior  = 0.02  // agents leaving per call ended, assumed ...
	forecastLeaveWeight = 50.0  // ... as if seen over so many calls
	forecastMaxLeave    = 0.3
	forecastMaxRisk     = 4.0 // the threshold's ceiling, times the target
	forecastCeilingZ    = 2.0 // standard deviations over the ceiling that are no chance
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
	if f.Risk <= 0 {
		f.Risk = 1.2
	}
	f.talk = newLogNormalFit(f.TalkPrior.Seconds(), forecastTalkSigma, forecastTalkPriorN)
	f.started = true
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
		f.firstView, f.risk = v.Now, min(f.Risk*v.Target/100, 1)
	}
	f.observe(v)
	free := freeLines(v)
	dialing, waiting := flights(v)
	agents := v.Agents.Idle - waiting
	if free <= 0 {
		return 0
	}
	w := v.Abandon
	// Progressive while the compliance window is over the ceiling by more
	// than chance explains (a model that is wrong must not keep a
	// campaign over it), and with no target. Over it by chance (a window
	// of a few dozen live answers that met an abandon or two; with AMD,
	// people who hang up in its silence, whom progressive abandons too),
	// the frugal regime below dilutes it: progressive would too, only
	// slower.
	if v.Max > 0 && overCeiling(w, v.Window, v.Max/100) || v.Target <= 0 {
		return max(min(agents-dialing, free), 0)
	}
	warm := v.Completed < int64(v.PredictAdjust)
	p := f.liveRate(v, warm)
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
	// ring time's quantiles; either if they stay after the call
	stay := 1 - min((f.left+forecastLeavePrior*forecastLeaveWeight)/(f.ended+forecastLeaveWeight), forecastMaxLeave)
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
	// With next to nothing to spare, or near the ceiling: only the
	// calls next to sure to find a ready agent. That still dials ahead of
	// an agent whose call has rung long unanswered, where progressive
	// waits for the no-answer (5 agents, 10 % answers, 300 s talks: 74.1
	// → 79.5 % occupancy). There, and in the warm-up, the agents about to
	// be free are left out: a forecast that needs the answer delay, which
	// a campaign just started, or a dialer restarted amid faults, has not
	// measured yet (the predictive crash test's answers come in 1-5 s,
	// not the 8 s assumed until then).
	frugal := f.allowed < forecastFrugal*v.Target/100 || v.Max > 0 && w.Rate(v.Window) >= 0.9*v.Max
	readyOnly := warm || frugal
	for _, left := range v.Agents.WrapUp {
		if readyOnly {
			break
		}
		addSupply(stay * f.ringLasts(left-f.Connect))
	}
	for _, in := range v.Agents.InCall {
		if readyOnly {
			break
		}
		var q float64
		for _, r := range f.ringQuantiles {
			q += f.talk.endsWithin(in.Seconds(), (r + f.Connect - f.wrap).Seconds())
		}
		addSupply(stay * q / float64(len(f.ringQuantiles)))
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
	risk := f.risk
	if frugal {
		risk = min(risk, v.Target/1000)
	}
	// the risk of one more call: P(A >= S), A the demand so far and S
	// the supply; the most calls each of whose risk is within the
	// threshold
	f.supplyCDF = f.supplyCDF[:0]
	c := 0.0
	for _, q := range f.supply {
		c += q
		f.supplyCDF = append(f.supplyCDF, min(c, 1))
	}
	atMost := func(a int) float64 { // P(S <= a)
		b := a - supplyCertain
		switch {
		case b < 0:
			return 0
		case b >= len(f.supplyCDF):
			return 1
		}
		return f.supplyCDF[b]
	}
	supplyMean := float64(supplyCertain + len(f.supply) - 1)
	hi := min(free, int(math.Ceil((supplyMean+4*math.Sqrt(supplyMean+1)+2)/p))+1)
	n := 0
	for n < hi {
		short := 0.0
		for a, pa := range f.demand {
			short += pa * atMost(a)
		}
		if short > risk {
			break
		}
		f.demand = addBernoulli(f.demand, p)
		n++
	}
	return n
}

// liveRate is the live answers per attempt to forecast with. Past the
// warm-up: the recent live answers over the recent attempts (see
// recent), with a prior. Attempts are counted when classified, a live
// answer at its hang-up, after the talk; an unanswered call after its
// ring: in the campaign's first hour the classified live answers lag
// behind the others (by the talk time), and those still in progress are
// counted.
//
// In the warm-up: the rate's upper bound, every call in flight counted
// as a live answer: the calls decided first are the quick ones (busy,
// failed), not a sample of all (taken for one, they had the predictive
// crash test's first answers told the message). A call ringing counts as
// likely as an answered call's ring is to last so long: one unanswered
// long past it is next to surely no live answer.
func (f *Forecast) liveRate(v View, warm bool) float64 {
	if warm {
		couldBeLive := 0.0
		for _, fl := range v.InFlight {
			if fl.State == attempt.Ringing {
				couldBeLive += f.ringLastsTable(fl.Age)
			} else {
				couldBeLive++
			}
		}
		return wilsonUpper(f.recentLive+couldBeLive, f.recentCalls+float64(len(v.InFlight)))
	}
	open := 0.0
	if v.Now.Sub(f.firstView) < time.Hour {
		for _, fl := range v.InFlight {
			if fl.State >= attempt.WaitingAgent && fl.State <= attempt.Message {
				open++
			}
		}
	}
	return min(max((f.recentLive+open+f.LivePrior*forecastPriorWeight)/(f.recentCalls+open+forecastPriorWeight), 0.001), 1)
}

// observe learns from the view: the talk times of the calls that ended
// since the last view (an agent's time in call that did not go on by the
// time between the views), the wrap-up time, the agents leaving after
// calls, and the threshold from the abandon budget.
func (f *Forecast) observe(v View) {
	for _, left := range v.Agents.WrapUp {
		f.wrap = max(f.wrap, left)
	}
	cur := append(f.prev[:0:0], v.Agents.InCall...)
	slices.Sort(cur)
	team := v.Agents.Idle + len(v.Agents.InCall) + len(v.Agents.WrapUp)
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
			f.left *= forecastTalkMemory
			f.ended = f.ended*forecastTalkMemory + 1
		}
	}
	if !f.prevAt.IsZero() && team < f.prevTeam {
		f.left += float64(f.prevTeam - team) // a break, a log-out
	}
	f.prev, f.prevAt, f.prevTeam = cur, v.Now, team
	f.recent(v)
	f.budget(v)
}

// recent keeps the live answers and the attempts classified lately, from
// the deltas of the day's live answers and of the completed attempts
// between views, the older weighing less with each live answer
// (forecastLiveMemory live answers make the memory), so that a change of
// the answer rate shows within minutes where the hour's window took an
// hour (the threshold wound up meanwhile). It starts from the hour's
// window, scaled to the memory.
func (f *Forecast) recent(v View) {
	live, done := float64(v.Abandon.LiveDay), float64(v.Completed)
	dl, dc := live-f.prevDayLive, done-f.prevDone
	f.prevDayLive, f.prevDone = live, done
	if !f.recentOn {
		f.recentOn = true
		scale := min(1, forecastLiveMemory/max(float64(v.Abandon.LiveHour), 1))
		f.recentLive, f.recentCalls = scale*float64(v.Abandon.LiveHour), scale*float64(v.Abandon.CallsHour)
		return
	}
	if dl < 0 || dc < 0 || dl > dc {
		return // a day gone by, or counts read apart
	}
	k := math.Exp(-dl / forecastLiveMemory)
	f.recentLive, f.recentCalls = f.recentLive*k+dl, f.recentCalls*k+dc
}

// budget moves the threshold: the allowed rate is the target plus the
// abandons the compliance window can spare, spread over the live answers
// of the next forecastHorizon hours; each live answer since the last
// view raises the threshold by forecastRiskStep times the allowed rate,
// each abandon lowers it by forecastRiskStep.
func (f *Forecast) budget(v View) {
	l, a := v.Abandon.counts(v.Window)
	t := v.Target / 100
	dl, da := l-f.prevLive, a-f.prevAband
	if !f.counting { // the window's past is not news
		dl, da, f.counting = 0, 0, true
	}
	f.prevLive, f.prevAband = l, a
	if t <= 0 {
		f.allowed = 0
		return
	}
	h := max(forecastHorizon*float64(v.Abandon.LiveHour), forecastMinHorizon)
	margin := forecastMarginFixed + forecastMarginZ*math.Sqrt(t*h)
	f.allowed = min(max(t+(t*l-a-margin)/h, 0), t)
	if l < forecastMinLive {
		// too few live answers to judge by: the threshold as it starts
		f.allowed = t
		return
	}
	// a window that lost a bucket (a day gone by) says nothing of the
	// last moments
	if dl >= 0 && da >= 0 && f.allowed >= forecastFrugal*t {
		f.risk = min(max(f.risk*math.Exp(forecastRiskStep*(f.allowed*dl-da)), 1e-4), forecastMaxRisk*t, 1)
	}
}

// overCeiling reports whether a window's abandons are over the share
// ceiling of its live answers by more than chance explains: by more than
// forecastCeilingZ standard deviations of the count at that share, and
// one abandon besides, so that a window of a handful of live answers
// (where a standard deviation is under one) is not over for its first.
func overCeiling(w Windows, window string, ceiling float64) bool {
	live, abandoned := w.counts(window)
	return abandoned > ceiling*live+1+forecastCeilingZ*math.Sqrt(ceiling*live)
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

// wilsonUpper is the upper bound of the Wilson score interval (z = 2) of
// a rate seen as hits of n: 1 with nothing seen.
func wilsonUpper(hits, n float64) float64 {
	if n <= 0 {
		return 1
	}
	const z = 2.0
	ph := min(max(hits/n, 0), 1)
	c := ph + z*z/(2*n) + z*math.Sqrt(ph*(1-ph)/n+z*z/(4*n*n))
	return min(max(c/(1+z*z/n), 0.001), 1)
}
