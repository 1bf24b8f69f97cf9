package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// hostileValues would split, end or rewrite a FreeSWITCH command if they
// reached one as they are: line breaks that start a new command, a NUL
// that ends it, braces, commas and quotes of the originate's syntax, a
// blank that splits its arguments, a variable, another leg, a huge value.
var hostileValues = []struct{ name, value string }{
	{"LF", "x\napi hupall MANAGER_REQUEST"},
	{"blank line", "x\n\nbgapi hupall NORMAL_CLEARING"},
	{"CR", "x\rapi global_setvar x=y"},
	{"NUL", "x\x00y"},
	{"brace", "x}sofia/gateway/evil/1"},
	{"comma", "1,sofia/gateway/evil/2"},
	{"quote", "x'y"},
	{"blank", "a b"},
	{"variable", "${hangup_cause}"},
	{"huge", strings.Repeat("9", 5000)},
}

// switchFields are the fields whose values go into switch commands, each
// with where it goes in a body and the values it may take as they are
// (the switch gets them intact).
var switchFields = []struct {
	field    string
	path     string // a campaign field ("campaign.") or a member field ("member.")
	set      func(body map[string]any, v string)
	accepted map[string]bool
}{
	{"resources[0].destinations[0].gwName", "campaign", func(b map[string]any, v string) { destination(b)["gwName"] = v }, nil},
	{"resources[0].destinations[0].dialString", "campaign", func(b map[string]any, v string) { destination(b)["dialString"] = v }, nil},
	{"resources[0].destinations[0].callerIdNumber", "campaign", func(b map[string]any, v string) { destination(b)["callerIdNumber"] = v }, nil},
	{"broadcast.file", "campaign", func(b map[string]any, v string) { b["broadcast"] = map[string]any{"file": v} },
		map[string]bool{"comma": true, "blank": true}},
	{"amd.machineMessage", "campaign", func(b map[string]any, v string) { b["amd"] = map[string]any{"enabled": true, "machineMessage": v} },
		map[string]bool{"comma": true, "blank": true}},
	{"predictive.safeHarborFile", "campaign", func(b map[string]any, v string) { b["predictive"] = map[string]any{"safeHarborFile": v} },
		map[string]bool{"variable": true}}, // ${name} is the switch's variable (sounds_dir)
	{"broadcast.extension", "campaign", func(b map[string]any, v string) { b["broadcast"] = map[string]any{"extension": v} }, nil},
	{"broadcast.dialplan", "campaign", func(b map[string]any, v string) { b["broadcast"] = map[string]any{"extension": "ivr", "dialplan": v} }, nil},
	{"broadcast.context", "campaign", func(b map[string]any, v string) { b["broadcast"] = map[string]any{"extension": "ivr", "context": v} }, nil},
	{"variables.note", "campaign", func(b map[string]any, v string) { b["variables"] = map[string]any{"note": v} },
		map[string]bool{"comma": true, "blank": true}},
	{"communications[0].number", "member", func(b map[string]any, v string) { b["communications"] = []any{map[string]any{"number": v}} }, nil},
	{"variables.note", "member", func(b map[string]any, v string) { b["variables"] = map[string]any{"note": v} },
		map[string]bool{"comma": true, "blank": true}},
	{"contact", "agent", func(b map[string]any, v string) { b["contact"] = v }, nil},
}

func destination(body map[string]any) map[string]any {
	return body["resources"].([]any)[0].(map[string]any)["destinations"].([]any)[0].(map[string]any)
}

func bodyOf(t *testing.T, js string) map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSwitchBoundValuesAreRefused: every field that reaches a switch
// command refuses a value that would change the command, with a 422
// naming it, on create and on update; and the switch's own record shows
// nothing of them ever reached it. Later fields (agents' endpoints,
// webhook URLs) join the table.
func TestSwitchBoundValuesAreRefused(t *testing.T) {
	f := newFixture(t)
	running := f.campaign() // a campaign that dials while hostile edits are refused
	f.do("PUT", "/api/v2/dialer/"+running+"/state/1", "").want(t, 200)
	for _, sf := range switchFields {
		for _, hv := range hostileValues {
			if sf.accepted[hv.name] {
				continue
			}
			name := sf.path + " " + sf.field + " " + hv.name
			switch sf.path {
			case "campaign":
				body := bodyOf(t, minimal)
				sf.set(body, hv.value)
				r := f.do("POST", "/api/v2/dialer", encode(t, body))
				if r.code != 422 {
					t.Errorf("%s: create answered %d %s", name, r.code, r.raw)
					continue
				}
				r.names(t, sf.field)
				if r := f.do("PUT", "/api/v2/dialer/"+running, encode(t, body)); r.code != 422 {
					t.Errorf("%s: update answered %d %s", name, r.code, r.raw)
				}
			case "member":
				body := map[string]any{"name": "m", "communications": []any{map[string]any{"number": "+380441234567"}}}
				sf.set(body, hv.value)
				r := f.do("POST", "/api/v2/dialer/"+running+"/members", encode(t, body))
				if r.code != 422 {
					t.Errorf("%s: answered %d %s", name, r.code, r.raw)
					continue
				}
				r.names(t, sf.field)
			case "agent":
				body := map[string]any{"id": "a1"}
				sf.set(body, hv.value)
				for _, req := range []struct{ method, path string }{{"POST", "/api/v2/callcenter/agent"}, {"PUT", "/api/v2/callcenter/agent/a1"}} {
					if r := f.do(req.method, req.path, encode(t, body)); r.code != 422 {
						t.Errorf("%s: %s answered %d %s", name, req.method, r.code, r.raw)
					} else {
						r.names(t, sf.field)
					}
				}
			}
		}
	}
	for _, c := range f.sw.Commands() {
		line := c.Line + " " + c.Body
		for _, h := range c.Headers {
			line += " " + h.Name + ": " + h.Value
		}
		for _, bad := range []string{"hupall", "global_setvar", "evil", "${hangup_cause}", "9999999999"} {
			if strings.Contains(line, bad) {
				t.Errorf("the switch received %q", line)
			}
		}
	}
}

// TestSwitchGetsValuesIntact: values the switch can be given are sent so
// that it reads them as they were written: the simulator, which parses
// originate as mod_commands and switch_ivr_originate do, plays the very
// file and sets the very variables.
func TestSwitchGetsValuesIntact(t *testing.T) {
	f := newFixture(t)
	const file = "/sounds/tone 440, take (1).wav"
	body := bodyOf(t, minimal)
	body["broadcast"] = map[string]any{"file": file}
	body["variables"] = map[string]any{"campaign_note": "a, b c"}
	id := f.do("POST", "/api/v2/dialer", encode(t, body)).want(t, 200).insertedID(t)
	f.do("POST", "/api/v2/dialer/"+id+"/members", `{"name":"m","communications":[{"number":"+380441234567"}],"variables":{"crm":"x,y z"}}`).want(t, 200)
	f.do("PUT", "/api/v2/dialer/"+id+"/state/1", "").want(t, 200)
	f.runUntil("the message played", 2*time.Minute, func() bool {
		for _, c := range f.sw.Calls() {
			for _, app := range c.Applications {
				if app.Name == "playback" && !app.Completed.IsZero() {
					return true
				}
			}
		}
		return false
	})
	calls := f.sw.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if got := c.Variables["campaign_note"]; got != "a, b c" {
		t.Errorf("campaign variable %q", got)
	}
	if got := c.Variables["crm"]; got != "x,y z" {
		t.Errorf("member variable %q", got)
	}
	if len(c.Applications) == 0 || c.Applications[0].Name != "playback" || c.Applications[0].Arg != file {
		t.Errorf("applications %+v; want playback of %q", c.Applications, file)
	}
	originates := 0
	for _, cmd := range f.sw.Commands() {
		if strings.HasPrefix(cmd.Line, "bgapi originate ") {
			originates++
		}
	}
	if originates != 1 {
		t.Errorf("%d originate commands for one call", originates)
	}
}
