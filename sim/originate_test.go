package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSeparateString checks the C tokenizers on the cases their code
// decides: blank splitting with quotes and escapes, the ^^X delimiter,
// cleanup's unescaping and trimming, and an unmatched quote.
func TestSeparateString(t *testing.T) {
	for _, tc := range []struct {
		in    string
		delim byte
		max   int
		want  []string
	}{
		// separate_string_blank_delim: runs of blanks are one delimiter,
		// quotes hold blanks and are removed by cleanup.
		{"  a   b ", ' ', 10, []string{"a", "b"}},
		{"a 'b c' d", ' ', 10, []string{"a", "b c", "d"}},
		{`a\ b c`, ' ', 10, []string{`a\ b`, "c"}}, // \<blank> is not an escape cleanup knows
		{`a\sb c`, ' ', 10, []string{"a b", "c"}},
		{`a\tb\'c\"d\\e`, ' ', 10, []string{"a\tb'c\"d\\e"}},
		{"a b c d", ' ', 2, []string{"a", "b c d"}}, // the last takes the rest
		{"a 'b c", ' ', 10, []string{"a", "'b c"}},  // an unmatched quote stays
		{`a\`, ' ', 10, []string{`a\`}},
		// ^^X makes X the delimiter, for blanks too.
		{"^^:a b:c", ' ', 10, []string{"a b", "c"}},
		{"^^:", ',', 10, []string{"^^:"}}, // nothing after X: no change
		// separate_string_char_delim: empty tokens count, \<delim> unescaped.
		{",a,,b,", ',', 10, []string{"", "a", "", "b"}},
		{`a\,b,c`, ',', 10, []string{"a,b", "c"}},
		{"a='x,y',b", ',', 10, []string{"a=x,y", "b"}},
		{" a = b ", '=', 2, []string{"a", "b"}},
		{"a=b=c", '=', 2, []string{"a", "b=c"}},
		{"a=", '=', 2, []string{"a"}},
	} {
		b := newCbuf(tc.in)
		got := b.strs(b.separate(0, tc.delim, tc.max))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("separate(%q, %q, %d) = %q, want %q", tc.in, tc.delim, tc.max, got, tc.want)
		}
	}
}

func TestFindEndParen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"{a}", 2}, {"  {a}", 4}, {"{a{b}c}d", 6}, {"{a", -1}, {"a}", -1}, {"{'}'}", 2},
	} {
		if got := newCbuf(tc.in).findEndParen(0, '{', '}'); got != tc.want {
			t.Errorf("findEndParen(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestParseOriginate: originate arguments as mod_commands and
// switch_ivr_originate read them. Each expectation follows the C code of
// FreeSWITCH 1.10.12 step by step (see docs/simulator.md).
func TestParseOriginate(t *testing.T) {
	type want struct {
		usage             bool
		failure           string
		vars, legVars     string // "k=v;k=v"
		chanType          string
		chanData          string
		isApp             bool
		app, appArg       string
		exten             string
		dialplan, context string
		timeout           int
		nested            bool
		endpoints         int
	}
	def := func(w want) want {
		if w.dialplan == "" {
			w.dialplan = "XML"
		}
		if w.context == "" {
			w.context = "default"
		}
		if w.timeout == 0 {
			w.timeout = 60
		}
		if w.endpoints == 0 && w.failure == "" {
			w.endpoints = 1
		}
		return w
	}
	for _, tc := range []struct {
		name, args string
		want       want
	}{
		{"the dialer's",
			"{origination_uuid=u1,dialer_campaign_id=c1,dialer_member_id=m1,dialer_attempt_id=u1,originate_timeout=30,ignore_early_media=true}sofia/gateway/gw/380501234567 &playback(/msg.wav)",
			want{vars: "origination_uuid=u1;dialer_campaign_id=c1;dialer_member_id=m1;dialer_attempt_id=u1;originate_timeout=30;ignore_early_media=true;originate_early_media=false",
				chanType: "sofia", chanData: "gateway/gw/380501234567", isApp: true, app: "playback", appArg: "/msg.wav", exten: "&playback(/msg.wav)", timeout: 30}},
		{"a blank in the application splits it",
			"sofia/gateway/gw/1 &playback(/sounds/tone 440.wav)",
			want{vars: "originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1",
				isApp: true, app: "playback", appArg: "/sounds/tone", exten: "&playback(/sounds/tone", dialplan: "440.wav)"}},
		{"the argument ends at the first )",
			"sofia/gateway/gw/1 &playback(tone(1).wav)",
			want{vars: "originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1",
				isApp: true, app: "playback", appArg: "tone(1", exten: "&playback(tone(1).wav)"}},
		{"no parentheses",
			"user/1000 &park",
			want{vars: "originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park"}},
		{"no closing parenthesis",
			"user/1000 &playback(/a.wav",
			want{vars: "originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "playback", appArg: "/a.wav", exten: "&playback(/a.wav"}},
		{"a lone & is an extension",
			"user/1000 &",
			want{vars: "originate_early_media=true", chanType: "user", chanData: "1000", exten: "&"}},
		{"quotes hold a blank and are removed",
			"{a='x y',b=2}user/1000 &playback('/a b.wav')",
			want{vars: "a=x y;b=2;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "playback", appArg: "/a b.wav", exten: "&playback(/a b.wav)"}},
		{"quotes do not hold a comma: the blank split removed them",
			"{a='x,y',b=2}user/1000 &park()",
			want{vars: "a=x;b=2;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"an escaped comma",
			`{a=1\,2,b=3}user/1000 &park()`,
			want{vars: "a=1,2;b=3;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"the dialer's quoting of a comma and a blank",
			`{x='a\, b'}user/1000 &park()`,
			want{vars: "x=a, b;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"^^: as the separator",
			"{^^:a=1,2:b=3}user/1000 &park()",
			want{vars: "a=1,2;b=3;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"\\s is a blank",
			`user/1000 &playback(/a\sb.wav)`,
			want{vars: "originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "playback", appArg: "/a b.wav", exten: "&playback(/a b.wav)"}},
		{"two blocks, a name twice, a value with =, empty values (cleanup trims them away), no value",
			"{a=1,c=x=y}{a=2,e=,f=\\s,g}user/1000 &park()",
			want{vars: "c=x=y;a=2;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"ultra-global, global and leg variables",
			"<u=1>{a=1}[b=2,c=3]sofia/gateway/gw/1 &park()",
			want{vars: "u=1;a=1;originate_early_media=true", legVars: "b=2;c=3", chanType: "sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()"}},
		{"leg variables with ^^; keep their commas",
			"[^^;b=2,3;c=4]sofia/gateway/gw/1 &park()",
			want{vars: "originate_early_media=true", legVars: "b=2,3;c=4", chanType: "sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()"}},
		{"leg variables: quotes removed before the comma split",
			"[b='2,3']sofia/gateway/gw/1 &park()",
			want{vars: "originate_early_media=true", legVars: "b=2", chanType: "sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()"}},
		{"<> after {} is not read: part of the endpoint",
			"{a=1}<u=1>sofia/gateway/gw/1 &park()",
			want{vars: "a=1;originate_early_media=true", chanType: "<u=1>sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()"}},
		{"blanks in {} split the arguments: an unclosed block",
			"{ a = 1 }sofia/gateway/gw/1 &park()",
			want{failure: "-ERR DESTINATION_OUT_OF_ORDER\n", exten: "a", dialplan: "=", context: "1"}},
		{"no URL after the variables",
			"{a=1} &park()",
			want{failure: "-ERR DESTINATION_OUT_OF_ORDER\n", vars: "a=1", isApp: true, app: "park", exten: "&park()"}},
		{"an extension, dialplan, context, caller id and timeout",
			"sofia/gateway/gw/1 ivr XML sales 'John Doe' 555 30",
			want{vars: "origination_caller_id_name=John Doe;origination_caller_id_number=555;originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1",
				exten: "ivr", context: "sales", timeout: 30}},
		{"undef in any case, a timeout atoi reads",
			"sofia/gateway/gw/1 ivr UNDEF undef undef 555 12abc",
			want{vars: "origination_caller_id_number=555;originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1", exten: "ivr", timeout: 12}},
		{"originate_timeout wins over the argument; a timeout <= 0 is 60",
			"{originate_timeout=10,origination_caller_id_number=777}sofia/gateway/gw/1 ivr XML default x 555 -5",
			want{vars: "originate_timeout=10;origination_caller_id_number=777;origination_caller_id_name=x;originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1", exten: "ivr", timeout: 10}},
		{"ignore_early_media=consume counts",
			"{ignore_early_media=consume}user/1000 &park()",
			want{vars: "ignore_early_media=consume;originate_early_media=false", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"origination_nested_vars=true anywhere, any case",
			"{x=${y}}[n=ORIGINATION_NESTED_VARS=TRUE]user/1000 &park()",
			want{vars: "x=${y};originate_early_media=true", legVars: "n=ORIGINATION_NESTED_VARS=TRUE", nested: true, chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"two endpoints",
			"sofia/gateway/gw/1,sofia/gateway/gw/2 &park()",
			want{vars: "originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()", endpoints: 2}},
		{"failover",
			"sofia/gateway/gw/1|sofia/gateway/gw/2 &park()",
			want{vars: "originate_early_media=true", chanType: "sofia", chanData: "gateway/gw/1", isApp: true, app: "park", exten: "&park()", endpoints: 2}},
		{"^^: at the top level",
			"^^:{a=1}user/1000:&park()",
			want{vars: "a=1;originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: "&park()"}},
		{"a trailing backslash", `user/1000 &park()\`,
			want{vars: "originate_early_media=true", chanType: "user", chanData: "1000", isApp: true, app: "park", exten: `&park()\`}},
		{"one argument", "user/1000", want{usage: true}},
		{"eight arguments", "a b c d e f g h", want{usage: true}},
		{"eleven arguments are ten, the last the rest", "a b c d e f g h i j k", want{usage: true}},
		{"nothing", "", want{usage: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, usage := parseOriginate(tc.args)
			if tc.want.usage {
				if usage != originateUsage {
					t.Fatalf("usage %q, want the usage", usage)
				}
				return
			}
			if usage != "" {
				t.Fatalf("usage %q", usage)
			}
			join := func(l varList) string {
				var parts []string
				for _, x := range l {
					parts = append(parts, x.k+"="+x.v)
				}
				return strings.Join(parts, ";")
			}
			got := want{
				failure: r.failure, vars: join(r.vars), legVars: join(r.legVars),
				chanType: r.chanType, chanData: r.chanData, isApp: r.isApp, app: r.app, appArg: r.appArg,
				exten: r.exten, dialplan: r.dialplan, context: r.context, timeout: int(r.timeout / time.Second),
				nested: !r.checkVars, endpoints: r.endpoints,
			}
			if r.failure != "" {
				got.timeout, got.endpoints = 60, 0
				if tc.want.failure == "" {
					t.Fatalf("failure %q", r.failure)
				}
			}
			if w := def(tc.want); got != w {
				t.Fatalf("\ngot  %+v\nwant %+v", got, w)
			}
		})
	}
}

// TestExpand: switch_channel_expand_variables on the forms it knows.
func TestExpand(t *testing.T) {
	vars := map[string]string{"a": "alpha", "n": "a", "deep": "${a}!", "num": "0123456789"}
	x := expander{
		lookup: func(name string) (string, bool) { v, ok := vars[name]; return v, ok },
		api: func(cmd, args string) (string, bool) {
			if cmd == "echo" {
				return "[" + args + "]", true
			}
			return "", false
		},
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"${a}", "alpha"},
		{"x${a}y", "xalphay"},
		{"${nope}", ""},
		{"${${n}}", "alpha"},
		{"${deep}", "alpha!"},
		{"${num:3}", "3456789"},
		{"${num:3:2}", "34"},
		{"${num:-3}", "789"},
		{"$${a}", "alpha"},
		{`\${a}`, "${a}"},
		{`a\'b`, "ab"},
		{`a\\b`, `a\b`},
		{"$a", "$a"},
		{"${a}${a}", "alphaalpha"},
		{"${echo hi}", "[hi]"},
		{"${echo(x y)}", "[x y]"},
		{"${a", "alpha"},
		{"cost $5", "cost $5"},
	} {
		if got := x.expand(tc.in, 0); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const filesScenario = `
gateways: [{name: gw}]
playback: 4
files:
  exist: ["/sounds/m*.wav", "/usr/share/freeswitch/sounds/en/us/callie/hello.wav"]
  missing: ["/sounds/m-gone.wav"]
numbers:
  - {pattern: "^1", answer: 1, ring: 1, patience: 60, talk: 60}
`

// TestApplicationsAfterTheCallIsUp: what originate_function does with its
// application once the call is answered: the argument cut at the first ')'
// and expanded from the channel's variables, files the scenario does not
// have, applications the switch does not know.
func TestApplicationsAfterTheCallIsUp(t *testing.T) {
	for _, tc := range []struct {
		name, vars, target string
		app, data, resp    string // the CHANNEL_EXECUTE_COMPLETE ("" app: none)
		cause              string
	}{
		{"a blank cut the file name", "", "&playback(/sounds/tone 440.wav)", "playback", "/sounds/tone", "FILE NOT FOUND", "NORMAL_CLEARING"},
		{"the first ) ends the argument", "", "&playback(tone(1).wav)", "playback", "tone(1", "FILE NOT FOUND", "NORMAL_CLEARING"},
		{"a relative file under the sound prefix", "", "&playback(hello.wav)", "playback", "hello.wav", "FILE PLAYED", "NORMAL_CLEARING"},
		{"a missing file", "", "&playback(/sounds/m-gone.wav)", "playback", "/sounds/m-gone.wav", "FILE NOT FOUND", "NORMAL_CLEARING"},
		{"no file", "", "&playback()", "playback", "", "PLAYBACK ERROR", "NORMAL_CLEARING"},
		{"a tone", "", "&playback(tone_stream://%(100,0,440))", "playback", "tone_stream://%(100,0,440", "FILE PLAYED", "NORMAL_CLEARING"},
		{"expanded from the channel", "dialer_attempt_id=a1,", "&playback(/sounds/m${dialer_attempt_id}.wav)", "playback", "/sounds/ma1.wav", "FILE PLAYED", "NORMAL_CLEARING"},
		{"an unknown variable is empty", "", "&playback(/sounds/m${nothing}.wav)", "playback", "/sounds/m.wav", "FILE PLAYED", "NORMAL_CLEARING"},
		{"expansion turned off", "app_disable_expand_variables=true,", "&playback(/sounds/m${uuid}.wav)", "playback", "/sounds/m${uuid}.wav", "FILE PLAYED", "NORMAL_CLEARING"},
		{"an application the switch does not have", "", "&nosuch(x)", "", "", "", "DESTINATION_OUT_OF_ORDER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, mustScenario(t, filesScenario))
			job := s.bgapi("job", "originate {"+tc.vars+"origination_uuid=u}sofia/gateway/gw/1000 "+tc.target)
			s.waitEvent("CHANNEL_CREATE", "u")
			s.clk.Advance(time.Second)
			if out, _ := job.Wait(context.Background()); out != "+OK u\n" {
				t.Fatalf("originate: %q", out)
			}
			if tc.resp == "FILE PLAYED" {
				s.waitEvent("CHANNEL_EXECUTE", "u")
				s.clk.Advance(4 * time.Second)
			}
			s.waitEvent("CHANNEL_DESTROY", "u")
			if tc.resp == "FILE PLAYED" {
				// Nothing was cut short: the call lasted the playback.
				if h := s.event("CHANNEL_HANGUP_COMPLETE", "u"); h.Get("Caller-Channel-Hangup-Time") != usec(testEpoch.Add(5*time.Second)) {
					t.Fatalf("hung up at %s", h.Get("Caller-Channel-Hangup-Time"))
				}
			}
			e := s.event("CHANNEL_EXECUTE_COMPLETE", "u")
			switch {
			case tc.app == "" && e != nil:
				t.Fatalf("%s ran", e.Get("Application"))
			case tc.app != "" && e == nil:
				t.Fatal("no CHANNEL_EXECUTE_COMPLETE")
			case tc.app != "":
				if e.Get("Application") != tc.app || e.Get("Application-Data") != tc.data || e.Get("Application-Response") != tc.resp ||
					e.Var("current_application_response") != tc.resp {
					t.Fatalf("%s(%s) answered %q (variable %q)", e.Get("Application"), e.Get("Application-Data"), e.Get("Application-Response"), e.Var("current_application_response"))
				}
			}
			if h := s.event("CHANNEL_HANGUP_COMPLETE", "u"); h.Get("Hangup-Cause") != tc.cause {
				t.Fatalf("cause %s, want %s", h.Get("Hangup-Cause"), tc.cause)
			}
		})
	}
}

// TestVariablesThatReferToVariables: without origination_nested_vars=true a
// {} value with ${ is refused (CRIT) and the call goes on without it; with
// it the value is stored as written: FreeSWITCH expands it only where it is
// used (an application's argument, a hook), from the variables of then.
func TestVariablesThatReferToVariables(t *testing.T) {
	s := newSession(t, mustScenario(t, filesScenario))
	s.call(t, "plain", "{x=${uuid},y=ok}sofia/gateway/gw/1000 &park()")
	s.call(t, "nested", "{origination_nested_vars=true,x=${uuid}}sofia/gateway/gw/1001 &park()")
	s.clk.Advance(time.Second)
	s.waitEvent("CHANNEL_PARK", "plain")
	s.waitEvent("CHANNEL_PARK", "nested")
	for _, tc := range []struct{ cmd, want string }{
		{"uuid_getvar plain x", "_undef_"},
		{"uuid_getvar plain y", "ok"},
		{"uuid_getvar nested x", "${uuid}"},
	} {
		if got := s.api(tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
