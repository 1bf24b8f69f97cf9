package store

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits on what the API stores (docs/api.md, "Limits").
const (
	MaxNameLen     = 256  // names of campaigns, members, calendars, agents
	MaxTextLen     = 4096 // descriptions
	MaxIDLen       = 128  // ids given by the client: agents, skills, buckets, type codes
	MaxVariables   = 100  // channel variables of a campaign or a member
	MaxVariableLen = 1024 // bytes of one variable's value
	MaxFileLen     = 1024 // bytes of a file to play
)

// hasControl reports whether s has a control character (C0, DEL or C1).
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// checkText checks free text the dialer stores and shows: valid UTF-8, no
// control characters, at most max bytes.
func checkText(v *validator, field, s string, max int) {
	switch {
	case len(s) > max:
		v.add(field, "must be at most %d bytes, is %d", max, len(s))
	case !utf8.ValidString(s):
		v.add(field, "is not valid UTF-8")
	case hasControl(s):
		v.add(field, "must not contain control characters (line breaks, tabs, NUL)")
	}
}

// switchToken is a kind of value that goes into a FreeSWITCH command as
// (part of) one argument: the characters it may have and what it is.
type switchToken struct {
	what    string
	max     int
	allowed func(r rune) bool
	// groups allows $1..$99 (a dial string's references to the number).
	groups bool
}

func alnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func oneOf(extra string) func(rune) bool {
	return func(r rune) bool { return alnum(r) || strings.ContainsRune(extra, r) }
}

// The kinds of switch tokens. None allows a blank (the switch splits its
// command line there), a quote or backslash (its tokenizer's syntax),
// braces, brackets or angle brackets (variable blocks), a comma or '|'
// (which dial several legs at once), '&' or parentheses (applications), or
// '$' other than a dial string's group reference (variable expansion).
var (
	gatewayName  = switchToken{what: "a gateway name: letters, digits and _ . @ : + -", max: 64, allowed: oneOf("_.@:+-")}
	dialString   = switchToken{what: "a dial string: letters, digits, _ . @ : ; = + * # % - and $1..$99", max: 128, allowed: oneOf("_.@:;=+*#%-"), groups: true}
	endpoint     = switchToken{what: "a FreeSWITCH endpoint such as user/100 or sofia/gateway/gw/100: letters, digits and _ . @ : ; = + * # % / -", max: 256, allowed: oneOf("_.@:;=+*#%/-")}
	extension    = switchToken{what: "a dialplan extension: letters, digits and _ . @ : + * # / = -", max: 128, allowed: oneOf("_.@:+*#/=-")}
	dialplanName = switchToken{what: "a dialplan name such as XML: letters, digits and _ , : . -", max: 64, allowed: oneOf("_,:.-")}
	contextName  = switchToken{what: "a dialplan context: letters, digits and _ . -", max: 64, allowed: oneOf("_.-")}
	// soundFile goes into an inline dialplan (playback:FILE,hangup), which
	// splits at commas, and the command line splits at blanks.
	soundFile = switchToken{what: "a sound file path: letters, digits and _ . / : + = % - and ${name}", max: MaxFileLen, allowed: oneOf("_./:+=%-")}
)

// switchVariable is ${name}: a variable of the switch (sounds_dir) in a
// sound file's path; without parentheses it cannot call an api.
var switchVariable = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// checkSoundFile checks a sound file that goes into an inline dialplan.
func checkSoundFile(v *validator, field, s string) {
	checkSwitchToken(v, field, switchVariable.ReplaceAllString(s, "_"), soundFile)
}

// checkSwitchToken checks a value that becomes (part of) one argument of a
// switch command; an empty value is left to the caller.
func checkSwitchToken(v *validator, field, s string, kind switchToken) {
	if s == "" {
		return
	}
	if len(s) > kind.max {
		v.add(field, "must be at most %d bytes, is %d", kind.max, len(s))
		return
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if kind.groups && r == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			i++
			continue
		}
		if !kind.allowed(r) {
			v.add(field, "%s is not allowed at byte %d; %q must be %s", describeRune(r), i, s, kind.what)
			return
		}
		i += size
	}
}

// checkFile checks a file to play. It reaches the switch as a channel
// variable expanded by &playback(), so blanks, commas and parentheses are
// kept; quotes, backslashes and braces would be read as the syntax of the
// variable block, "${" as a variable, and control characters end or split
// the command.
func checkFile(v *validator, field, s string) {
	switch {
	case len(s) > MaxFileLen:
		v.add(field, "must be at most %d bytes, is %d", MaxFileLen, len(s))
	case !utf8.ValidString(s):
		v.add(field, "is not valid UTF-8")
	case hasControl(s):
		v.add(field, "must not contain control characters (line breaks, tabs, NUL)")
	case strings.ContainsAny(s, "'\"\\{}"):
		v.add(field, "must not contain quotes, backslashes or braces: FreeSWITCH would read them as syntax")
	case strings.TrimSpace(s) != s:
		v.add(field, "must not start or end with a blank: FreeSWITCH strips it")
	}
}

// describeRune names a character for an error message.
func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a blank"
	case '\n', '\r':
		return "a line break"
	case '\t':
		return "a tab"
	case 0:
		return "NUL"
	}
	if r < 0x20 || r == 0x7f {
		return fmt.Sprintf("control character %U", r)
	}
	return fmt.Sprintf("%q", r)
}
