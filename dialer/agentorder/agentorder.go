// Package agentorder orders the agents ready for a call by a campaign's
// agent strategy, best first. It is pure (no store, clock or global random
// source), so the engine's agent pool and the pacing benchmark rank agents
// with the same code.
package agentorder

import (
	"cmp"
	"slices"
	"time"
)

// Agent is what a strategy ranks an agent by.
type Agent struct {
	ID       string
	Calls    int           // calls answered so far
	TalkTime int64         // seconds talked so far
	Waited   time.Duration // since the agent was last ready
}

// Strategies, as a campaign names them (store.Campaign.AgentStrategy).
const (
	LongestIdle   = "longest-idle-agent" // the default
	FewestCalls   = "agent-with-fewest-calls"
	LeastTalkTime = "agent-with-least-talk-time"
	Random        = "random"
)

// Sort orders agents best first by strategy; of reads what the strategy
// ranks by, shuffle is the random source of the random strategy (the
// engine passes math/rand/v2's Shuffle, the benchmark a seeded one). Ties
// go to the lower id, so every other order is deterministic. An unknown
// strategy is the default, longest idle first.
func Sort[T any](agents []T, strategy string, of func(T) Agent, shuffle func(n int, swap func(i, j int))) {
	byID := func(a, b Agent) int { return cmp.Compare(a.ID, b.ID) }
	var compare func(a, b Agent) int
	switch strategy {
	case FewestCalls:
		compare = func(a, b Agent) int { return cmp.Or(cmp.Compare(a.Calls, b.Calls), byID(a, b)) }
	case LeastTalkTime:
		compare = func(a, b Agent) int { return cmp.Or(cmp.Compare(a.TalkTime, b.TalkTime), byID(a, b)) }
	case Random:
		shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
		return
	default:
		compare = func(a, b Agent) int { return cmp.Or(cmp.Compare(b.Waited, a.Waited), byID(a, b)) }
	}
	slices.SortFunc(agents, func(a, b T) int { return compare(of(a), of(b)) })
}
