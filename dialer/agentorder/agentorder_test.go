package agentorder_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/agentorder"
)

func TestSort(t *testing.T) {
	agents := []agentorder.Agent{
		{ID: "a", Calls: 5, TalkTime: 900, Waited: 10 * time.Second},
		{ID: "b", Calls: 1, TalkTime: 1200, Waited: 5 * time.Minute},
		{ID: "c", Calls: 3, TalkTime: 100, Waited: time.Minute},
		{ID: "d", Calls: 1, TalkTime: 100, Waited: time.Minute},
	}
	for _, tc := range []struct{ strategy, want string }{
		{agentorder.LongestIdle, "b,c,d,a"}, // c and d waited as long: by id
		{"", "b,c,d,a"},                     // the default
		{"no-such-strategy", "b,c,d,a"},
		{agentorder.FewestCalls, "b,d,c,a"},
		{agentorder.LeastTalkTime, "c,d,a,b"},
	} {
		got := ids(sorted(agents, tc.strategy, nil))
		if got != tc.want {
			t.Errorf("%q: %s, want %s", tc.strategy, got, tc.want)
		}
	}
	// random: the shuffle given decides, and the same seed orders alike
	r1, r2 := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
	first, second := ids(sorted(agents, agentorder.Random, r1.Shuffle)), ids(sorted(agents, agentorder.Random, r2.Shuffle))
	if first != second || len(first) != len("a,b,c,d") {
		t.Errorf("random with one seed: %s then %s", first, second)
	}
}

func sorted(agents []agentorder.Agent, strategy string, shuffle func(int, func(int, int))) []agentorder.Agent {
	out := append([]agentorder.Agent(nil), agents...)
	agentorder.Sort(out, strategy, func(a agentorder.Agent) agentorder.Agent { return a }, shuffle)
	return out
}

func ids(agents []agentorder.Agent) string {
	var out []string
	for _, a := range agents {
		out = append(out, a.ID)
	}
	return strings.Join(out, ",")
}
