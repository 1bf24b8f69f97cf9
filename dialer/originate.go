package dialer

import (
	"sort"
	"strconv"
	"strings"

	"github.com/fsdialer/fsdialer/store"
)

// originateArgs builds the arguments of "originate" for an attempt: the
// variables that identify the call (origination_uuid is the attempt id, so
// the channel and the journal share one id), the campaign's and then the
// member's variables, the endpoint, and what runs on answer.
func originateArgs(c *store.Campaign, m *store.Member, a *store.Attempt, t target) string {
	var b strings.Builder
	b.WriteByte('{')
	add := func(k, v string) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quoteVar(v))
	}
	add("origination_uuid", a.ID)
	add("dialer_campaign_id", c.ID)
	add("dialer_member_id", m.ID)
	add("dialer_attempt_id", a.ID)
	add("originate_timeout", strconv.Itoa(c.Parameters.OriginateTimeout))
	add("ignore_early_media", "true")
	if t.CallerIDNumber != "" {
		add("origination_caller_id_number", t.CallerIDNumber)
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
		add(k, vars[k])
	}
	b.WriteByte('}')
	b.WriteString(t.Endpoint())
	b.WriteByte(' ')
	bc := c.Broadcast
	switch {
	case bc.Extension != "":
		dialplan, context := bc.Dialplan, bc.Context
		if dialplan == "" {
			dialplan = "XML"
		}
		if context == "" {
			context = "default"
		}
		b.WriteString(bc.Extension + " " + dialplan + " " + context)
	case bc.File != "":
		b.WriteString("&playback(" + bc.File + ")")
	default:
		b.WriteString("&park()")
	}
	return b.String()
}

// quoteVar escapes a variable value for {...}: commas are escaped, values
// with spaces are quoted. Validation keeps quotes and braces out of values.
func quoteVar(v string) string {
	v = strings.ReplaceAll(v, ",", `\,`)
	if strings.ContainsRune(v, ' ') {
		return "'" + v + "'"
	}
	return v
}
