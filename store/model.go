package store

import (
	"encoding/json"
	"strconv"
)

// Campaign types (seed 003: "type").
const (
	TypePredictive  = "Predictive Dialer"
	TypeProgressive = "Progressive Dialer"
	TypePreview     = "Preview Dialer"
	TypeBroadcast   = "Voice Broadcasting"
)

// Campaign states.
const (
	StateIdle     = "idle"     // created, never started
	StateRunning  = "running"  // dialing (or waiting for its calendar, or for members)
	StateStopped  = "stopped"  // stopped by a user
	StateFinished = "finished" // stopped by itself: list exhausted or calendar over
)

// Number and member strategies (seed 003).
const (
	NumbersByPriority = "by-priority"
	NumbersTopDown    = "top-down"

	MembersNextTries = "next-tries-circuit"
	MembersStrict    = "strict-circuit"
)

// Campaign is a dialer campaign: the document of seed 003 plus its cause
// table, what a voice broadcast plays, and its state.
type Campaign struct {
	ID              string         `json:"_id"`
	Name            string         `json:"name"`
	Description     string         `json:"description,omitempty"`
	Type            string         `json:"type"`
	Priority        int            `json:"priority"`
	Calendar        CalendarRef    `json:"calendar"`
	Parameters      Parameters     `json:"parameters"`
	AMD             AMD            `json:"amd"`
	Variables       map[string]any `json:"variables,omitempty"`
	NumberStrategy  string         `json:"numberStrategy"`
	MembersStrategy string         `json:"membersStrategy"`
	AutoResetStats  bool           `json:"autoResetStats"`
	Resources       []Resource     `json:"resources"`
	AgentParams     AgentParams    `json:"agentParams"`
	Agents          []string       `json:"agents,omitempty"`
	Skills          []string       `json:"skills,omitempty"`
	AgentStrategy   string         `json:"agentStrategy,omitempty"`
	Communications  Communications `json:"communications"`
	Causes          CauseTable     `json:"causes"`
	Broadcast       Broadcast      `json:"broadcast"`
	Predictive      Predictive     `json:"predictive"`
	Preview         Preview        `json:"preview"`
	// Compliance is the regulator's rules the campaign keeps (Compliance*).
	Compliance string `json:"compliance,omitempty"`
	State      string `json:"state"`
	CreatedAt  int64  `json:"createdAt"` // ms since the epoch
	UpdatedAt  int64  `json:"updatedAt"`
}

// CalendarRef names the calendar a campaign works by.
type CalendarRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Parameters are the campaign's dialing parameters (seed 003, 11-25).
type Parameters struct {
	Limit                       int     `json:"limit"`
	MinBillSec                  int     `json:"minBillSec"`
	OriginateTimeout            int     `json:"originateTimeout"`
	MaxTryCount                 int     `json:"maxTryCount"`
	IntervalTryCount            int     `json:"intervalTryCount"`
	WrapUpTime                  int     `json:"wrapUpTime"`
	PredictAdjust               int     `json:"predictAdjust"`
	TargetPredictiveSilentCalls float64 `json:"targetPredictiveSilentCalls"`
	MaxPredictiveSilentCalls    float64 `json:"maxPredictiveSilentCalls"`
	WaitingForResultStatus      bool    `json:"waitingForResultStatus"`
	RecordSession               bool    `json:"recordSession"`
	EternalQueue                bool    `json:"eternalQueue"`
	RetryAbandoned              bool    `json:"retryAbandoned"`
	RetriesByNumber             bool    `json:"retriesByNumber"`
	OneDayTask                  bool    `json:"oneDayTask"`
}

// UnmarshalJSON accepts the seed's second spelling, waitForResultStatus.
func (p *Parameters) UnmarshalJSON(b []byte) error {
	type plain Parameters
	var aux struct {
		plain
		WaitFor *bool `json:"waitForResultStatus"`
	}
	aux.plain = plain(*p)
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*p = Parameters(aux.plain)
	if aux.WaitFor != nil {
		p.WaitingForResultStatus = *aux.WaitFor
	}
	return nil
}

// AMD configures answering machine detection (seed 003, 27-38), in ms.
type AMD struct {
	Enabled              bool `json:"enabled"`
	AllowNotSure         bool `json:"allowNotSure"`
	MaximumWordLength    int  `json:"maximumWordLength,omitempty"`
	MaximumNumberOfWords int  `json:"maximumNumberOfWords,omitempty"`
	BetweenWordsSilence  int  `json:"betweenWordsSilence,omitempty"`
	MinWordLength        int  `json:"minWordLength,omitempty"`
	TotalAnalysisTime    int  `json:"totalAnalysisTime,omitempty"`
	SilenceThreshold     int  `json:"silenceThreshold,omitempty"`
	AfterGreetingSilence int  `json:"afterGreetingSilence,omitempty"`
	Greeting             int  `json:"greeting,omitempty"`
	InitialSilence       int  `json:"initialSilence,omitempty"`
	// FalseMachineRate is the share, in percent, of MACHINE verdicts
	// estimated to be people (AMD's false positives): they count as live
	// answers and as abandoned calls in the abandon rate, as the UK rule
	// wants. 0: none counted.
	FalseMachineRate float64 `json:"falseMachineRate,omitempty"`
	// MachineMessage, when set, is played to a machine (and to a not-sure
	// answer that may not reach an agent) after the verdict, then the call
	// ends: a voicemail drop. Unset, such calls are hung up.
	MachineMessage string `json:"machineMessage,omitempty"`
}

// AMDParam is one AMD parameter: its field in the campaign's amd, the
// name mod_amd's amd application reads it by, and its value in ms (0:
// amd.conf's own).
type AMDParam struct {
	Field, ModAMD string
	Value         int
}

// Params lists the AMD parameters.
func (a AMD) Params() []AMDParam {
	return []AMDParam{
		{"silenceThreshold", "silence_threshold", a.SilenceThreshold},
		{"maximumWordLength", "maximum_word_length", a.MaximumWordLength},
		{"maximumNumberOfWords", "maximum_number_of_words", a.MaximumNumberOfWords},
		{"betweenWordsSilence", "between_words_silence", a.BetweenWordsSilence},
		{"minWordLength", "minimum_word_length", a.MinWordLength},
		{"totalAnalysisTime", "total_analysis_time", a.TotalAnalysisTime},
		{"afterGreetingSilence", "after_greeting_silence", a.AfterGreetingSilence},
		{"greeting", "greeting", a.Greeting},
		{"initialSilence", "initial_silence", a.InitialSilence},
	}
}

// DefaultAMDAnalysis is mod_amd's total_analysis_time (ms) when the
// campaign sets none.
const DefaultAMDAnalysis = 5000

// Resource routes the numbers matching DialledNumber (a regular
// expression) to its destinations.
type Resource struct {
	DialledNumber string        `json:"dialledNumber"`
	Destinations  []Destination `json:"destinations"`
}

// UnmarshalJSON also accepts dialedNumber, the spelling of seed 003's table.
func (r *Resource) UnmarshalJSON(b []byte) error {
	type plain Resource
	var aux struct {
		plain
		Dialed *string `json:"dialedNumber"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = Resource(aux.plain)
	if r.DialledNumber == "" && aux.Dialed != nil {
		r.DialledNumber = *aux.Dialed
	}
	return nil
}

// Destination is one way out for a resource: a gateway with its own
// concurrent call limit (shared by every campaign using it) and a dial
// string in which $1, $2... are the resource pattern's groups.
type Destination struct {
	GwName         string `json:"gwName"`
	DialString     string `json:"dialString"`
	GwProto        string `json:"gwProto"`
	Order          int    `json:"order"`
	Limit          int    `json:"limit"`
	Enabled        bool   `json:"enabled"`
	CallerIDNumber string `json:"callerIdNumber,omitempty"`
}

// AgentParams are the campaign's agent parameters (seed 003, 63-68), seconds.
type AgentParams struct {
	CallTimeout       int `json:"callTimeout,omitempty"`
	WrapUpTime        int `json:"wrapUpTime,omitempty"`
	MaxNoAnswer       int `json:"maxNoAnswer,omitempty"`
	BusyDelayTime     int `json:"busyDelayTime,omitempty"`
	RejectDelayTime   int `json:"rejectDelayTime,omitempty"`
	NoAnswerDelayTime int `json:"noAnswerDelayTime,omitempty"`
}

// Communications are the communication types members' numbers can have.
type Communications struct {
	Types []CommType `json:"types,omitempty"`
}

// CommType is a type of number (personal, home...) with the time ranges in
// which it may be called.
type CommType struct {
	Name   string      `json:"name"`
	Code   string      `json:"code"`
	Ranges []TimeRange `json:"ranges,omitempty"`
}

// TimeRange is a part of the day (minutes from midnight, member-local time)
// in which a number type gets Attempts attempts a day, at Priority.
type TimeRange struct {
	StartTime int `json:"startTime"`
	EndTime   int `json:"endTime"`
	Attempts  int `json:"attempts"`
	Priority  int `json:"priority"`
}

// CauseTable sorts hangup causes (seed 002 "Cause"): Error stops dialing
// the number, Retry retries it, OK ends the member with success, Minus does
// not count the attempt. A cause in no list is a Retry.
type CauseTable struct {
	Error []string `json:"error"`
	Retry []string `json:"retry"`
	OK    []string `json:"ok"`
	Minus []string `json:"minus"`
}

// DefaultCauses is the cause table a campaign gets when it gives none:
// numbers that cannot work stop, congestion does not count against the
// member, and everything else is retried.
func DefaultCauses() CauseTable {
	return CauseTable{
		Error: []string{"UNALLOCATED_NUMBER", "NO_ROUTE_DESTINATION", "INVALID_NUMBER_FORMAT", "NUMBER_CHANGED", "INCOMPATIBLE_DESTINATION", "CALL_REJECTED", "OUTGOING_CALL_BARRED", "INVALID_GATEWAY", "INVALID_URL", "INVALID_PROFILE", "CHAN_NOT_IMPLEMENTED"},
		Retry: []string{"NO_ANSWER", "USER_BUSY", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "SUBSCRIBER_ABSENT", "NORMAL_TEMPORARY_FAILURE", "DESTINATION_OUT_OF_ORDER", "RECOVERY_ON_TIMER_EXPIRE", "PROGRESS_TIMEOUT", "NORMAL_UNSPECIFIED"},
		OK:    []string{},
		Minus: []string{"NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "GATEWAY_DOWN", "NETWORK_OUT_OF_ORDER", "REQUESTED_CHAN_UNAVAIL", "SYSTEM_SHUTDOWN", "LOSE_RACE"},
	}
}

// Broadcast is what a voice broadcasting campaign does on answer: play File
// or transfer to Extension (in Dialplan/Context).
type Broadcast struct {
	File      string `json:"file,omitempty"`
	Extension string `json:"extension,omitempty"`
	Dialplan  string `json:"dialplan,omitempty"`
	Context   string `json:"context,omitempty"`
}

// Predictive configures what live-answer dialing does while no agent was
// reserved before the call (predictive dialing, pacing.md).
type Predictive struct {
	// ConnectThreshold is how long a live answer may wait for an agent, in
	// seconds from the answer (or the AMD verdict); 0: DefaultConnect.
	ConnectThreshold float64 `json:"connectThreshold,omitempty"`
	// SafeHarborFile is the message played to a live answer no agent took
	// in time; empty: DefaultSafeHarborFile.
	SafeHarborFile string `json:"safeHarborFile,omitempty"`
	// AbandonLockoutHours: a number whose call was abandoned is not dialed
	// predictively again for so long; 0: DefaultAbandonLockout.
	AbandonLockoutHours int `json:"abandonLockoutHours,omitempty"`
}

// Preview configures preview dialing: each member is shown to a reserved
// agent before anything is dialed.
type Preview struct {
	// OfferTimeout is how long an offer waits for the agent's answer, in
	// seconds; 0: DefaultOfferTimeout.
	OfferTimeout int `json:"offerTimeout,omitempty"`
	// OnTimeout is what an unanswered offer does: PreviewSkip (default) or
	// PreviewDial.
	OnTimeout string `json:"onTimeout,omitempty"`
}

// DefaultOfferTimeout is how long a preview offer waits by default (s).
const DefaultOfferTimeout = 30

// Defaults of predictive dialing.
const (
	DefaultConnect        = 2.0 // seconds (pacing.md: every regulator's threshold)
	DefaultSafeHarborFile = "${sounds_dir}/fsdialer/safe-harbor.wav"
	DefaultAbandonLockout = 72 // hours (Ofcom)
)

// Compliance profiles (pacing.md): the abandon rate's ceiling and window,
// the connect threshold, the least ring time and, for "us", the called
// party's local calling hours.
const (
	ComplianceNone = "none"
	ComplianceUS   = "us"
	ComplianceUK   = "uk"
)

// FalseMachineShare is the share (0..1) of AMD's MACHINE verdicts the
// abandon rate counts as people.
func (c *Campaign) FalseMachineShare() float64 {
	if !c.AMD.Enabled {
		return 0
	}
	return c.AMD.FalseMachineRate / 100
}

// ComplianceWindow is the window a campaign's abandon rate is held over:
// "30d" (us), else "24h".
func (c *Campaign) ComplianceWindow() string {
	if c.Compliance == ComplianceUS {
		return "30d"
	}
	return "24h"
}

// Member is a subscriber to call. Stored compactly (short JSON names, zero
// values left out): a campaign may hold millions. V must stay the first
// field: the scripts check the version at the start of the stored JSON.
type Member struct {
	V              int64           `json:"v"`
	ID             string          `json:"-"`
	Name           string          `json:"n,omitempty"`
	Priority       int             `json:"p,omitempty"`
	Timezone       string          `json:"tz,omitempty"`
	Variables      map[string]any  `json:"var,omitempty"`
	Expire         int64           `json:"exp,omitempty"` // ms since the epoch; 0: never
	Bucket         string          `json:"b,omitempty"`
	Communications []Communication `json:"c"`
	Attempts       int             `json:"a,omitempty"`  // counted attempts
	Round          int             `json:"r,omitempty"`  // passes of strict-circuit
	NextTryAt      int64           `json:"nt,omitempty"` // ms
	LastCallAt     int64           `json:"lc,omitempty"`
	LastNumber     int             `json:"ln,omitempty"` // index+1 of the number last dialed (top-down)
	EndCause       string          `json:"ec,omitempty"`
	Terminate      bool            `json:"tm,omitempty"` // terminate once the call in progress ends
	WaitingResult  string          `json:"wr,omitempty"` // attempt whose call result is awaited
	ResultDeadline int64           `json:"rd,omitempty"` // ms
	PendingResult  *CallResult     `json:"pr,omitempty"` // a result posted while the call was on
	History        []CallSummary   `json:"h,omitempty"`  // the last attempts, oldest first
	CreatedAt      int64           `json:"t"`
	UpdatedAt      int64           `json:"u,omitempty"`
}

// Communication is one of a member's numbers, with its own counters.
type Communication struct {
	Number        string `json:"n"`
	Priority      int    `json:"p,omitempty"`
	Type          string `json:"t,omitempty"`
	Description   string `json:"d,omitempty"`
	Attempts      int    `json:"a,omitempty"`
	LastCallAt    int64  `json:"lc,omitempty"`
	LastCause     string `json:"lx,omitempty"`
	Stopped       bool   `json:"s,omitempty"`
	Top           bool   `json:"x,omitempty"`  // added by next_communication: dialed first
	RangeDay      string `json:"rd,omitempty"` // local day RangeAttempts counts
	RangeAttempts []int  `json:"ra,omitempty"` // attempts per range of its type that day
	AbandonedAt   int64  `json:"ab,omitempty"` // ms: its last call was abandoned (the lock-out runs from here)
}

// CallSummary is the short record of an attempt kept in the member.
type CallSummary struct {
	Attempt string `json:"id"`
	At      int64  `json:"t"`
	Number  string `json:"n"`
	Cause   string `json:"c,omitempty"`
	BillSec int    `json:"b,omitempty"`
	Outcome string `json:"o,omitempty"`
}

// MaxHistory is how many attempts a member remembers.
const MaxHistory = 10

// CallResult is what an agent or CRM reports after a call (seed 000/002/003).
type CallResult struct {
	Success            bool     `json:"success"`
	ResetRetries       bool     `json:"reset_retries,omitempty"`
	NextAfterSec       *int     `json:"next_after_sec,omitempty"`
	NextCommunication  string   `json:"next_communication,omitempty"`
	StopCommunications []string `json:"stop_communications,omitempty"`
	StopAll            bool     `json:"stop_all,omitempty"`
	Description        string   `json:"description,omitempty"`
}

// Member states, derived from the set a member sits in.
const (
	MemberReady   = "ready"   // due now
	MemberWaiting = "waiting" // due later
	MemberLeased  = "leased"  // held by a dialer: being dialed or reconciled
	MemberResult  = "result"  // call over, a call result is awaited
	MemberDone    = "done"    // ended, EndCause says how
)

// Attempt is a journal entry: written before the originate, removed once
// the attempt is classified. After a crash the open entries are what must
// be reconciled with the switches.
type Attempt struct {
	ID         string `json:"id"` // also the call's origination_uuid and the bgapi Job-UUID
	Campaign   string `json:"campaign"`
	Member     string `json:"member"`
	Token      string `json:"token"` // the member's lease
	Number     string `json:"number"`
	CommIndex  int    `json:"comm"`
	RangeIndex int    `json:"range"`              // the number type's time range, -1 none
	RangeDay   string `json:"rangeDay,omitempty"` // the member's local day of the call
	Node       string `json:"node"`
	Gateway    string `json:"gateway,omitempty"`
	DialString string `json:"dial,omitempty"`
	StartedAt  int64  `json:"started"` // ms
	// EndRecord: the originate asked the switch to keep an end record
	// of the call (the dialer's api_hangup_hook).
	EndRecord bool `json:"hook,omitempty"`
	// Agent is the agent a call for an agent reaches, on the leg AgentLeg:
	// rung for this call, or the agent's session (AgentSession), which
	// outlives it.
	Agent        string `json:"agent,omitempty"`
	AgentLeg     string `json:"agentLeg,omitempty"`
	AgentSession bool   `json:"agentSession,omitempty"`
	// Inbound: the member called in (a callback); ID is the uuid of the
	// call the switch handed over, and nothing was originated for it.
	Inbound bool `json:"inbound,omitempty"`
}

// CallRecord is the detail record of one attempt, kept in the campaign's
// bounded history stream.
type CallRecord struct {
	Attempt    string `json:"attempt"`
	Campaign   string `json:"campaign"`
	Member     string `json:"member"`
	Number     string `json:"number"`
	Node       string `json:"node,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	StartedAt  int64  `json:"startedAt"`
	AnsweredAt int64  `json:"answeredAt,omitempty"`
	EndedAt    int64  `json:"endedAt"`
	BillSec    int    `json:"billSec"`            // whole seconds of BillMsec
	BillMsec   int64  `json:"billMsec,omitempty"` // answer to hangup; FreeSWITCH's billsec subtracts whole epoch seconds
	Cause      string `json:"cause"`
	AMD        string `json:"amd,omitempty"`
	Outcome    string `json:"outcome"`            // ok, retry, error, minus, success, abandoned ...
	Inbound    bool   `json:"inbound,omitempty"`  // the member called in
	EndCause   string `json:"endCause,omitempty"` // the member's end cause, if this ended it
	Recording  string `json:"recording,omitempty"`
	Result     string `json:"result,omitempty"` // the call result's description
}

// Calendar gates when a campaign may dial: a date range, weekly working
// ranges (minutes of the day) and holidays, in its time zone.
type Calendar struct {
	ID        string      `json:"_id"`
	Name      string      `json:"name"`
	Timezone  string      `json:"timezone"`
	StartDate string      `json:"startDate,omitempty"` // YYYY-MM-DD, inclusive
	EndDate   string      `json:"endDate,omitempty"`   // YYYY-MM-DD, inclusive
	Week      []WorkRange `json:"week"`
	Holidays  []Holiday   `json:"holidays,omitempty"`
	CreatedAt int64       `json:"createdAt"`
	UpdatedAt int64       `json:"updatedAt"`
}

// WorkRange is a working range of a weekday (1 Monday .. 7 Sunday), in
// minutes from midnight; EndTime is exclusive.
type WorkRange struct {
	Day       int `json:"day"`
	StartTime int `json:"startTime"`
	EndTime   int `json:"endTime"`
}

// Holiday is a day off; Repeat makes it yearly.
type Holiday struct {
	Date   string `json:"date"` // YYYY-MM-DD
	Name   string `json:"name,omitempty"`
	Repeat bool   `json:"repeat,omitempty"`
}

// VariableString renders a variable's JSON value for a channel variable.
func VariableString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x) // values came from JSON: they marshal
		return string(b)
	}
}
