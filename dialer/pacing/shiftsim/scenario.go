package shiftsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Scenario is one shift to simulate. Times are in seconds unless the name
// says otherwise; rates are shares from 0 to 1 except the abandon rates,
// which are percent as the campaign's parameters are.
type Scenario struct {
	Name string `json:"name"`
	// Seed keys every random draw: a member's outcome is drawn from
	// (Seed, member index), an agent's breaks and login from (Seed, agent
	// index), so every policy meets the same members.
	Seed  uint64  `json:"seed"`
	Hours float64 `json:"hours"` // the shift: dialing stops after it

	Agents             int      `json:"agents"`             // logged in at the start
	AgentChanges       []Change `json:"agentChanges"`       // the team's size from a moment on (agents join or leave)
	LoginSpreadMinutes float64  `json:"loginSpreadMinutes"` // the first logins are spread over so long
	BreakEveryHours    float64  `json:"breakEveryHours"`    // each agent takes a break so often (0: none)
	BreakMinutes       float64  `json:"breakMinutes"`
	WrapSeconds        float64  `json:"wrapSeconds"` // the agents' wrapUpTime, fixed as the engine enforces it
	Strategy           string   `json:"strategy"`    // the campaign's agentStrategy

	Lines int `json:"lines"` // the campaign's line limit (0: none)

	AnswerRate      float64  `json:"answerRate"`      // share of attempts answered, machines included
	AnswerChanges   []Change `json:"answerChanges"`   // the answer rate from a moment on
	MachineShare    float64  `json:"machineShare"`    // share of answers that are machines (needs amdSeconds)
	AMDSeconds      float64  `json:"amdSeconds"`      // AMD's mean time to a verdict (0: no AMD)
	RingSeconds     float64  `json:"ringSeconds"`     // mean ring before an answer (lognormal)
	NoAnswerSeconds float64  `json:"noAnswerSeconds"` // an unanswered call rings so long
	TalkSeconds     float64  `json:"talkSeconds"`     // mean talk time (lognormal)
	TalkSigma       float64  `json:"talkSigma"`       // the talk time's log standard deviation
	PatienceSeconds float64  `json:"patienceSeconds"` // mean wait of an answered person in silence before hanging up (lognormal, at least 1 s)
	SafeHarborSec   float64  `json:"safeHarborSeconds"`

	// The campaign's knobs (store.Parameters, store.Predictive).
	Target         float64 `json:"targetPredictiveSilentCalls"`
	Max            float64 `json:"maxPredictiveSilentCalls"`
	PredictAdjust  int     `json:"predictAdjust"`
	ConnectSeconds float64 `json:"connectThreshold"`

	TurnSeconds   float64 `json:"turnSeconds"`   // the pacer is asked at least so often (and when an agent frees up)
	BridgeSeconds float64 `json:"bridgeSeconds"` // an agent found to the bridge
}

// Change is a value from a moment of the shift on.
type Change struct {
	AtHours    float64 `json:"atHours"`
	Agents     int     `json:"agents,omitempty"`
	AnswerRate float64 `json:"answerRate,omitempty"`
}

// Defaults are the values of a field no file sets: a 20-agent team of
// the seeds' example campaign (target 2.5 %, ceiling 3 %, predictAdjust
// 150, a 2 s connect threshold: store.DefaultConnect).
func Defaults() Scenario {
	return Scenario{Seed: 1, Hours: 8, Agents: 20, LoginSpreadMinutes: 5, BreakEveryHours: 2, BreakMinutes: 10,
		WrapSeconds: 10, Strategy: "longest-idle-agent", AnswerRate: 0.3, RingSeconds: 8, NoAnswerSeconds: 30,
		TalkSeconds: 60, TalkSigma: 0.8, PatienceSeconds: 8, SafeHarborSec: 5,
		Target: 2.5, Max: 3, PredictAdjust: 150, ConnectSeconds: 2, TurnSeconds: 1}
}

// Parse reads a scenario file: each scenario is the file's defaults (over
// Defaults()) with its own fields on top. Errors name the scenario and
// the field, and the line of a syntax error.
func Parse(data []byte) ([]Scenario, error) {
	var raw struct {
		Defaults  json.RawMessage   `json:"defaults"`
		Scenarios []json.RawMessage `json:"scenarios"`
	}
	if err := decodeStrict(data, &raw); err != nil {
		return nil, fileError(data, "scenario file", err)
	}
	base := Defaults()
	if len(raw.Defaults) > 0 {
		if err := decodeStrict(raw.Defaults, &base); err != nil {
			return nil, fileError(data, "defaults", err)
		}
	}
	if len(raw.Scenarios) == 0 {
		return nil, errors.New("scenarios: none in the file")
	}
	out := make([]Scenario, 0, len(raw.Scenarios))
	names := map[string]int{}
	for i, r := range raw.Scenarios {
		sc := base
		sc.AgentChanges = append([]Change(nil), base.AgentChanges...)
		sc.AnswerChanges = append([]Change(nil), base.AnswerChanges...)
		sc.Name = ""
		if err := decodeStrict(r, &sc); err != nil {
			return nil, fileError(data, fmt.Sprintf("scenarios[%d]", i), err)
		}
		if err := sc.Validate(); err != nil {
			return nil, fmt.Errorf("scenarios[%d] (%q): %w", i, sc.Name, err)
		}
		if j, dup := names[sc.Name]; dup {
			return nil, fmt.Errorf("scenarios[%d].name: %q is also scenarios[%d]'s", i, sc.Name, j)
		}
		names[sc.Name] = i
		out = append(out, sc)
	}
	return out, nil
}

func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// fileError says where a decoding error is: the part of the file, the
// field of a wrong type, the line of a syntax error.
func fileError(data []byte, part string, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s: line %d: %v", part, lineOf(data, syntax.Offset), err)
	case errors.As(err, &typ):
		return fmt.Errorf("%s.%s: %s given, want %s", part, typ.Field, typ.Value, typ.Type)
	}
	return fmt.Errorf("%s: %w", part, err)
}

func lineOf(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// Validate checks every field, naming the first that is wrong.
func (s *Scenario) Validate() error {
	finite := func(xs ...float64) bool {
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	checks := []struct {
		ok    bool
		field string
		msg   string
	}{
		{s.Name != "", "name", "is empty"},
		{finite(s.Hours) && s.Hours > 0 && s.Hours <= 24*31, "hours", fmt.Sprintf("must be over 0 and at most 744, is %g", s.Hours)},
		{s.Agents >= 0 && s.Agents <= 10000, "agents", fmt.Sprintf("must be 0 to 10000, is %d", s.Agents)},
		{finite(s.LoginSpreadMinutes) && s.LoginSpreadMinutes >= 0, "loginSpreadMinutes", fmt.Sprintf("must not be negative, is %g", s.LoginSpreadMinutes)},
		{finite(s.BreakEveryHours) && s.BreakEveryHours >= 0, "breakEveryHours", fmt.Sprintf("must not be negative, is %g", s.BreakEveryHours)},
		{finite(s.BreakMinutes) && s.BreakMinutes >= 0 && (s.BreakEveryHours == 0 || s.BreakMinutes < 60*s.BreakEveryHours), "breakMinutes",
			fmt.Sprintf("must be from 0 to under breakEveryHours, is %g", s.BreakMinutes)},
		{finite(s.WrapSeconds) && s.WrapSeconds >= 0, "wrapSeconds", fmt.Sprintf("must not be negative, is %g", s.WrapSeconds)},
		{validStrategy(s.Strategy), "strategy", fmt.Sprintf("must be longest-idle-agent, agent-with-fewest-calls, agent-with-least-talk-time or random, is %q", s.Strategy)},
		{s.Lines >= 0, "lines", fmt.Sprintf("must not be negative (0: no limit), is %d", s.Lines)},
		{finite(s.AnswerRate) && s.AnswerRate > 0 && s.AnswerRate <= 1, "answerRate", fmt.Sprintf("must be over 0 and at most 1, is %g", s.AnswerRate)},
		{finite(s.MachineShare) && s.MachineShare >= 0 && s.MachineShare < 1, "machineShare", fmt.Sprintf("must be from 0 to under 1, is %g", s.MachineShare)},
		{finite(s.AMDSeconds) && s.AMDSeconds >= 0 && s.AMDSeconds <= 10, "amdSeconds", fmt.Sprintf("must be 0 to 10, is %g", s.AMDSeconds)},
		{s.MachineShare == 0 || s.AMDSeconds > 0, "machineShare", "needs amdSeconds: without AMD a machine is a live answer"},
		{finite(s.RingSeconds) && s.RingSeconds > 0, "ringSeconds", fmt.Sprintf("must be over 0, is %g", s.RingSeconds)},
		{finite(s.NoAnswerSeconds) && s.NoAnswerSeconds > 0, "noAnswerSeconds", fmt.Sprintf("must be over 0, is %g", s.NoAnswerSeconds)},
		{finite(s.TalkSeconds) && s.TalkSeconds > 0, "talkSeconds", fmt.Sprintf("must be over 0, is %g", s.TalkSeconds)},
		{finite(s.TalkSigma) && s.TalkSigma >= 0 && s.TalkSigma <= 3, "talkSigma", fmt.Sprintf("must be 0 to 3, is %g", s.TalkSigma)},
		{finite(s.PatienceSeconds) && s.PatienceSeconds > 0, "patienceSeconds", fmt.Sprintf("must be over 0, is %g", s.PatienceSeconds)},
		{finite(s.SafeHarborSec) && s.SafeHarborSec >= 0, "safeHarborSeconds", fmt.Sprintf("must not be negative, is %g", s.SafeHarborSec)},
		{finite(s.Target) && s.Target >= 0 && s.Target <= 100, "targetPredictiveSilentCalls", fmt.Sprintf("must be a percentage, is %g", s.Target)},
		{finite(s.Max) && s.Max > 0 && s.Max <= 100, "maxPredictiveSilentCalls", fmt.Sprintf("must be a percentage over 0, is %g", s.Max)},
		{s.Target <= s.Max, "targetPredictiveSilentCalls", fmt.Sprintf("%g is above maxPredictiveSilentCalls %g", s.Target, s.Max)},
		{s.PredictAdjust >= 0, "predictAdjust", fmt.Sprintf("must not be negative, is %d", s.PredictAdjust)},
		{finite(s.ConnectSeconds) && s.ConnectSeconds > 0 && s.ConnectSeconds <= 60, "connectThreshold", fmt.Sprintf("must be over 0 and at most 60, is %g", s.ConnectSeconds)},
		{finite(s.TurnSeconds) && s.TurnSeconds >= 0.05 && s.TurnSeconds <= 60, "turnSeconds", fmt.Sprintf("must be 0.05 to 60, is %g", s.TurnSeconds)},
		{finite(s.BridgeSeconds) && s.BridgeSeconds >= 0 && s.BridgeSeconds < s.ConnectSeconds, "bridgeSeconds", fmt.Sprintf("must be from 0 to under connectThreshold, is %g", s.BridgeSeconds)},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("%s: %s", c.field, c.msg)
		}
	}
	for i, c := range s.AgentChanges {
		field := fmt.Sprintf("agentChanges[%d]", i)
		switch {
		case !finite(c.AtHours) || c.AtHours < 0 || c.AtHours > s.Hours:
			return fmt.Errorf("%s.atHours: must be within the shift (0 to %g), is %g", field, s.Hours, c.AtHours)
		case c.Agents < 0 || c.Agents > 10000:
			return fmt.Errorf("%s.agents: must be 0 to 10000, is %d", field, c.Agents)
		case c.AnswerRate != 0:
			return fmt.Errorf("%s.answerRate: belongs in answerChanges", field)
		case i > 0 && c.AtHours < s.AgentChanges[i-1].AtHours:
			return fmt.Errorf("%s.atHours: %g is before the change above it", field, c.AtHours)
		}
	}
	for i, c := range s.AnswerChanges {
		field := fmt.Sprintf("answerChanges[%d]", i)
		switch {
		case !finite(c.AtHours) || c.AtHours < 0 || c.AtHours > s.Hours:
			return fmt.Errorf("%s.atHours: must be within the shift (0 to %g), is %g", field, s.Hours, c.AtHours)
		case !finite(c.AnswerRate) || c.AnswerRate <= 0 || c.AnswerRate > 1:
			return fmt.Errorf("%s.answerRate: must be over 0 and at most 1, is %g", field, c.AnswerRate)
		case c.Agents != 0:
			return fmt.Errorf("%s.agents: belongs in agentChanges", field)
		case i > 0 && c.AtHours < s.AnswerChanges[i-1].AtHours:
			return fmt.Errorf("%s.atHours: %g is before the change above it", field, c.AtHours)
		}
	}
	if s.maxAgents() == 0 {
		return errors.New("agents: no agent is ever logged in")
	}
	return nil
}

func validStrategy(s string) bool {
	switch s {
	case "", "longest-idle-agent", "agent-with-fewest-calls", "agent-with-least-talk-time", "random":
		return true
	}
	return false
}

// maxAgents is the largest the team gets.
func (s *Scenario) maxAgents() int {
	n := s.Agents
	for _, c := range s.AgentChanges {
		n = max(n, c.Agents)
	}
	return n
}

// teamAt is the team's size at offset t.
func (s *Scenario) teamAt(t time.Duration) int {
	n := s.Agents
	for _, c := range s.AgentChanges {
		if t >= hours(c.AtHours) {
			n = c.Agents
		}
	}
	return n
}

// answerRateAt is the answer rate at offset t.
func (s *Scenario) answerRateAt(t time.Duration) float64 {
	p := s.AnswerRate
	for _, c := range s.AnswerChanges {
		if t >= hours(c.AtHours) {
			p = c.AnswerRate
		}
	}
	return p
}

// Stationary reports whether nothing of the scenario changes during the
// shift (its answer rate and team).
func (s *Scenario) Stationary() bool { return len(s.AnswerChanges) == 0 && len(s.AgentChanges) == 0 }

func hours(h float64) time.Duration   { return time.Duration(h * float64(time.Hour)) }
func seconds(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
