package sim

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenario is the simulated world behind the switch: how subscribers answer,
// how agents answer, what the gateways carry, and how long things take.
// Durations are in seconds of simulated time.
type Scenario struct {
	// Seed fixes every random draw: the same seed and the same commands
	// give the same outcomes.
	Seed uint64 `yaml:"seed" json:"seed"`
	// TimeScale runs the simulation that many times faster than real time
	// (used by cmd/fsim and dialerd demo; 0 or 1: real time).
	TimeScale float64 `yaml:"time_scale" json:"time_scale"`
	// Hostname is FreeSWITCH-Hostname (default "fsim").
	Hostname string `yaml:"hostname" json:"hostname"`
	// Numbers are tried in order; the first whose pattern matches the dialed
	// number decides its behaviour. A number no rule matches uses Default.
	Numbers []NumberRule `yaml:"numbers" json:"numbers"`
	Default NumberRule   `yaml:"default" json:"default"`
	// Agents are the user/EXT endpoints.
	Agents []AgentSpec `yaml:"agents" json:"agents"`
	// Gateways are the sofia/gateway/NAME endpoints; any other name fails
	// with INVALID_GATEWAY.
	Gateways []GatewaySpec `yaml:"gateways" json:"gateways"`
	// Profiles are the sofia profiles for sofia/PROFILE/NUMBER@HOST
	// (default internal and external).
	Profiles []string `yaml:"profiles" json:"profiles"`
	// Extensions are dialplan extensions for originate's extension form,
	// uuid_transfer and loopback/EXT: each plays for a while and hangs up.
	Extensions map[string]Extension `yaml:"extensions" json:"extensions"`
	// Playback is how long any played file lasts (default 10 s).
	Playback Dist `yaml:"playback" json:"playback"`
	// AMD is how the amd application judges answers.
	AMD AMDSpec `yaml:"amd" json:"amd"`
	// Files says which files playback finds.
	Files FilesSpec `yaml:"files" json:"files"`
	// SessionsPerSecond is switch.conf.xml's sessions-per-second: past it
	// a new channel is refused (DESTINATION_OUT_OF_ORDER). Unset: 30, the
	// switch's default; 0: no limit (which FreeSWITCH cannot be told).
	SessionsPerSecond *int `yaml:"sessions_per_second" json:"sessions_per_second"`
	// ShowChannelsLag is how far the core database behind "show channels"
	// trails the events (a number sets all three, 0 none).
	ShowChannelsLag LagSpec `yaml:"show_channels_lag" json:"show_channels_lag"`
	// Inbound is the callers who dial in (nil: none).
	Inbound *InboundSpec `yaml:"inbound" json:"inbound"`
}

// LagSpec is how long after an event the core database (the channels
// table "show channels" reads) has it: Create after CHANNEL_CREATE, Update
// after the events that change a row, Destroy after CHANNEL_DESTROY. The
// SQL thread applies them in order, so a later one never lands first.
type LagSpec struct {
	Create  Dist `yaml:"create" json:"create"`
	Update  Dist `yaml:"update" json:"update"`
	Destroy Dist `yaml:"destroy" json:"destroy"`
}

// UnmarshalYAML takes a number (every lag that constant) or a mapping.
func (l *LagSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var d Dist
		if err := d.UnmarshalYAML(n); err != nil {
			return err
		}
		*l = LagSpec{Create: d, Update: d, Destroy: d}
		return nil
	}
	type plain LagSpec
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*l = LagSpec(p)
	return nil
}

// sessionsPerSecond is the limit in force, 0 for none.
func (sc *Scenario) sessionsPerSecond() int {
	if sc.SessionsPerSecond == nil {
		return 30
	}
	return *sc.SessionsPerSecond
}

// FilesSpec says which files exist for playback. tone_stream://,
// silence_stream:// and local_stream:// always do; any other path does when
// it matches no Missing pattern and, if Exist is given, an Exist pattern.
// A pattern is a path.Match glob ('*' stays within a directory), or a
// prefix when it ends in '/'.
type FilesSpec struct {
	// SoundPrefix is the global sound_prefix: where a relative path is
	// looked for (default /usr/share/freeswitch/sounds/en/us/callie, as
	// vars.xml of a packaged switch sets it).
	SoundPrefix string   `yaml:"sound_prefix" json:"sound_prefix"`
	Exist       []string `yaml:"exist" json:"exist"`
	Missing     []string `yaml:"missing" json:"missing"`
}

func (f *FilesSpec) exists(file string) bool {
	for _, stream := range []string{"tone_stream://", "silence_stream://", "local_stream://"} {
		if hasPrefixFold(file, stream) {
			return true
		}
	}
	if matchAny(f.Missing, file) {
		return false
	}
	return len(f.Exist) == 0 || matchAny(f.Exist, file)
}

func matchAny(patterns []string, file string) bool {
	for _, p := range patterns {
		if strings.HasSuffix(p, "/") {
			if strings.HasPrefix(file, p) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(p, file); ok {
			return true
		}
	}
	return false
}

// NumberRule is the behaviour of the numbers matching Pattern. The outcome
// probabilities are shares of all calls; what they leave is no answer.
type NumberRule struct {
	Pattern    string  `yaml:"pattern" json:"pattern"`
	Answer     float64 `yaml:"answer" json:"answer"`
	Busy       float64 `yaml:"busy" json:"busy"`
	Reject     float64 `yaml:"reject" json:"reject"`
	Invalid    float64 `yaml:"invalid" json:"invalid"`
	TempFail   float64 `yaml:"temp_fail" json:"temp_fail"`
	EarlyMedia float64 `yaml:"early_media" json:"early_media"` // share of calls that send 183 before ringing out
	// Ring is the time from the INVITE to the answer; Setup the time to a
	// busy, reject or other failure reply.
	Ring  Dist `yaml:"ring" json:"ring"`
	Setup Dist `yaml:"setup" json:"setup"`
	// Talk is how long a person stays once they hear someone (an agent, a
	// message); Patience how long they wait in silence after answering.
	Talk     Dist `yaml:"talk" json:"talk"`
	Patience Dist `yaml:"patience" json:"patience"`
	// Machine is the share of answers that are answering machines, which
	// hang up after MachineTalk whatever happens.
	Machine     float64 `yaml:"machine" json:"machine"`
	MachineTalk Dist    `yaml:"machine_talk" json:"machine_talk"`

	re *regexp.Regexp
}

// AgentSpec is an agent's phone, user/Extension.
type AgentSpec struct {
	Extension string `yaml:"extension" json:"extension"`
	// Answer is the probability the agent answers (default 1); one who does
	// not rings until the originate times out.
	Answer      *float64 `yaml:"answer" json:"answer"`
	AnswerDelay Dist     `yaml:"answer_delay" json:"answer_delay"`
	// Unregistered agents fail with USER_NOT_REGISTERED.
	Unregistered bool `yaml:"unregistered" json:"unregistered"`
	// Reject and Busy are the probabilities that an agent who would not
	// answer rejects the call (SIP 603: CALL_REJECTED) after answer_delay,
	// or is busy or on do-not-disturb (SIP 486: USER_BUSY) at once,
	// instead of letting it ring out.
	Reject float64 `yaml:"reject" json:"reject"`
	Busy   float64 `yaml:"busy" json:"busy"`
}

// GatewaySpec is a gateway: Capacity concurrent calls and CallsPerSecond
// new calls a second (0: unlimited); past either, calls fail with
// NORMAL_CIRCUIT_CONGESTION (SIP 503). A Down gateway fails them with
// GATEWAY_DOWN.
type GatewaySpec struct {
	Name           string  `yaml:"name" json:"name"`
	Capacity       int     `yaml:"capacity" json:"capacity"`
	CallsPerSecond float64 `yaml:"cps" json:"cps"`
	Down           bool    `yaml:"down" json:"down"`
}

// Extension is a dialplan extension that plays for Duration then hangs up.
type Extension struct {
	Duration Dist `yaml:"duration" json:"duration"`
}

// AMDSpec shapes the amd application's verdicts: it answers after Delay,
// says NOTSURE for a NotSure share of calls, and errs on FalseMachine of
// people and FalseHuman of machines. On a NoVerdict share it never
// answers: mod_amd reads frames until it decides, and a line that carries
// no audio gives it none (pacing.md), so the application runs until the
// call is bridged, transferred or hung up.
type AMDSpec struct {
	Delay        Dist    `yaml:"delay" json:"delay"`
	NoVerdict    float64 `yaml:"no_verdict" json:"no_verdict"`
	NotSure      float64 `yaml:"not_sure" json:"not_sure"`
	FalseMachine float64 `yaml:"false_machine" json:"false_machine"`
	FalseHuman   float64 `yaml:"false_human" json:"false_human"`
}

// Dist is a distribution of durations in seconds: const (Mean), uniform
// (Mean ± Spread), exp (mean Mean) or lognormal (mean Mean, standard
// deviation Spread); draws are clamped to [Min, Max] when those are set.
//
// In a scenario file a plain number is a constant: "ring: 5" is
// "ring: {mean: 5}".
type Dist struct {
	Kind   string  `yaml:"dist" json:"dist"`
	Mean   float64 `yaml:"mean" json:"mean"`
	Spread float64 `yaml:"spread" json:"spread"`
	Min    float64 `yaml:"min" json:"min"`
	Max    float64 `yaml:"max" json:"max"`

	set bool // given in the file, even if all zero ("ring: 0")
}

// UnmarshalYAML takes a number (a constant) or a mapping.
func (d *Dist) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var v float64
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: a duration is a number of seconds or a mapping: %w", n.Line, err)
		}
		*d = Dist{Mean: v, set: true}
		return nil
	}
	type plain Dist // without this method
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*d = Dist(p)
	d.set = true
	return nil
}

func (d Dist) isZero() bool { return !d.set && d == Dist{} }

func orDist(d, def Dist) Dist {
	if d.isZero() {
		return def
	}
	return d
}

func (d Dist) validate(field string) error {
	switch d.Kind {
	case "", "const", "uniform", "exp", "lognormal":
	default:
		return fmt.Errorf("%s.dist: %q is not one of const, uniform, exp, lognormal", field, d.Kind)
	}
	if d.Mean < 0 || d.Spread < 0 || d.Min < 0 || d.Max < 0 {
		return fmt.Errorf("%s: durations must not be negative", field)
	}
	if d.Max > 0 && d.Min > d.Max {
		return fmt.Errorf("%s: min %g is above max %g", field, d.Min, d.Max)
	}
	return nil
}

// Draw returns one duration.
func (d Dist) Draw(r *rand.Rand) time.Duration {
	var s float64
	switch d.Kind {
	case "uniform":
		s = d.Mean - d.Spread + 2*d.Spread*r.Float64()
	case "exp":
		s = r.ExpFloat64() * d.Mean
	case "lognormal":
		if d.Mean > 0 {
			sigma2 := math.Log1p(d.Spread * d.Spread / (d.Mean * d.Mean))
			mu := math.Log(d.Mean) - sigma2/2
			s = math.Exp(mu + math.Sqrt(sigma2)*r.NormFloat64())
		}
	default:
		s = d.Mean
	}
	if s < d.Min {
		s = d.Min
	}
	if d.Max > 0 && s > d.Max {
		s = d.Max
	}
	if s < 0 {
		s = 0
	}
	return time.Duration(s * float64(time.Second))
}

// Defaults that make an unconfigured rule behave like a plausible consumer
// list.
var (
	defaultRing        = Dist{Kind: "lognormal", Mean: 8, Spread: 5, Min: 1, Max: 60}
	defaultSetup       = Dist{Kind: "uniform", Mean: 0.5, Spread: 0.3}
	defaultTalk        = Dist{Kind: "lognormal", Mean: 60, Spread: 45, Min: 3}
	defaultPatience    = Dist{Kind: "uniform", Mean: 4, Spread: 2}
	defaultMachineTalk = Dist{Kind: "uniform", Mean: 25, Spread: 10}
	defaultPlayback    = Dist{Mean: 10}
	defaultAMDDelay    = Dist{Kind: "uniform", Mean: 3, Spread: 1}
	defaultAnswerDelay = Dist{Kind: "uniform", Mean: 2, Spread: 1}
	// Measured on FreeSWITCH 1.10.12: a channel is in "show channels"
	// 109-287 ms after its CHANNEL_CREATE and still there 9-145 ms after
	// its CHANNEL_HANGUP_COMPLETE.
	defaultCreateLag  = Dist{Kind: "uniform", Mean: 0.198, Spread: 0.089}
	defaultDestroyLag = Dist{Kind: "uniform", Mean: 0.077, Spread: 0.068}
)

// DefaultScenario is the world of the demo: a gateway "subscribers" with
// room for 500 calls at 200 calls a second, agents 1000-1019, and numbers
// that answer 35 % of the time.
func DefaultScenario() *Scenario {
	sc := &Scenario{
		Seed:     1,
		Gateways: []GatewaySpec{{Name: "subscribers", Capacity: 500, CallsPerSecond: 200}},
		Default: NumberRule{
			Answer: 0.35, Busy: 0.15, Reject: 0.03, Invalid: 0.02, TempFail: 0.02,
			Machine: 0.15,
			Ring:    Dist{Kind: "lognormal", Mean: 10, Spread: 6, Min: 2, Max: 60},
			Talk:    Dist{Kind: "lognormal", Mean: 30, Spread: 20, Min: 3},
		},
	}
	for i := 0; i < 20; i++ {
		sc.Agents = append(sc.Agents, AgentSpec{Extension: fmt.Sprint(1000 + i)})
	}
	if err := sc.prepare(); err != nil {
		panic(err) // the literal above is valid; a failure here is a bug
	}
	return sc
}

// ParseScenario reads a scenario in YAML or JSON. Unknown fields are errors,
// reported with their line.
func ParseScenario(data []byte) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil && err != io.EOF { // an empty document is all defaults
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := sc.prepare(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return &sc, nil
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// prepare checks the scenario, names the first bad field, and fills defaults.
// Prepare checks a scenario changed in code, as ParseScenario checks one
// read, and fills its defaults.
func (sc *Scenario) Prepare() error { return sc.prepare() }

func (sc *Scenario) prepare() error {
	if sc.TimeScale < 0 {
		return fmt.Errorf("time_scale: %g must not be negative", sc.TimeScale)
	}
	if sc.Hostname == "" {
		sc.Hostname = "fsim"
	}
	if len(sc.Profiles) == 0 {
		sc.Profiles = []string{"internal", "external"}
	}
	for i := range sc.Numbers {
		if err := sc.Numbers[i].prepare(fmt.Sprintf("numbers[%d]", i)); err != nil {
			return err
		}
	}
	if err := sc.Default.prepare("default"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, a := range sc.Agents {
		field := fmt.Sprintf("agents[%d]", i)
		switch {
		case a.Extension == "":
			return fmt.Errorf("%s.extension: missing", field)
		case seen[a.Extension]:
			return fmt.Errorf("%s.extension: %q is listed twice", field, a.Extension)
		case a.Answer != nil && (*a.Answer < 0 || *a.Answer > 1):
			return fmt.Errorf("%s.answer: %g is not a probability", field, *a.Answer)
		case a.Reject < 0 || a.Busy < 0 || a.Reject+a.Busy > 1:
			return fmt.Errorf("%s: reject %g and busy %g must be probabilities that add up to at most 1", field, a.Reject, a.Busy)
		}
		if err := a.AnswerDelay.validate(field + ".answer_delay"); err != nil {
			return err
		}
		seen[a.Extension] = true
		sc.Agents[i].AnswerDelay = orDist(a.AnswerDelay, defaultAnswerDelay)
	}
	seen = map[string]bool{}
	for i, g := range sc.Gateways {
		field := fmt.Sprintf("gateways[%d]", i)
		switch {
		case g.Name == "":
			return fmt.Errorf("%s.name: missing", field)
		case seen[g.Name]:
			return fmt.Errorf("%s.name: %q is listed twice", field, g.Name)
		case g.Capacity < 0:
			return fmt.Errorf("%s.capacity: %d must not be negative", field, g.Capacity)
		case g.CallsPerSecond < 0:
			return fmt.Errorf("%s.cps: %g must not be negative", field, g.CallsPerSecond)
		}
		seen[g.Name] = true
	}
	for name, x := range sc.Extensions {
		if err := x.Duration.validate("extensions." + name + ".duration"); err != nil {
			return err
		}
	}
	if err := sc.Playback.validate("playback"); err != nil {
		return err
	}
	sc.Playback = orDist(sc.Playback, defaultPlayback)
	a := &sc.AMD
	if err := a.Delay.validate("amd.delay"); err != nil {
		return err
	}
	for field, p := range map[string]float64{"no_verdict": a.NoVerdict, "not_sure": a.NotSure, "false_machine": a.FalseMachine, "false_human": a.FalseHuman} {
		if p < 0 || p > 1 {
			return fmt.Errorf("amd.%s: %g is not a probability", field, p)
		}
	}
	a.Delay = orDist(a.Delay, defaultAMDDelay)
	for field, list := range map[string][]string{"files.exist": sc.Files.Exist, "files.missing": sc.Files.Missing} {
		for i, p := range list {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return fmt.Errorf("%s[%d]: %q is not a pattern", field, i, p)
			}
		}
	}
	if n := sc.SessionsPerSecond; n != nil && *n < 0 {
		return fmt.Errorf("sessions_per_second: %d must not be negative", *n)
	}
	lag := &sc.ShowChannelsLag
	for field, d := range map[string]*Dist{"create": &lag.Create, "update": &lag.Update, "destroy": &lag.Destroy} {
		if err := d.validate("show_channels_lag." + field); err != nil {
			return err
		}
	}
	lag.Create = orDist(lag.Create, defaultCreateLag)
	lag.Update = orDist(lag.Update, defaultDestroyLag)
	lag.Destroy = orDist(lag.Destroy, defaultDestroyLag)
	if sc.Inbound != nil {
		if err := sc.Inbound.prepare(); err != nil {
			return err
		}
		if _, ok := sc.Extensions[sc.Inbound.Fallback]; !ok {
			return fmt.Errorf("inbound.fallback: %q is not one of extensions (the dialplan's transfer would fail)", sc.Inbound.Fallback)
		}
	}
	if sc.Files.SoundPrefix == "" {
		sc.Files.SoundPrefix = "/usr/share/freeswitch/sounds/en/us/callie"
	}
	return nil
}

func (r *NumberRule) prepare(field string) error {
	re, err := regexp.Compile(r.Pattern)
	if err != nil {
		return fmt.Errorf("%s.pattern: %w", field, err)
	}
	r.re = re
	for name, p := range map[string]float64{"answer": r.Answer, "busy": r.Busy, "reject": r.Reject, "invalid": r.Invalid, "temp_fail": r.TempFail, "early_media": r.EarlyMedia, "machine": r.Machine} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s.%s: %g is not a probability", field, name, p)
		}
	}
	sum := r.Answer + r.Busy + r.Reject + r.Invalid + r.TempFail
	if sum > 1+1e-9 {
		return fmt.Errorf("%s: answer, busy, reject, invalid and temp_fail add up to %g, more than 1", field, sum)
	}
	for name, d := range map[string]*Dist{"ring": &r.Ring, "setup": &r.Setup, "talk": &r.Talk, "patience": &r.Patience, "machine_talk": &r.MachineTalk} {
		if err := d.validate(field + "." + name); err != nil {
			return err
		}
	}
	r.Ring = orDist(r.Ring, defaultRing)
	r.Setup = orDist(r.Setup, defaultSetup)
	r.Talk = orDist(r.Talk, defaultTalk)
	r.Patience = orDist(r.Patience, defaultPatience)
	r.MachineTalk = orDist(r.MachineTalk, defaultMachineTalk)
	return nil
}

// rule returns the rule for a dialed number.
func (sc *Scenario) rule(number string) *NumberRule {
	for i := range sc.Numbers {
		if sc.Numbers[i].re.MatchString(number) {
			return &sc.Numbers[i]
		}
	}
	return &sc.Default
}

func (sc *Scenario) agent(ext string) *AgentSpec {
	for i := range sc.Agents {
		if sc.Agents[i].Extension == ext {
			return &sc.Agents[i]
		}
	}
	return nil
}

func (sc *Scenario) gateway(name string) *GatewaySpec {
	for i := range sc.Gateways {
		if sc.Gateways[i].Name == name {
			return &sc.Gateways[i]
		}
	}
	return nil
}

func (sc *Scenario) hasProfile(name string) bool {
	for _, p := range sc.Profiles {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

// rng returns the random source of the n-th call to a destination under
// this scenario's seed: the same seed, destination and n always give the
// same draws, whatever other calls run meanwhile.
func (sc *Scenario) rng(destination string, n int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(destination))
	return rand.New(rand.NewPCG(sc.Seed, h.Sum64()^uint64(n)*0x9e3779b97f4a7c15))
}

// outcome is what will happen to one call, drawn when it is placed.
type outcome struct {
	cause       string        // "" for an answer, else the failure cause
	sipStatus   string        // SIP status of a failure
	delay       time.Duration // ring time to the answer, or setup time to the failure
	setup       time.Duration // time to a failure reply (used when the gateway refuses)
	earlyMedia  bool
	machine     bool
	talk        time.Duration
	patience    time.Duration
	amdResult   string
	amdCause    string
	amdDelay    time.Duration
	answerAgent bool
}

// drawSubscriber decides a subscriber call. The draws happen in a fixed order
// so that they depend on nothing but the seed, the number and n.
func (sc *Scenario) drawSubscriber(number string, n int) outcome {
	r := sc.rng(number, n)
	rule := sc.rule(number)
	o := outcome{}
	u := r.Float64()
	ring := rule.Ring.Draw(r)
	setup := rule.Setup.Draw(r)
	o.setup = setup
	o.earlyMedia = r.Float64() < rule.EarlyMedia
	o.machine = r.Float64() < rule.Machine
	talk, machineTalk := rule.Talk.Draw(r), rule.MachineTalk.Draw(r)
	o.patience = rule.Patience.Draw(r)
	o.amdResult, o.amdCause = sc.judge(r, o.machine)
	o.amdDelay = sc.AMD.Delay.Draw(r)
	o.talk = talk
	if o.machine {
		o.talk = machineTalk
	}
	switch {
	case u < rule.Answer:
		o.delay = ring
	case u < rule.Answer+rule.Busy:
		o.cause, o.sipStatus, o.delay = "USER_BUSY", "486", setup
	case u < rule.Answer+rule.Busy+rule.Reject:
		o.cause, o.sipStatus, o.delay = "CALL_REJECTED", "603", setup
	case u < rule.Answer+rule.Busy+rule.Reject+rule.Invalid:
		o.cause, o.sipStatus, o.delay = "UNALLOCATED_NUMBER", "404", setup
	case u < rule.Answer+rule.Busy+rule.Reject+rule.Invalid+rule.TempFail:
		o.cause, o.sipStatus, o.delay = "NORMAL_TEMPORARY_FAILURE", "503", setup
	default:
		o.cause, o.sipStatus = "NO_ANSWER", "487"
	}
	return o
}

// judge is the amd application's verdict on a person or a machine.
func (sc *Scenario) judge(r *rand.Rand, machine bool) (result, cause string) {
	u := r.Float64()
	notSure := sc.AMD.NoVerdict + sc.AMD.NotSure
	switch {
	case u < sc.AMD.NoVerdict:
		return "", "" // no audio: no verdict, ever
	case u < notSure:
		return "NOTSURE", "TOOLONG"
	case machine && u < notSure+sc.AMD.FalseHuman:
		return "HUMAN", "HUMAN"
	case machine:
		return "MACHINE", "LONGGREETING"
	case u < notSure+sc.AMD.FalseMachine:
		return "MACHINE", "MAXWORDS"
	default:
		return "HUMAN", "HUMAN"
	}
}

// drawAgent decides a call to an agent's phone.
func (sc *Scenario) drawAgent(a *AgentSpec, n int) outcome {
	r := sc.rng("user/"+a.Extension, n)
	p := 1.0
	if a.Answer != nil {
		p = *a.Answer
	}
	o := outcome{answerAgent: r.Float64() < p, delay: a.AnswerDelay.Draw(r)}
	if !o.answerAgent {
		o.cause, o.sipStatus = "NO_ANSWER", "487"
		if a.Reject > 0 || a.Busy > 0 { // drawn after the others: scenarios without them draw as before
			switch u := r.Float64(); {
			case u < a.Reject:
				o.cause, o.sipStatus = "CALL_REJECTED", "603"
			case u < a.Reject+a.Busy:
				o.cause, o.sipStatus, o.delay = "USER_BUSY", "486", 100*time.Millisecond
			}
		}
	}
	return o
}
