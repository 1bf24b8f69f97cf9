package shiftsim

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	scs, err := Parse([]byte(`{
  "defaults": {"agents": 7, "answerRate": 0.2, "agentChanges": [{"atHours": 1, "agents": 3}]},
  "scenarios": [
    {"name": "a"},
    {"name": "b", "answerRate": 0.5, "agentChanges": []},
    {"name": "c", "answerChanges": [{"atHours": 4, "answerRate": 0.1}]}
  ]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) != 3 {
		t.Fatalf("%d scenarios", len(scs))
	}
	a, b, c := scs[0], scs[1], scs[2]
	switch {
	case a.Agents != 7 || a.AnswerRate != 0.2 || len(a.AgentChanges) != 1 || a.TalkSeconds != Defaults().TalkSeconds:
		t.Errorf("a: the file's defaults over Defaults(): %+v", a)
	case b.AnswerRate != 0.5 || len(b.AgentChanges) != 0 || b.Agents != 7:
		t.Errorf("b: its own fields over the defaults: %+v", b)
	case c.answerRateAt(hours(3.9)) != 0.2 || c.answerRateAt(hours(4)) != 0.1 || c.Stationary():
		t.Errorf("c: the answer rate changes at 4 h: %+v", c)
	}
}

// A wrong scenario file is refused with the scenario and the field (or
// the line) named.
func TestParseErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		file string
		want string
	}{
		{`{"scenarios": [{"name": "a", "answerRate": 1.5}]}`, `scenarios[0] ("a"): answerRate: must be over 0 and at most 1, is 1.5`},
		{`{"scenarios": [{"name": "a"}, {"name": "b", "agnets": 5}]}`, `scenarios[1]: json: unknown field "agnets"`},
		{`{"scenarios": [{"name": "a", "agents": "many"}]}`, `scenarios[0].agents: string given, want int`},
		{`{"defaults": {"talkSeconds": -1}, "scenarios": [{"name": "a"}]}`, `scenarios[0] ("a"): talkSeconds: must be over 0`},
		{`{"defaults": {"hours": "8"}, "scenarios": []}`, `defaults.hours: string given`},
		{"{\"scenarios\": [\n{\"name\": \"a\"},\n{\"name\": \"b\",}\n]}", `scenario file: line 3`},
		{`{"scenarios": []}`, `scenarios: none in the file`},
		{`{"scenarios": [{"name": "a"}, {"name": "a"}]}`, `scenarios[1].name: "a" is also scenarios[0]'s`},
		{`{"scenarios": [{}]}`, `scenarios[0] (""): name: is empty`},
		{`{"scenarios": [{"name": "a", "machineShare": 0.2}]}`, `machineShare: needs amdSeconds`},
		{`{"scenarios": [{"name": "a", "strategy": "loudest"}]}`, `strategy: must be`},
		{`{"scenarios": [{"name": "a", "targetPredictiveSilentCalls": 4}]}`, `targetPredictiveSilentCalls: 4 is above maxPredictiveSilentCalls 3`},
		{`{"scenarios": [{"name": "a", "agentChanges": [{"atHours": 9, "agents": 3}]}]}`, `agentChanges[0].atHours: must be within the shift`},
		{`{"scenarios": [{"name": "a", "agentChanges": [{"atHours": 2, "agents": 3}, {"atHours": 1, "agents": 4}]}]}`, `agentChanges[1].atHours: 1 is before`},
		{`{"scenarios": [{"name": "a", "answerChanges": [{"atHours": 2, "answerRate": 0}]}]}`, `answerChanges[0].answerRate: must be over 0`},
		{`{"scenarios": [{"name": "a", "answerChanges": [{"atHours": 2, "agents": 4, "answerRate": 0.2}]}]}`, `answerChanges[0].agents: belongs in agentChanges`},
		{`{"scenarios": [{"name": "a", "agents": 0}]}`, `agents: no agent is ever logged in`},
		{`{"scenarios": [{"name": "a", "bridgeSeconds": 2}]}`, `bridgeSeconds: must be from 0 to under connectThreshold`},
		{`{"scenarios": [{"name": "a"}]} {}`, `more than one JSON value`},
	} {
		_, err := Parse([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n  error %v\n  want  %s", tc.file, err, tc.want)
		}
	}
}

// The benchmark's own scenario file parses.
func TestBenchmarkScenarios(t *testing.T) {
	data, err := os.ReadFile("../../../deploy/pacing-scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	scs, err := Parse(data)
	if err != nil || len(scs) < 18 {
		t.Fatalf("%d scenarios, %v", len(scs), err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"scenarios": [{"name": "a", "agents": 3, "agentChanges": [{"atHours": 1, "agents": 5}]}]}`))
	f.Add([]byte(`{"defaults": {"answerRate": 0.5}, "scenarios": [{"name": "b", "answerChanges": [{"atHours": 0, "answerRate": 1}]}]}`))
	f.Add([]byte(`{"scenarios": [{"name": "a", "hours": 1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		scs, err := Parse(data)
		if err != nil {
			return
		}
		for i := range scs {
			if err := scs[i].Validate(); err != nil {
				t.Fatalf("scenario %d parsed but invalid: %v", i, err)
			}
			if scs[i].maxAgents() == 0 || scs[i].answerRateAt(0) <= 0 {
				t.Fatalf("scenario %d: no agents or no answers: %+v", i, scs[i])
			}
		}
	})
}

// The member's draws depend on the seed and the member only; whether
// they answer, on the answer rate when called.
func TestMemberDraws(t *testing.T) {
	sc := Defaults()
	sc.AnswerChanges = []Change{{AtHours: 4, AnswerRate: 0.15}}
	if sc.member(7) != sc.member(7) || sc.member(7) == sc.member(8) {
		t.Fatal("member 7's draws are not its own")
	}
	answeredEarly, answeredLate := 0, 0
	for i := range 2000 {
		m := sc.member(i)
		if early, _ := sc.answers(m, time.Hour); early {
			answeredEarly++
		}
		if late, _ := sc.answers(m, 5*time.Hour); late {
			answeredLate++
			if early, _ := sc.answers(m, time.Hour); !early {
				t.Fatalf("member %d answers at the low rate, not at the high one", i)
			}
		}
		if m.ring > seconds(sc.NoAnswerSeconds) || m.patience < time.Second || m.talk < time.Second {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
	if answeredEarly < 500 || answeredEarly > 700 || answeredLate < 220 || answeredLate > 380 {
		t.Fatalf("of 2000: %d answer at 30 %%, %d at 15 %%", answeredEarly, answeredLate)
	}
}

// The pacer's windows sum the store's buckets: the last 60 minutes, 24
// clock hours, 30 days.
func TestWindows(t *testing.T) {
	var w windows
	t0 := epoch // 09:00
	w.count(t0, true, false, false)
	w.count(t0.Add(30*time.Minute), true, true, false)
	w.count(t0.Add(50*time.Minute), false, false, true)
	got := w.at(t0.Add(70 * time.Minute)) // 10:10: the minute of 09:00 is out of the hour
	if got.CallsHour != 2 || got.LiveHour != 1 || got.AbandonedHour != 1 || got.MachineHour != 1 || got.LiveDay != 2 || got.LiveMonth != 2 {
		t.Fatalf("at 10:10: %+v", got)
	}
	got = w.at(t0.Add(25 * time.Hour)) // the 09:00 hour is 25 clock hours back
	if got.LiveHour != 0 || got.LiveDay != 0 || got.LiveMonth != 2 || got.AbandonedMonth != 1 {
		t.Fatalf("a day on: %+v", got)
	}
}

func TestWorstWindow(t *testing.T) {
	m := func(min int, abandoned bool) liveMark {
		return liveMark{at: time.Duration(min) * time.Minute, abandoned: abandoned}
	}
	lives := []liveMark{m(0, true), m(10, false), m(50, false), m(70, true), m(80, true), m(90, false), m(130, false)}
	// windows ending at 70, 80, 90, 130 min: (10,70]: 1 of 3... (20,80]: 2 of 3, (30,90]: 2 of 4, (70,130]: 1 of 3
	if got, want := worstWindow(lives, time.Hour), 100*2.0/3; got != want {
		t.Errorf("1 h: %g, want %g", got, want)
	}
	if got, want := worstWindow(lives, 24*time.Hour), 100*3.0/7; got != want {
		t.Errorf("24 h over a shorter run: %g, want %g (the run)", got, want)
	}
	if got := worstWindow(nil, time.Hour); got != 0 {
		t.Errorf("no live answer: %g", got)
	}
}
