package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

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
}

// Validate checks a campaign and names every offending field.
func (c *Campaign) Validate() error {
	var v validator
	v.check(strings.TrimSpace(c.Name) != "", "name", "is required")
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
			v.check(d.GwName != "", df+".gwName", "is required")
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

// checkVariables checks channel variables: names a channel variable can
// have, scalar values that fit in an originate's {...} (no quotes, braces
// or control characters).
func checkVariables(v *validator, vars map[string]any) {
	for name, val := range vars {
		field := "variables." + name
		switch {
		case !variableName.MatchString(name):
			v.add(field, "a variable name is letters, digits and _, not starting with a digit")
		case strings.HasPrefix(name, "dialer_") || strings.HasPrefix(name, "origination_"):
			v.add(field, "names starting with dialer_ or origination_ are the dialer's own")
		case !scalar(val):
			v.add(field, "must be a string, number or boolean")
		default:
			if s, ok := val.(string); ok && strings.ContainsAny(s, "'\"{}\\\n\r\t\x00") {
				v.add(field, "must not contain quotes, braces, backslashes or control characters")
			}
		}
	}
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
	}
	checkVariables(&v, m.Variables)
	return v.err()
}

// Validate checks a calendar.
func (c *Calendar) Validate() error {
	var v validator
	v.check(strings.TrimSpace(c.Name) != "", "name", "is required")
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
	}
	return v.err()
}

// Validate checks an agent and fills its endpoint.
func (a *Agent) Validate() error {
	var v validator
	v.check(a.ID != "" && !strings.ContainsAny(a.ID, " /{}"), "id", "is required, without spaces, slashes or braces")
	if a.Endpoint == "" {
		a.Endpoint = "user/" + a.ID
	}
	if a.Status == "" {
		a.Status = AgentLoggedOut
	}
	v.check(a.Status == AgentLoggedOut || a.Status == AgentAvailable || a.Status == AgentOnBreak, "status", "%q is not logged_out, available or on_break", a.Status)
	return v.err()
}

// KnownCause reports whether name is a FreeSWITCH hangup cause (any case).
func KnownCause(name string) bool {
	_, ok := esl.HangupCauseCode(name)
	return ok
}
