package dialer

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fsdialer/fsdialer/store"
)

// errUnsafeValue is returned by the command builders for a value that
// would change the command's syntax on the switch. The API refuses such
// values (store.Validate), so this guards data stored before that check
// and any future caller: a command is built whole or not at all.
var errUnsafeValue = errors.New("a value would change the command's syntax")

// commandBuilder writes a FreeSWITCH command line. FreeSWITCH splits the
// line at blanks outside single quotes (switch_separate_string), then
// reads {name=value,...} blocks split at commas, and ends an application's
// argument at its first ')'; the builder keeps every value inside the
// piece it belongs to, or fails.
type commandBuilder struct {
	b    strings.Builder
	vars int
	err  error
}

func (cb *commandBuilder) fail(what, v string, why string) {
	if cb.err == nil {
		cb.err = fmt.Errorf("%w: %s %q %s", errUnsafeValue, what, v, why)
	}
}

// variable adds name=value to the open {...} block: commas are escaped,
// values with blanks quoted. Quotes, backslashes and braces would be read
// as syntax, "${" as a variable to expand, control characters would end
// or split the command.
func (cb *commandBuilder) variable(name, value string) {
	switch {
	case strings.ContainsAny(value, "'\"\\{}"):
		cb.fail("variable "+name, value, "has a quote, backslash or brace")
	case hasControl(value):
		cb.fail("variable "+name, value, "has a control character")
	}
	if cb.vars > 0 {
		cb.b.WriteByte(',')
	}
	cb.vars++
	cb.b.WriteString(name)
	cb.b.WriteByte('=')
	value = strings.ReplaceAll(value, ",", `\,`)
	if strings.ContainsRune(value, ' ') {
		value = "'" + value + "'"
	}
	cb.b.WriteString(value)
}

// token adds text that must stay within one argument of the command and
// cannot start a variable block, an application or another leg.
func (cb *commandBuilder) token(what, s string) {
	if s == "" {
		cb.fail(what, s, "is empty")
	} else if i := strings.IndexAny(s, " '\"\\{}[]<>,|&()$"); i >= 0 || hasControl(s) {
		cb.fail(what, s, "has a character the switch would read as syntax")
	}
	cb.b.WriteString(s)
}

// soundFile adds a file to play that stays one application's argument of
// an inline dialplan: no blanks, commas or parentheses, and "$" only as
// the switch's own ${name} (store.Validate checks the same).
func (cb *commandBuilder) soundFile(what, s string) {
	rest := switchVariable.ReplaceAllString(s, "_")
	if s == "" {
		cb.fail(what, s, "is empty")
	} else if strings.ContainsAny(rest, " '\"\\{}[]<>,|&()$") || hasControl(s) {
		cb.fail(what, s, "has a character the switch would read as syntax")
	}
	cb.b.WriteString(s)
}

// switchVariable is ${name}, a variable of the switch (sounds_dir).
var switchVariable = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

func (cb *commandBuilder) raw(s string) { cb.b.WriteString(s) }

// trusted adds a variable whose value is the dialer's own constant
// (syntax included, such as the end record hook's "${...}").
func (cb *commandBuilder) trusted(name, value string) {
	if cb.vars > 0 {
		cb.b.WriteByte(',')
	}
	cb.vars++
	cb.b.WriteString(name + "=" + value)
}

func (cb *commandBuilder) String() (string, error) { return cb.b.String(), cb.err }

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// broadcastFileVar carries the file a broadcast plays: &playback() takes
// its argument up to the first ')' and the command line splits at blanks,
// so the file goes in a channel variable, which the switch expands when
// the application runs, and reaches playback intact.
const broadcastFileVar = "dialer_broadcast_file"

// originateArgs builds the arguments of "originate" for an attempt: the
// variables that identify the call (origination_uuid is the attempt id, so
// the channel and the journal share one id), with endRecords the hook that
// makes the switch record the call's end, the campaign's and then the
// member's variables, the endpoint, and what runs on answer.
// machineMessageVar holds the message a machine hears, so the inline
// dialplan that plays it carries no file name.
const machineMessageVar = "dialer_machine_message"

// amdArgs are the campaign's AMD parameters as mod_amd's amd application
// reads its argument: key=value pairs split at commas, by its own names
// (an unknown key stops it from starting); those not set keep amd.conf's.
func amdArgs(a store.AMD) string {
	var pairs []string
	for _, p := range a.Params() {
		if p.Value > 0 {
			pairs = append(pairs, p.ModAMD+"="+strconv.Itoa(p.Value))
		}
	}
	return strings.Join(pairs, ",")
}

func originateArgs(c *store.Campaign, m *store.Member, a *store.Attempt, t target, endRecords bool) (string, error) {
	var cb commandBuilder
	cb.raw("{")
	if endRecords {
		// First: FreeSWITCH looks for "origination_nested_vars=true" in
		// the whole string before it parses the block.
		cb.trusted("origination_nested_vars", "true")
	}
	cb.variable("origination_uuid", a.ID)
	cb.variable("dialer_campaign_id", c.ID)
	cb.variable("dialer_member_id", m.ID)
	cb.variable("dialer_attempt_id", a.ID)
	cb.variable("originate_timeout", strconv.Itoa(c.Parameters.OriginateTimeout))
	cb.variable("ignore_early_media", "true")
	if t.CallerIDNumber != "" {
		cb.variable("origination_caller_id_number", t.CallerIDNumber)
	}
	if endRecords {
		cb.trusted("api_hangup_hook", endRecordHook)
	}
	bc := c.Broadcast
	if c.Type != store.TypeBroadcast {
		bc = store.Broadcast{} // the member waits parked for the agent's bridge
	}
	if bc.Extension == "" && bc.File != "" {
		cb.variable(broadcastFileVar, bc.File)
	}
	if c.AMD.Enabled {
		// mod_amd runs on the answer, before the call goes on
		cb.variable("execute_on_answer", "amd "+amdArgs(c.AMD))
		if c.AMD.MachineMessage != "" {
			cb.variable(machineMessageVar, c.AMD.MachineMessage)
		}
	}
	vars := make(map[string]string, len(c.Variables)+len(m.Variables))
	for k, v := range c.Variables {
		vars[k] = store.VariableString(v)
	}
	for k, v := range m.Variables { // the member's win over the campaign's
		vars[k] = store.VariableString(v)
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		cb.variable(k, vars[k])
	}
	cb.raw("}sofia/gateway/")
	cb.token("gateway", t.GwName)
	cb.raw("/")
	cb.token("dial string", t.Number)
	cb.raw(" ")
	switch {
	case bc.Extension != "":
		dialplan, context := bc.Dialplan, bc.Context
		if dialplan == "" {
			dialplan = "XML"
		}
		if context == "" {
			context = "default"
		}
		cb.token("extension", bc.Extension)
		cb.raw(" ")
		cb.token("dialplan", dialplan)
		cb.raw(" ")
		cb.token("context", context)
	case bc.File != "":
		cb.raw("&playback(${" + broadcastFileVar + "})")
	default:
		cb.raw("&park()")
	}
	return cb.String()
}

// agentOriginateArgs builds the originate that rings an agent for an
// attempt: on the agent's own leg (agentLeg), ringing at most the agent's
// call timeout, parked once answered until the member is bridged in. The
// member's number shows as the caller, so the agent sees who is coming.
func agentOriginateArgs(c *store.Campaign, m *store.Member, a *store.Attempt, agent *store.Agent, t agentTerms, endRecords bool) (string, error) {
	var cb commandBuilder
	cb.raw("{")
	if endRecords {
		cb.trusted("origination_nested_vars", "true")
	}
	cb.variable("origination_uuid", a.AgentLeg)
	cb.variable("dialer_campaign_id", c.ID)
	cb.variable("dialer_member_id", m.ID)
	cb.variable("dialer_attempt_id", a.ID)
	cb.variable("dialer_agent_id", agent.ID)
	cb.variable("originate_timeout", strconv.Itoa(t.callTimeout))
	cb.variable("origination_caller_id_number", a.Number)
	if agent.AutoAnswer {
		cb.variable("sip_auto_answer", "true") // FreeSWITCH adds Call-Info answer-after=0
	}
	if endRecords {
		cb.trusted("api_hangup_hook", endRecordHook)
	}
	cb.raw("}")
	cb.token("agent contact", agent.Contact)
	cb.raw(" &park()")
	return cb.String()
}
