package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

type kv struct{ k, v string }

// originateUsage is what mod_commands answers a malformed originate.
const originateUsage = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"

// originateReq is a parsed originate command.
type originateReq struct {
	vars     []kv   // {} and [] variables, in order, leg variables last
	endpoint string // what follows the variables
	// endpoint parts
	tech    string // sofia, user, loopback, error
	gateway string
	profile string
	number  string
	// what runs on answer: an application, or an extension
	app, appArg      string
	exten            string
	dialplan         string
	context          string
	cidName, cidNum  string
	timeout          time.Duration
	ignoreEarlyMedia bool
}

func (r *originateReq) get(name string) (string, bool) {
	for i := len(r.vars) - 1; i >= 0; i-- {
		if r.vars[i].k == name {
			return r.vars[i].v, true
		}
	}
	return "", false
}

// splitArgs splits on blanks outside quotes, as switch_separate_string does.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
		case c == '{' || c == '[' || c == '<':
			depth++
			cur.WriteByte(c)
		case c == '}' || c == ']' || c == '>':
			if depth > 0 {
				depth--
			}
			cur.WriteByte(c)
		case c == ' ' && depth == 0:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		return s[1 : len(s)-1]
	}
	return s
}

// parseVars parses the inside of {...} or [...]: k=v pairs split on ','
// (or the separator named by a leading ^^X), '\,' escaping the separator.
func parseVars(s string) ([]kv, error) {
	sep := byte(',')
	if strings.HasPrefix(s, "^^") && len(s) > 2 {
		sep = s[2]
		s = s[3:]
	}
	var out []kv
	var cur strings.Builder
	var quote byte
	flush := func() error {
		item := cur.String()
		cur.Reset()
		if strings.TrimSpace(item) == "" {
			return nil
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("variable %q is not name=value", item)
		}
		out = append(out, kv{strings.TrimSpace(k), unquote(v)})
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == sep:
			cur.WriteByte(sep)
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == sep:
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	return out, flush()
}

var errUsage = errors.New(originateUsage)

// parseOriginate parses "originate" arguments.
func parseOriginate(args string) (*originateReq, error) {
	argv := splitArgs(args)
	if len(argv) < 2 {
		return nil, errUsage
	}
	r := &originateReq{timeout: 60 * time.Second, context: "default", cidNum: "0000000000"}
	url := argv[0]
	for len(url) > 0 && (url[0] == '{' || url[0] == '[' || url[0] == '<') {
		closer := map[byte]byte{'{': '}', '[': ']', '<': '>'}[url[0]]
		end := strings.IndexByte(url, closer)
		if end < 0 {
			return nil, fmt.Errorf("-ERR INVALID_URL\n")
		}
		vs, err := parseVars(url[1:end])
		if err != nil {
			return nil, fmt.Errorf("-ERR INVALID_URL\n")
		}
		r.vars = append(r.vars, vs...)
		url = url[end+1:]
	}
	r.endpoint = url
	parts := strings.Split(url, "/")
	r.tech = parts[0]
	switch {
	case r.tech == "sofia" && len(parts) >= 4 && parts[1] == "gateway":
		r.gateway, r.profile, r.number = parts[2], "external", strings.Join(parts[3:], "/")
	case r.tech == "sofia" && len(parts) >= 3:
		r.profile = parts[1]
		r.number, _, _ = strings.Cut(strings.Join(parts[2:], "/"), "@")
	case r.tech == "user" && len(parts) == 2:
		r.number, _, _ = strings.Cut(parts[1], "@")
	case r.tech == "loopback" && len(parts) >= 2:
		r.number = parts[1]
	case r.tech == "error" && len(parts) == 2:
		r.number = parts[1]
	default:
		return r, nil // the caller answers CHAN_NOT_IMPLEMENTED or INVALID_URL
	}
	target := argv[1]
	if strings.HasPrefix(target, "&") {
		name, arg, ok := strings.Cut(target[1:], "(")
		if !ok || !strings.HasSuffix(arg, ")") {
			return nil, errUsage
		}
		r.app, r.appArg = name, arg[:len(arg)-1]
	} else {
		r.exten = target
	}
	rest := argv[2:]
	at := func(i int) string {
		if i < len(rest) && rest[i] != "undef" {
			return unquote(rest[i])
		}
		return ""
	}
	r.dialplan = at(0)
	if c := at(1); c != "" {
		r.context = c
	}
	if n := at(2); n != "" {
		r.cidName = n
	}
	if n := at(3); n != "" {
		r.cidNum = n
	}
	if t := at(4); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n > 0 {
			r.timeout = time.Duration(n) * time.Second
		}
	}
	if v, ok := r.get("originate_timeout"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			r.timeout = time.Duration(n) * time.Second
		}
	}
	if v, ok := r.get("origination_caller_id_number"); ok {
		r.cidNum = v
	}
	if v, ok := r.get("origination_caller_id_name"); ok {
		r.cidName = v
	}
	if v, ok := r.get("ignore_early_media"); ok {
		r.ignoreEarlyMedia = v == "true"
	}
	return r, nil
}
