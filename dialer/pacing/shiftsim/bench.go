package shiftsim

import (
	"fmt"
	"slices"
	"sync"
)

// Search finds tuned static's ratio (pacing.md baseline 5): the fixed
// calls per ready agent that gives the highest occupancy with the run's
// abandon rate at or under the target, knowing the scenario's true
// parameters (it runs the scenario itself). The abandon rate grows with
// the ratio, so it bisects between 1 (no over-dial) and 2.5 calls per
// expected answer, then keeps the best ratio it ran that stayed under.
//
// A scenario that changes (the answer rate, the team) is tuned on its
// opening conditions, the changes left out, as an operator tunes a static
// dialer offline for the day they expect; the ratio found then runs
// through the day that comes. Tuned on the whole day instead, it would
// know the change before it happens.
func Search(sc Scenario) Result {
	opening := sc
	opening.AnswerChanges, opening.AgentChanges = nil, nil
	lo, hi := 1.0, max(2, 2.5/sc.AnswerRate)
	best := Run(opening, StaticPolicy(lo))
	best.Ratio = lo
	for range searchSteps {
		mid := (lo + hi) / 2
		r := Run(opening, StaticPolicy(mid))
		r.Ratio = mid
		if r.AbandonRate <= sc.Target {
			lo = mid
			if r.Occupancy > best.Occupancy || best.AbandonRate > sc.Target {
				best = r
			}
		} else {
			hi = mid
		}
	}
	if sc.Stationary() {
		return best
	}
	r := Run(sc, StaticPolicy(best.Ratio))
	r.Ratio = best.Ratio
	return r
}

// searchSteps halves the ratio's range so often: 1/256 of it.
const searchSteps = 8

// Bench runs every scenario with every policy named (all of Policies()
// when none), on up to workers goroutines, and scores each result against
// the scenario's progressive and clairvoyant runs (which always run). The
// results are in scenario order, then Policies() order; the same input
// gives the same output whatever the workers.
func Bench(scenarios []Scenario, names []string, workers int) ([]Result, error) {
	all := Policies()
	var chosen []Policy
	for _, p := range all {
		if len(names) == 0 || slices.Contains(names, p.Name) || p.Name == Progressive || p.Name == Clairvoyant {
			chosen = append(chosen, p)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(p Policy) bool { return p.Name == n }) {
			return nil, fmt.Errorf("policy %q: no such policy (have %v)", n, policyNames(all))
		}
	}
	type job struct {
		sc Scenario
		p  Policy
		at int
	}
	jobs := make(chan job)
	results := make([]Result, len(scenarios)*len(chosen))
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for j := range jobs {
				if j.p.Name == TunedStatic {
					results[j.at] = Search(j.sc)
				} else {
					results[j.at] = Run(j.sc, j.p)
				}
			}
		})
	}
	// the slow searches first, so they do not finish last alone
	order := make([]job, 0, len(results))
	for i, sc := range scenarios {
		for k, p := range chosen {
			order = append(order, job{sc: sc, p: p, at: i*len(chosen) + k})
		}
	}
	slices.SortStableFunc(order, func(a, b job) int {
		return bool2int(b.p.Name == TunedStatic) - bool2int(a.p.Name == TunedStatic)
	})
	for _, j := range order {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	for i, sc := range scenarios {
		Score(results[i*len(chosen):(i+1)*len(chosen)], sc.Max)
	}
	return results, nil
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

func policyNames(ps []Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// Score sets each result's score, (U - U_progressive) / (U_clairvoyant -
// U_progressive) on occupancy, from the progressive and clairvoyant runs
// among them (all of one scenario); 0 for a run over the ceiling max
// (percent), and for all when either reference is missing or they tie.
func Score(results []Result, max float64) {
	var up, uc float64
	var haveP, haveC bool
	for _, r := range results {
		switch r.Policy {
		case Progressive:
			up, haveP = r.Occupancy, true
		case Clairvoyant:
			uc, haveC = r.Occupancy, true
		}
	}
	for i := range results {
		r := &results[i]
		r.Score = 0
		if haveP && haveC && uc > up && r.AbandonRate <= max {
			r.Score = (r.Occupancy - up) / (uc - up)
		}
	}
}
