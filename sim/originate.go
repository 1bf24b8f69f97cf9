package sim

import (
	"strings"
	"time"
)

type kv struct{ k, v string }

// originateUsage is what mod_commands answers a malformed originate.
const originateUsage = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"

// Control bytes switch_ivr_originate writes over the commas inside [...]
// before it splits a dial string on ',' (QUOTED_ESC_COMMA,
// UNQUOTED_ESC_COMMA in switch_ivr_originate.c).
const (
	quotedEscComma   = 1
	unquotedEscComma = 2
)

// maxPeers is MAX_PEERS of switch_ivr_originate.c: the size of the arrays
// the dial string is split into on '|' and ','.
const maxPeers = 128

// originateReq is an originate command as mod_commands' originate_function
// and switch_ivr_originate read it.
type originateReq struct {
	argv []string // the blank-separated arguments, "undef" made ""

	// What originate_function passes to switch_ivr_originate.
	exten             string // argv[1]: an extension, or &app(args)
	dialplan, context string // argv[2], argv[3] (XML, default)
	cidName, cidNum   string // argv[4], argv[5]
	hasCidName        bool
	hasCidNum         bool
	timeout           time.Duration // argv[6], then originate_timeout

	// The dial string.
	vars       varList // <...> and {...}: var_event
	legVars    varList // [...] of the leg
	checkVars  bool    // refuse values with ${ (no origination_nested_vars=true)
	chanType   string  // before the first '/' of the leg: sofia, user, loopback, error
	chanData   string  // after it
	hasData    bool
	endpoints  int    // how many the dial string names, ',' and '|' together
	failure    string // "-ERR <CAUSE>\n" when switch_ivr_originate fails before any channel
	ignoreEM   bool   // ignore_early_media true, consume or ring_ready
	undefExten bool   // "undef" as the extension: the switch aborts

	// The target, as originate_function cuts it once the call is up.
	isApp       bool   // "&" and at least one more byte
	app, appArg string // &app(arg)
}

// get reads the variables the new channel's request sees: {...} merged
// with [...], [...] winning (switch_event_merge into originate_var_event).
func (r *originateReq) get(name string) (string, bool) {
	if v, ok := r.legVars.get(name); ok {
		return v, true
	}
	return r.vars.get(name)
}

// parseOriginate reads an originate command as originate_function does
// (src/mod/applications/mod_commands/mod_commands.c): split on blanks with
// switch_separate_string into at most 10 arguments, 2 to 7 of them or the
// usage, "undef" (any case) for an argument left out. A usage answer comes
// back as the string; everything else, failures included, in the request.
func parseOriginate(args string) (*originateReq, string) {
	if args == "" {
		return nil, originateUsage
	}
	b := newCbuf(args)
	argv := b.strs(b.separate(0, ' ', 10))
	if len(argv) < 2 || len(argv) > 7 {
		return nil, originateUsage
	}
	present := make([]bool, 7)
	for i := range argv {
		if equalFoldASCII(argv[i], "undef") {
			argv[i] = ""
		} else {
			present[i] = true
		}
	}
	for len(argv) < 7 {
		argv = append(argv, "")
	}
	r := &originateReq{argv: argv, exten: argv[1], dialplan: "XML", context: "default", checkVars: true}
	if !present[1] {
		r.undefExten = true
		return r, ""
	}
	if present[2] {
		r.dialplan = argv[2]
	}
	if present[3] {
		r.context = argv[3]
	}
	r.cidName, r.hasCidName = argv[4], present[4]
	r.cidNum, r.hasCidNum = argv[5], present[5]
	timeout := 60
	if present[6] {
		timeout = atoi(argv[6])
	}
	if timeout <= 0 {
		timeout = 60 // SWITCH_DEFAULT_TIMEOUT
	}
	aleg := ""
	if present[0] {
		aleg = argv[0]
	}
	r.parseDialString(aleg)
	if v, ok := r.vars.get("originate_timeout"); ok {
		if n := atoi(v); n > 0 {
			timeout = n
		}
	}
	r.timeout = time.Duration(timeout) * time.Second
	// originate_function cuts the application once the call is up: at the
	// first ')', then the name at the first '('.
	if len(r.exten) > 1 && r.exten[0] == '&' {
		name := r.exten[1:]
		if i := strings.IndexByte(name, ')'); i >= 0 {
			name = name[:i]
		}
		name, r.appArg, _ = strings.Cut(name, "(")
		r.app, r.isApp = name, true
	}
	return r, ""
}

// parseDialString is the part of switch_ivr_originate that reads the dial
// string (src/switch_ivr_originate.c): origination_nested_vars, the <...>
// and {...} blocks, the '|' and ',' lists of endpoints, the [...] blocks of
// the leg, then its type and data.
func (r *originateReq) parseDialString(data string) {
	const outOfOrder = "-ERR DESTINATION_OUT_OF_ORDER\n"
	if strings.Contains(data, ":_:") {
		// switch_ivr_enterprise_originate: several originates at once.
		r.endpoints = 2
		return
	}
	b := newCbuf(data)
	p := 0
	for b.at(p) == ' ' {
		p++
	}
	// switch_stristr on the whole remaining string, before any parsing:
	// the text anywhere turns the check off.
	if containsFold(b.str(p), "origination_nested_vars=true") {
		r.checkVars = false
	}
	if b.at(p) == '<' {
		for b.at(p) == '<' {
			next, ok := b.createBrackets(p, '<', '>', ',', &r.vars)
			if !ok {
				r.failure = outOfOrder // "Parse Error!"
				return
			}
			p = next
		}
	}
	for b.at(p) == '{' {
		next, ok := b.createBrackets(p, '{', '}', ',', &r.vars)
		if !ok {
			r.failure = outOfOrder
			return
		}
		p = next
	}
	for b.at(p) == ' ' {
		p++
	}
	if b.at(p) == 0 {
		r.failure = outOfOrder // "No origination URL specified!"
		return
	}
	if v, ok := r.vars.get("ignore_early_media"); ok && (switchTrue(v) || v == "consume" || v == "ring_ready") {
		r.ignoreEM = true
	}
	// The caller id arguments become variables when none are given.
	if _, ok := r.vars.get("origination_caller_id_name"); !ok && r.hasCidName {
		r.vars.add("origination_caller_id_name", r.cidName)
	}
	if _, ok := r.vars.get("origination_caller_id_number"); !ok && r.hasCidNum {
		r.vars.add("origination_caller_id_number", r.cidNum)
	}

	loop := newCbuf(b.str(p))
	pipes := loop.separate(0, '|', maxPeers)
	for _, pipe := range pipes {
		// Commas inside [...] are hidden from the ',' split.
		end, q, alt := -1, false, false
		for p := pipe; loop.at(p) != 0; p++ {
			if end < 0 && loop[p] == '[' {
				end = loop.findEndParen(p, '[', ']')
				alt = loop.at(p+1) == '^' && loop.at(p+2) == '^'
				q = false
			}
			if loop[p] == '\'' {
				q = !q
			}
			if end >= 0 && p < end && loop[p] == ',' && loop.at(p-1) != '\\' {
				if q || alt {
					loop[p] = quotedEscComma
				} else {
					loop[p] = unquotedEscComma
				}
			}
			if p == end {
				end = -1
			}
		}
		peers := loop.separate(pipe, ',', maxPeers)
		if r.endpoints == 0 && len(peers) > 0 {
			r.parseLeg(loop, peers[0])
		}
		r.endpoints += len(peers)
	}
	if r.endpoints == 0 {
		r.failure = outOfOrder // "Nothing to do"
		return
	}
	r.vars.add("originate_early_media", boolStr(!r.ignoreEM))
}

// parseLeg reads one endpoint of the dial string: its [...] blocks, then
// its type and data.
func (r *originateReq) parseLeg(b cbuf, ct int) {
	for b.at(ct) == ' ' {
		ct++
	}
	for b.at(ct) == '[' {
		bend := b.findEndParen(ct, '[', ']')
		for p := ct + 1; p < bend && b.at(p) != 0; p++ {
			if b[p] == quotedEscComma {
				b[p] = ','
			}
		}
		next, ok := b.createBrackets(ct, '[', ']', unquotedEscComma, &r.legVars)
		if !ok || next == ct {
			r.failure = "-ERR DESTINATION_OUT_OF_ORDER\n"
			return
		}
		ct = next
	}
	for b.at(ct) == ' ' {
		ct++
	}
	r.chanType, r.chanData, r.hasData = strings.Cut(b.str(ct), "/")
}
