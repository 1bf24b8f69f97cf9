package shiftsim_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/dialer/pacing/shiftsim"
)

// short is a one-hour shift, quick enough for every test.
func short(name string, edit func(sc *shiftsim.Scenario)) shiftsim.Scenario {
	sc := shiftsim.Defaults()
	sc.Name, sc.Hours, sc.Agents, sc.BreakEveryHours, sc.BreakMinutes = name, 1, 10, 0.5, 5
	if edit != nil {
		edit(&sc)
	}
	return sc
}

var shorts = []shiftsim.Scenario{
	short("10 agents, 30 %", nil),
	short("5 agents, 10 %", func(sc *shiftsim.Scenario) { sc.Agents, sc.AnswerRate = 5, 0.1 }),
	short("20 agents, 60 %, long talks", func(sc *shiftsim.Scenario) { sc.Agents, sc.AnswerRate, sc.TalkSeconds = 20, 0.6, 300 }),
	short("lines bind", func(sc *shiftsim.Scenario) { sc.AnswerRate, sc.Lines = 0.1, 25 }),
	short("team changes, answers halve", func(sc *shiftsim.Scenario) {
		sc.AgentChanges = []shiftsim.Change{{AtHours: 0.3, Agents: 20}, {AtHours: 0.7, Agents: 4}}
		sc.AnswerChanges = []shiftsim.Change{{AtHours: 0.5, AnswerRate: 0.15}}
	}),
	short("AMD and machines", func(sc *shiftsim.Scenario) { sc.AMDSeconds, sc.MachineShare = 2.5, 0.3 }),
	short("random agent order", func(sc *shiftsim.Scenario) { sc.Strategy = "random" }),
}

func policy(t *testing.T, name string) shiftsim.Policy {
	if name == shiftsim.TunedStatic {
		return shiftsim.StaticPolicy(2)
	}
	for _, p := range shiftsim.Policies() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no policy %q", name)
	return shiftsim.Policy{}
}

// A run is a pure function of its scenario and policy: the same seed
// gives the same numbers, another seed others.
func TestSameSeedSameResult(t *testing.T) {
	for _, sc := range shorts[:3] {
		for _, p := range shiftsim.Policies() {
			p := policy(t, p.Name)
			first, second := shiftsim.Run(sc, p), shiftsim.Run(sc, p)
			if first != second {
				t.Errorf("%s, %s: two runs differ:\n%+v\n%+v", sc.Name, p.Name, first, second)
			}
			other := sc
			other.Seed++
			if third := shiftsim.Run(other, p); third == first {
				t.Errorf("%s, %s: seed %d and %d gave the same run", sc.Name, p.Name, sc.Seed, other.Seed)
			}
		}
	}
}

// Every live answer is either bridged or abandoned (the connect
// threshold's decision of the attempt machine), and progressive, which
// reserves the agent first, abandons none unless the person hangs up
// while AMD listens.
func TestEveryLiveAnswerBridgedOrAbandoned(t *testing.T) {
	for _, sc := range shorts {
		for _, p := range shiftsim.Policies() {
			r := shiftsim.Run(sc, policy(t, p.Name))
			if r.Live == 0 || r.Bridged == 0 {
				t.Errorf("%s, %s: %d live answers, %d bridged: nothing happened", sc.Name, p.Name, r.Live, r.Bridged)
			}
			if r.Bridged+r.Abandoned != r.Live {
				t.Errorf("%s, %s: %d bridged + %d abandoned != %d live answers", sc.Name, p.Name, r.Bridged, r.Abandoned, r.Live)
			}
			if p.Name == shiftsim.Progressive && sc.AMDSeconds == 0 && r.Abandoned != 0 {
				t.Errorf("%s: progressive abandoned %d calls", sc.Name, r.Abandoned)
			}
		}
	}
}

// The clairvoyant bound is one: no policy keeps agents busier, and it
// abandons nobody.
func TestClairvoyantBoundsEveryPolicy(t *testing.T) {
	for _, sc := range shorts {
		bound := shiftsim.Run(sc, policy(t, shiftsim.Clairvoyant))
		if bound.Abandoned != 0 {
			t.Errorf("%s: the clairvoyant abandoned %d", sc.Name, bound.Abandoned)
		}
		for _, p := range shiftsim.Policies() {
			if r := shiftsim.Run(sc, policy(t, p.Name)); r.Occupancy > bound.Occupancy {
				t.Errorf("%s: %s's occupancy %.4f is over the clairvoyant's %.4f", sc.Name, p.Name, r.Occupancy, bound.Occupancy)
			}
		}
	}
}

// Tuned static's ratio keeps the run at or under the target, and dials
// ahead where it can.
func TestSearchStaysUnderTarget(t *testing.T) {
	sc := short("search", func(sc *shiftsim.Scenario) { sc.Agents = 20 })
	r := shiftsim.Search(sc)
	if r.AbandonRate > sc.Target || r.Ratio <= 1 {
		t.Fatalf("ratio %.2f: abandon %.2f %% (target %.1f)", r.Ratio, r.AbandonRate, sc.Target)
	}
	if prog := shiftsim.Run(sc, policy(t, shiftsim.Progressive)); r.Occupancy <= prog.Occupancy {
		t.Fatalf("tuned static %.3f is not above progressive %.3f", r.Occupancy, prog.Occupancy)
	}
}

// A scenario that changes is tuned on its opening conditions: the ratio
// tuned for an answer rate of 15 % runs on when the rate doubles, and the
// run goes over the target (the failure of a static dialer that a
// non-stationary day shows).
func TestSearchTunesTheOpening(t *testing.T) {
	sc := short("answers double", func(sc *shiftsim.Scenario) {
		sc.Agents, sc.Hours, sc.AnswerRate = 20, 2, 0.15
		sc.AnswerChanges = []shiftsim.Change{{AtHours: 1, AnswerRate: 0.3}}
	})
	opening := sc
	opening.AnswerChanges = nil
	tuned, r := shiftsim.Search(opening), shiftsim.Search(sc)
	if r.Ratio != tuned.Ratio {
		t.Fatalf("ratio %.3f through the change, %.3f tuned on the opening", r.Ratio, tuned.Ratio)
	}
	if tuned.AbandonRate > sc.Target || r.AbandonRate <= sc.Target {
		t.Fatalf("abandon rate %.2f %% on the opening, %.2f %% through the change (target %.1f %%): want under, then over",
			tuned.AbandonRate, r.AbandonRate, sc.Target)
	}
	t.Logf("ratio %.2f: %.2f %% abandoned on the opening, %.2f %% through the change", r.Ratio, tuned.AbandonRate, r.AbandonRate)
}

// Bench scores every run against progressive (0) and the clairvoyant
// (1), zero over the ceiling, whatever the workers.
func TestBenchScores(t *testing.T) {
	scs := []shiftsim.Scenario{shorts[0], shorts[1]}
	one, err := shiftsim.Bench(scs, []string{shiftsim.Ours, shiftsim.WebitelV1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	two, err := shiftsim.Bench(scs, []string{shiftsim.Ours, shiftsim.WebitelV1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(one) != fmt.Sprint(two) || len(one) != 8 {
		t.Fatalf("1 worker and 3 differ, or not 2 scenarios x 4 policies:\n%v\n%v", one, two)
	}
	for _, r := range one {
		switch {
		case r.Policy == shiftsim.Progressive && r.Score != 0, r.Policy == shiftsim.Clairvoyant && r.Score != 1:
			t.Errorf("%s, %s: score %g", r.Scenario, r.Policy, r.Score)
		case r.AbandonRate > 3 && r.Score != 0:
			t.Errorf("%s, %s: abandon %.2f %% over the ceiling, score %g", r.Scenario, r.Policy, r.AbandonRate, r.Score)
		}
	}
	if _, err := shiftsim.Bench(scs, []string{"nobody"}, 1); err == nil || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("an unknown policy: %v", err)
	}
}

func BenchmarkShift8h100Agents(b *testing.B) {
	sc := shiftsim.Defaults()
	sc.Name, sc.Agents, sc.AnswerRate = "8 h, 100 agents, 10 % answer, talk 60 s", 100, 0.1
	for _, name := range []string{shiftsim.Progressive, shiftsim.Ours, shiftsim.Forecast, shiftsim.Clairvoyant} {
		b.Run(name, func(b *testing.B) {
			var p shiftsim.Policy
			for _, q := range shiftsim.Policies() {
				if q.Name == name {
					p = q
				}
			}
			for b.Loop() {
				shiftsim.Run(sc, p)
			}
		})
	}
}

func ExampleRun() {
	sc := shiftsim.Defaults() // 20 agents, 30 % answer, talk 60 s, 8 hours
	sc.Name, sc.Hours = "example", 1
	for _, p := range shiftsim.Policies() {
		if p.Name == shiftsim.Progressive || p.Name == shiftsim.Clairvoyant {
			r := shiftsim.Run(sc, p)
			fmt.Printf("%s: %d abandoned, occupancy over 40 %%: %v\n", r.Policy, r.Abandoned, r.Occupancy > 0.4)
		}
	}
	// Output:
	// progressive: 0 abandoned, occupancy over 40 %: true
	// clairvoyant: 0 abandoned, occupancy over 40 %: true
}
