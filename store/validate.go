package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fsdialer/fsdialer/esl"
)

// The kinds of store errors, for errors.Is: the API answers them 404, 409
// and 422.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
	// ErrLeaseLost means a member's lease was taken over (it lapsed and
	// another dialer reclaimed it); a conflict.
	ErrLeaseLost = fmt.Errorf("%w: lease lost", ErrConflict)
	// ErrChanged means the member changed since it was read; read it again.
	ErrChanged = fmt.Errorf("%w: the member changed meanwhile", ErrConflict)
	// ErrBeingCalled means the member is leased to a dialer; it can only be
	// changed in place.
	ErrBeingCalled = fmt.Errorf("%w: the member is being called", ErrConflict)
)

// FieldError is one thing wrong with one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists everything wrong with an input at once.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Unwrap makes a ValidationError an ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// validator collects field errors.
type validator struct{ errs []FieldError }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) check(ok bool, field, format string, args ...any) {
	if !ok {
		v.add(field, format, args...)
	}
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

// Priority bounds: a member's priority is part of its queue score.
const (
	MinPriority = -1000000
	MaxPriority = 1000000
)

var agentStrategies = map[string]bool{
	"": true, "random": true, "agent-with-fewest-calls": true,
	"agent-with-least-talk-time": true, "longest-idle-agent": true,
}

// Normalize fills the defaults of a campaign and canonicalises spellings.
func (c *Campaign) Normalize() {
	if c.NumberStrategy == "" {
		c.NumberStrategy = NumbersByPriority
	}
	if c.MembersStrategy == "" {
		c.MembersStrategy = MembersNextTries
	}
	c.AgentStrategy = strings.ReplaceAll(c.AgentStrategy, "_", "-")
	c.Compliance = strings.ToLower(strings.TrimSpace(c.Compliance))
	if c.Type == TypePredictive && c.Parameters.TargetPredictiveSilentCalls == 0 && c.Parameters.MaxPredictiveSilentCalls == 0 {
		// the seed's example values, and every regulator's ceiling
		c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = 2.5, 3
	}
	if c.Parameters.OriginateTimeout == 0 {
		c.Parameters.OriginateTimeout = 60
	}
	if c.Causes.Error == nil && c.Causes.Retry == nil && c.Causes.OK == nil && c.Causes.Minus == nil {
		c.Causes = DefaultCauses()
	}
	for _, list := range []*[]string{&c.Causes.Error, &c.Causes.Retry, &c.Causes.OK, &c.Causes.Minus} {
		for i, cause := range *list {
			(*list)[i] = strings.ToUpper(strings.TrimSpace(cause))
		}
		if *list == nil {
			*list = []string{}
		}
	}
	if c.State == "" {
		c.State = StateIdle
	}
	trimVariables(c.Variables)
	for i := range c.Resources {
		for j := range c.Resources[i].Destinations {
			d := &c.Resources[i].Destinations[j]
			if n, err := NormalizeNumber(d.CallerIDNumber); err == nil {
				d.CallerIDNumber = n
			}
		}
	}
}

// trimVariables drops the blanks around string values: the switch strips
// them when it parses the originate's variables, so what is stored is what
// the call gets.
func trimVariables(vars map[string]any) {
	for k, val := range vars {
		if s, ok := val.(string); ok {
			vars[k] = strings.TrimSpace(s)
		}
	}
}

// Validate checks a campaign and names every offending field.
func (c *Campaign) Validate() error {
	var v validator
	v.check(strings.TrimSpace(c.Name) != "", "name", "is required")
	checkText(&v, "name", c.Name, MaxNameLen)
	checkText(&v, "description", c.Description, MaxTextLen)
	checkText(&v, "calendar.id", c.Calendar.ID, MaxIDLen)
	for i, id := range c.Agents {
		checkText(&v, fmt.Sprintf("agents[%d]", i), id, MaxIDLen)
	}
	for i, skill := range c.Skills {
		checkText(&v, fmt.Sprintf("skills[%d]", i), skill, MaxIDLen)
	}
	switch c.Type {
	case TypePredictive, TypeProgressive, TypePreview, TypeBroadcast:
	default:
		v.add("type", "%q is not one of %q, %q, %q, %q", c.Type, TypePredictive, TypeProgressive, TypePreview, TypeBroadcast)
	}
	p := c.Parameters
	v.check(p.Limit >= 1 && p.Limit <= 100000, "parameters.limit", "must be between 1 and 100000, is %d", p.Limit)
	v.check(p.MinBillSec >= 0 && p.MinBillSec <= 86400, "parameters.minBillSec", "must be between 0 and 86400, is %d", p.MinBillSec)
	v.check(p.OriginateTimeout >= 1 && p.OriginateTimeout <= 600, "parameters.originateTimeout", "must be between 1 and 600 seconds, is %d", p.OriginateTimeout)
	v.check(p.MaxTryCount >= 0 && p.MaxTryCount <= 1000, "parameters.maxTryCount", "must be between 0 (no limit) and 1000, is %d", p.MaxTryCount)
	v.check(p.IntervalTryCount >= 0 && p.IntervalTryCount <= 30*86400, "parameters.intervalTryCount", "must be between 0 and 2592000 seconds, is %d", p.IntervalTryCount)
	v.check(p.WrapUpTime >= 0 && p.WrapUpTime <= 86400, "parameters.wrapUpTime", "must be between 0 and 86400 seconds, is %d", p.WrapUpTime)
	v.check(p.PredictAdjust >= 0, "parameters.predictAdjust", "must not be negative, is %d", p.PredictAdjust)
	v.check(p.TargetPredictiveSilentCalls >= 0 && p.TargetPredictiveSilentCalls <= 100, "parameters.targetPredictiveSilentCalls", "must be a percentage, is %g", p.TargetPredictiveSilentCalls)
	v.check(p.MaxPredictiveSilentCalls >= 0 && p.MaxPredictiveSilentCalls <= 100, "parameters.maxPredictiveSilentCalls", "must be a percentage, is %g", p.MaxPredictiveSilentCalls)
	v.check(p.MaxPredictiveSilentCalls == 0 || p.TargetPredictiveSilentCalls <= p.MaxPredictiveSilentCalls, "parameters.targetPredictiveSilentCalls", "%g is above maxPredictiveSilentCalls %g", p.TargetPredictiveSilentCalls, p.MaxPredictiveSilentCalls)
	v.check(c.Priority >= MinPriority && c.Priority <= MaxPriority, "priority", "must be between %d and %d", MinPriority, MaxPriority)
	v.check(c.NumberStrategy == NumbersByPriority || c.NumberStrategy == NumbersTopDown, "numberStrategy", "%q is not %q or %q", c.NumberStrategy, NumbersByPriority, NumbersTopDown)
	v.check(c.MembersStrategy == MembersNextTries || c.MembersStrategy == MembersStrict, "membersStrategy", "%q is not %q or %q", c.MembersStrategy, MembersNextTries, MembersStrict)
	v.check(agentStrategies[c.AgentStrategy], "agentStrategy", "%q is not one of random, agent-with-fewest-calls, agent-with-least-talk-time, longest-idle-agent", c.AgentStrategy)
	switch c.State {
	case StateIdle, StateRunning, StateStopped, StateFinished:
	default:
		v.add("state", "%q is not a campaign state", c.State)
	}
	if c.Type == TypeBroadcast {
		v.check(c.Broadcast.File != "" || c.Broadcast.Extension != "", "broadcast", "a voice broadcast needs a file to play or an extension to transfer to")
	}
	checkBroadcast(&v, c.Broadcast)
	checkCompliance(&v, c)
	checkAMD(&v, c.AMD)
	v.check(c.Preview.OfferTimeout >= 0 && c.Preview.OfferTimeout <= 3600, "preview.offerTimeout", "must be between 0 (the default, 30) and 3600 seconds, is %d", c.Preview.OfferTimeout)
	v.check(c.Preview.OnTimeout == "" || c.Preview.OnTimeout == PreviewSkip || c.Preview.OnTimeout == PreviewDial, "preview.onTimeout", "%q is not %q or %q", c.Preview.OnTimeout, PreviewSkip, PreviewDial)
	v.check(len(c.Resources) > 0, "resources", "at least one resource is needed to route calls")
	for i, r := range c.Resources {
		field := fmt.Sprintf("resources[%d]", i)
		re, err := regexp.Compile(r.DialledNumber)
		if err != nil {
			v.add(field+".dialledNumber", "bad regular expression: %v", err)
		}
		v.check(len(r.Destinations) > 0, field+".destinations", "at least one destination is needed")
		for j, d := range r.Destinations {
			df := fmt.Sprintf("%s.destinations[%d]", field, j)
			if d.GwName == "" {
				v.add(df+".gwName", "is required")
			} else {
				checkSwitchToken(&v, df+".gwName", d.GwName, gatewayName)
			}
			checkSwitchToken(&v, df+".dialString", d.DialString, dialString)
			v.check(d.Limit >= 0, df+".limit", "must not be negative, is %d", d.Limit)
			v.check(d.GwProto == "" || d.GwProto == "sip", df+".gwProto", "%q is not sip", d.GwProto)
			if re != nil {
				for _, ref := range groupRef.FindAllStringSubmatch(d.DialString, -1) {
					// with no group, $1 is the whole match (as the seed's example uses it)
					if n := atoiSmall(ref[1]); n > max(re.NumSubexp(), 1) {
						v.add(df+".dialString", "refers to group $%d, the pattern has %d", n, re.NumSubexp())
					}
				}
			}
			if d.CallerIDNumber != "" {
				if _, err := NormalizeNumber(d.CallerIDNumber); err != nil {
					v.add(df+".callerIdNumber", "%v", err)
				}
			}
		}
	}
	codes := map[string]bool{}
	for i, t := range c.Communications.Types {
		field := fmt.Sprintf("communications.types[%d]", i)
		v.check(t.Code != "", field+".code", "is required")
		checkText(&v, field+".code", t.Code, MaxIDLen)
		checkText(&v, field+".name", t.Name, MaxNameLen)
		v.check(!codes[t.Code], field+".code", "%q is used twice", t.Code)
		codes[t.Code] = true
		for j, r := range t.Ranges {
			rf := fmt.Sprintf("%s.ranges[%d]", field, j)
			v.check(r.StartTime >= 0 && r.StartTime < 1440, rf+".startTime", "must be a minute of the day (0-1439), is %d", r.StartTime)
			v.check(r.EndTime > r.StartTime && r.EndTime <= 1440, rf+".endTime", "must be after startTime and at most 1440, is %d", r.EndTime)
			v.check(r.Attempts >= 0, rf+".attempts", "must not be negative, is %d", r.Attempts)
		}
	}
	seen := map[string]string{}
	for _, l := range []struct {
		name  string
		cause []string
	}{{"error", c.Causes.Error}, {"retry", c.Causes.Retry}, {"ok", c.Causes.OK}, {"minus", c.Causes.Minus}} {
		name := l.name
		for i, cause := range l.cause {
			field := fmt.Sprintf("causes.%s[%d]", name, i)
			if !KnownCause(cause) {
				v.add(field, "%q is not a FreeSWITCH hangup cause", cause)
			} else if other, dup := seen[cause]; dup {
				v.add(field, "%s is also in causes.%s", cause, other)
			}
			seen[cause] = name
		}
	}
	checkVariables(&v, c.Variables)
	return v.err()
}

// checkBroadcast checks what a voice broadcast does on answer. Each value
// goes into the originate command: the extension, dialplan and context as
// its own arguments (a blank or quote would split or join them, a leading
// '&' would make the extension an application), the file as a channel
// variable that &playback() expands, so blanks, commas and parentheses
// reach the switch intact (see docs/api.md, "Values sent to FreeSWITCH").
// checkCompliance checks predictive dialing's settings and what the
// campaign's compliance profile demands of them (pacing.md).
func checkCompliance(v *validator, c *Campaign) {
	pr, p := c.Predictive, c.Parameters
	v.check(pr.ConnectThreshold >= 0 && pr.ConnectThreshold <= 60, "predictive.connectThreshold", "must be between 0 (the default, 2) and 60 seconds, is %g", pr.ConnectThreshold)
	v.check(pr.AbandonLockoutHours >= 0 && pr.AbandonLockoutHours <= 24*90, "predictive.abandonLockoutHours", "must be between 0 (the default, 72) and 2160 hours, is %d", pr.AbandonLockoutHours)
	checkSoundFile(v, "predictive.safeHarborFile", pr.SafeHarborFile)
	switch c.Compliance {
	case "", ComplianceNone:
		return
	case ComplianceUS, ComplianceUK:
	default:
		v.add("compliance", "%q is not one of %q, %q, %q", c.Compliance, ComplianceUS, ComplianceUK, ComplianceNone)
		return
	}
	profile := strings.ToUpper(c.Compliance)
	v.check(p.OriginateTimeout >= 15, "parameters.originateTimeout", "must be at least 15 seconds under the %s profile (ring at least 15 s), is %d", profile, p.OriginateTimeout)
	v.check(pr.ConnectThreshold <= DefaultConnect, "predictive.connectThreshold", "must be at most 2 seconds under the %s profile, is %g", profile, pr.ConnectThreshold)
	v.check(p.MaxPredictiveSilentCalls <= 3, "parameters.maxPredictiveSilentCalls", "must be at most 3 under the %s profile, is %g", profile, p.MaxPredictiveSilentCalls)
	if c.Compliance == ComplianceUK {
		v.check(pr.AbandonLockoutHours == 0 || pr.AbandonLockoutHours >= 72, "predictive.abandonLockoutHours", "must be at least 72 hours under the UK profile, is %d", pr.AbandonLockoutHours)
		v.check(!c.AMD.Enabled || c.AMD.FalseMachineRate > 0, "amd.falseMachineRate", "is required with AMD under the UK profile: the abandon rate includes an estimate of AMD's false positives")
	}
}

// checkAMD checks the AMD parameters (milliseconds; 0 keeps mod_amd's own)
// and the machine's message.
func checkAMD(v *validator, a AMD) {
	for _, p := range a.Params() {
		v.check(p.Value >= 0 && p.Value <= 60000, "amd."+p.Field, "must be between 0 (mod_amd's default) and 60000, is %d", p.Value)
	}
	v.check(a.FalseMachineRate >= 0 && a.FalseMachineRate <= 100, "amd.falseMachineRate", "must be a percentage, is %g", a.FalseMachineRate)
	if a.MachineMessage != "" {
		checkFile(v, "amd.machineMessage", a.MachineMessage)
	}
}

func checkBroadcast(v *validator, b Broadcast) {
	if b.File != "" {
		checkFile(v, "broadcast.file", b.File)
	}
	checkSwitchToken(v, "broadcast.extension", b.Extension, extension)
	checkSwitchToken(v, "broadcast.dialplan", b.Dialplan, dialplanName)
	checkSwitchToken(v, "broadcast.context", b.Context, contextName)
}

var groupRef = regexp.MustCompile(`\$(\d+)`)

func atoiSmall(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
		if n > 1000 {
			break
		}
	}
	return n
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// commandVariables are prefixes of channel variables that make FreeSWITCH
// run an api command or an application (api_on_answer, api_hangup_hook,
// execute_on_answer, exec_after_bridge_app, session_in_hangup_hook,
// record_post_process_exec_api ...; switch_types.h): one set from a
// member's data would run any command, system included where it is
// enabled. FreeSWITCH matches variable names without case.
var commandVariables = []string{"api_", "execute_", "exec_", "bridge_pre_execute", "record_post_process_", "session_in_hangup_hook"}

// checkVariables checks channel variables: names a channel variable can
// have and that do not run commands, and scalar values that fit in an
// originate's {...}: no quotes, braces, backslashes or control characters,
// which the switch's parser would take as syntax.
func checkVariables(v *validator, vars map[string]any) {
	v.check(len(vars) <= MaxVariables, "variables", "at most %d variables, has %d", MaxVariables, len(vars))
	for name, val := range vars {
		field := "variables." + name
		low := strings.ToLower(name)
		switch {
		case !variableName.MatchString(name):
			v.add(field, "a variable name is letters, digits and _ (at most 64), not starting with a digit")
		case strings.HasPrefix(low, "dialer_") || strings.HasPrefix(low, "origination_"):
			v.add(field, "names starting with dialer_ or origination_ are the dialer's own")
		case hasAnyPrefix(low, commandVariables) || strings.HasSuffix(low, "_hook"):
			v.add(field, "this variable makes FreeSWITCH run a command or an application; set it in the dialplan, not per call")
		case !scalar(val):
			v.add(field, "must be a string, number or boolean")
		default:
			s := VariableString(val)
			switch {
			case len(s) > MaxVariableLen:
				v.add(field, "must be at most %d bytes, is %d", MaxVariableLen, len(s))
			case !utf8.ValidString(s):
				v.add(field, "is not valid UTF-8")
			case strings.ContainsAny(s, "'\"{}\\") || hasControl(s):
				v.add(field, "must not contain quotes, braces, backslashes or control characters (FreeSWITCH would parse them)")
			}
		}
	}
}

// ValidateVariables checks channel variables as a member's are checked,
// naming each field under prefix (params.variables.NAME for prefix
// "params.variables").
func ValidateVariables(prefix string, vars map[string]any) error {
	var v validator
	checkVariables(&v, vars)
	for i := range v.errs {
		v.errs[i].Field = prefix + strings.TrimPrefix(v.errs[i].Field, "variables")
	}
	return v.err()
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func scalar(v any) bool {
	switch v.(type) {
	case string, bool, float64, nil:
		return true
	}
	_, ok := v.(interface{ String() string }) // json.Number
	return ok
}

// NormalizeNumber returns a number as the store keeps it: spaces, dashes,
// dots and brackets removed; what remains must be an optional + and 2 to
// 32 digits (or * and #).
func NormalizeNumber(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("%q is not a phone number: %q is not allowed", s, r)
		}
	}
	n := b.String()
	digits := len(strings.TrimPrefix(n, "+"))
	if digits < 2 || digits > 32 {
		return "", fmt.Errorf("%q is not a phone number: it has %d digits", s, digits)
	}
	return n, nil
}

// Normalize canonicalises a member's numbers and fills its defaults.
func (m *Member) Normalize() {
	trimVariables(m.Variables)
	for i := range m.Communications {
		if n, err := NormalizeNumber(m.Communications[i].Number); err == nil {
			m.Communications[i].Number = n
		}
	}
}

// Validate checks a member; field names are those of the API (seed 003).
func (m *Member) Validate() error {
	var v validator
	v.check(m.Priority >= MinPriority && m.Priority <= MaxPriority, "priority", "must be between %d and %d, is %d", MinPriority, MaxPriority, m.Priority)
	checkText(&v, "name", m.Name, MaxNameLen)
	checkText(&v, "bucket.id", m.Bucket, MaxIDLen)
	if m.Timezone != "" {
		if _, err := time.LoadLocation(m.Timezone); err != nil {
			v.add("timezone", "%q is not an IANA time zone", m.Timezone)
		}
	}
	v.check(m.Expire >= 0, "expire", "must not be negative")
	v.check(len(m.Communications) > 0, "communications", "at least one number is needed")
	v.check(len(m.Communications) <= 100, "communications", "at most 100 numbers, has %d", len(m.Communications))
	numbers := map[string]int{}
	for i, c := range m.Communications {
		field := fmt.Sprintf("communications[%d]", i)
		n, err := NormalizeNumber(c.Number)
		if err != nil {
			v.add(field+".number", "%v", err)
			continue
		}
		if j, dup := numbers[n]; dup {
			v.add(field+".number", "%s is also communications[%d]", n, j)
		}
		numbers[n] = i
		v.check(c.Priority >= MinPriority && c.Priority <= MaxPriority, field+".priority", "must be between %d and %d", MinPriority, MaxPriority)
		checkText(&v, field+".description", c.Description, MaxNameLen)
		checkText(&v, field+".type.id", c.Type, MaxIDLen)
	}
	checkVariables(&v, m.Variables)
	return v.err()
}

// Validate checks a calendar.
func (c *Calendar) Validate() error {
	var v validator
	v.check(strings.TrimSpace(c.Name) != "", "name", "is required")
	checkText(&v, "name", c.Name, MaxNameLen)
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		v.add("timezone", "%q is not an IANA time zone", c.Timezone)
	}
	var start, end time.Time
	var err error
	if c.StartDate != "" {
		if start, err = time.Parse(time.DateOnly, c.StartDate); err != nil {
			v.add("startDate", "%q is not a YYYY-MM-DD date", c.StartDate)
		}
	}
	if c.EndDate != "" {
		if end, err = time.Parse(time.DateOnly, c.EndDate); err != nil {
			v.add("endDate", "%q is not a YYYY-MM-DD date", c.EndDate)
		}
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		v.add("endDate", "%s is before startDate %s", c.EndDate, c.StartDate)
	}
	v.check(len(c.Week) > 0, "week", "at least one working range is needed")
	for i, r := range c.Week {
		field := fmt.Sprintf("week[%d]", i)
		v.check(r.Day >= 1 && r.Day <= 7, field+".day", "must be 1 (Monday) to 7 (Sunday), is %d", r.Day)
		v.check(r.StartTime >= 0 && r.StartTime < 1440, field+".startTime", "must be a minute of the day (0-1439), is %d", r.StartTime)
		v.check(r.EndTime > r.StartTime && r.EndTime <= 1440, field+".endTime", "must be after startTime and at most 1440, is %d", r.EndTime)
	}
	for i, h := range c.Holidays {
		if _, err := time.Parse(time.DateOnly, h.Date); err != nil {
			v.add(fmt.Sprintf("holidays[%d].date", i), "%q is not a YYYY-MM-DD date", h.Date)
		}
		checkText(&v, fmt.Sprintf("holidays[%d].name", i), h.Name, MaxNameLen)
	}
	return v.err()
}

// KnownCause reports whether name is a FreeSWITCH hangup cause (any case).
func KnownCause(name string) bool {
	_, ok := esl.HangupCauseCode(name)
	return ok
}
