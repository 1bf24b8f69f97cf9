package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/store"
)

// hostile are values that would split, end or rewrite a FreeSWITCH command
// if they reached one unchecked.
var hostile = map[string]string{
	"LF":            "x\napi hupall MANAGER_REQUEST",
	"blank line":    "x\n\nbgapi hupall NORMAL_CLEARING",
	"CR":            "x\rapi global_setvar x=y",
	"NUL":           "x\x00y",
	"brace":         "x}sofia/gateway/evil/1",
	"comma":         "1,sofia/gateway/evil/2",
	"quote":         "x'y",
	"blank":         "a b",
	"tab":           "a\tb",
	"variable":      "${hangup_cause}",
	"pipe":          "1|sofia/gateway/evil/2",
	"application":   "&system(rm)",
	"over the size": strings.Repeat("9", 5000),
}

// fieldCase sets one field of a valid campaign, member or agent.
type fieldCase struct {
	field    string
	set      func(v string) error // builds, sets and validates
	accepted []string             // hostile-looking values this field takes as they are
}

func campaignWith(set func(c *store.Campaign)) error {
	c := sampleCampaign()
	set(c)
	c.Normalize()
	return c.Validate()
}

func memberWith(set func(m *store.Member)) error {
	m := &store.Member{Name: "m", Communications: []store.Communication{{Number: "+380441234567"}}}
	set(m)
	m.Normalize()
	return m.Validate()
}

// Every field whose value reaches a switch command refuses what would
// change the command, naming the field, and takes the values the switch
// can be given intact.
func TestSwitchBoundFieldsRefuseHostileValues(t *testing.T) {
	cases := []fieldCase{
		{field: "resources[0].destinations[0].gwName", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Resources[0].Destinations[0].GwName = v })
		}},
		{field: "resources[0].destinations[0].dialString", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Resources[0].Destinations[0].DialString = v })
		}},
		{field: "broadcast.file", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Broadcast.File = v })
		}, accepted: []string{"comma", "blank", "pipe", "application"}},
		{field: "broadcast.extension", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Broadcast.Extension = v })
		}},
		{field: "broadcast.dialplan", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Broadcast.Dialplan = v })
		}},
		{field: "broadcast.context", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Broadcast.Context = v })
		}},
		{field: "resources[0].destinations[0].callerIdNumber", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Resources[0].Destinations[0].CallerIDNumber = v })
		}},
		{field: "variables.note", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Variables = map[string]any{"note": v} })
		}, accepted: []string{"comma", "blank", "pipe", "application"}},
		{field: "variables.note", set: func(v string) error {
			return memberWith(func(m *store.Member) { m.Variables = map[string]any{"note": v} })
		}, accepted: []string{"comma", "blank", "pipe", "application"}},
		{field: "communications[0].number", set: func(v string) error {
			return memberWith(func(m *store.Member) { m.Communications[0].Number = v })
		}},
		{field: "contact", set: func(v string) error {
			a := &store.Agent{ID: "100", Contact: v}
			a.Normalize()
			return a.Validate()
		}},
		{field: "name", set: func(v string) error {
			return campaignWith(func(c *store.Campaign) { c.Name = v })
		}, accepted: []string{"brace", "comma", "quote", "blank", "variable", "pipe", "application"}},
	}
	for _, fc := range cases {
		for kind, value := range hostile {
			err := fc.set(value)
			wantAccepted := false
			for _, a := range fc.accepted {
				wantAccepted = wantAccepted || a == kind
			}
			named := fieldNamed(err, fc.field)
			if wantAccepted && err != nil {
				t.Errorf("%s = %s (%q): refused, want accepted: %v", fc.field, kind, value, err)
			}
			if !wantAccepted && !named {
				t.Errorf("%s = %s (%q): %v; want a 422 naming %s", fc.field, kind, value, err, fc.field)
			}
		}
	}
}

func fieldNamed(err error, field string) bool {
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, f := range ve.Errors {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Variables that make FreeSWITCH run commands are refused, in any case.
func TestCommandRunningVariablesAreRefused(t *testing.T) {
	for _, name := range []string{"api_on_answer", "API_HANGUP_HOOK", "execute_on_answer", "exec_after_bridge_app",
		"session_in_hangup_hook", "record_post_process_exec_api", "bridge_pre_execute_bleg_app", "my_custom_hook",
		"origination_caller_id_name", "dialer_attempt_id"} {
		err := memberWith(func(m *store.Member) { m.Variables = map[string]any{name: "x"} })
		if !fieldNamed(err, "variables."+name) {
			t.Errorf("variable %s: %v; want refused", name, err)
		}
	}
	if err := memberWith(func(m *store.Member) { m.Variables = map[string]any{"crm_id": "42", "sip_h_X_Crm": "a b, c"} }); err != nil {
		t.Errorf("ordinary variables refused: %v", err)
	}
}

// Values the switch takes intact are accepted: a file with blanks, commas
// and parentheses, a tone stream, a dial string with its group.
func TestSwitchBoundFieldsAcceptOrdinaryValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *store.Campaign)
	}{
		{"file with a blank", func(c *store.Campaign) { c.Broadcast.File = "/sounds/tone 440.wav" }},
		{"file with parentheses", func(c *store.Campaign) { c.Broadcast.File = "/sounds/tone(1).wav" }},
		{"tone stream", func(c *store.Campaign) { c.Broadcast.File = "tone_stream://%(1000,0,440);%(500,0,350)" }},
		{"dial string with a prefix and group", func(c *store.Campaign) { c.Resources[0].Destinations[0].DialString = "0$1" }},
		{"dial string with a host", func(c *store.Campaign) {
			c.Resources[0].Destinations[0].DialString = "$1@sip.example.com;transport=tcp"
		}},
		{"extension", func(c *store.Campaign) {
			c.Broadcast = store.Broadcast{Extension: "ivr_1000", Dialplan: "XML", Context: "public"}
		}},
		{"gateway with dots", func(c *store.Campaign) { c.Resources[0].Destinations[0].GwName = "carrier-1.example.com" }},
		{"caller id with punctuation", func(c *store.Campaign) {
			c.Resources[0].Destinations[0].CallerIDNumber = "+38 (044) 123-45-67"
		}},
	} {
		if err := campaignWith(tc.set); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// A compliance profile refuses the settings its regulator forbids, naming
// the field; "none" and no profile refuse nothing of the kind.
func TestComplianceProfiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(c *store.Campaign)
		field   string // "" when the campaign is valid
		message string
	}{
		{"us, defaults", func(c *store.Campaign) { c.Compliance = "US" }, "", ""},
		{"us, short ring", func(c *store.Campaign) { c.Compliance = "us"; c.Parameters.OriginateTimeout = 10 },
			"parameters.originateTimeout", "at least 15 seconds under the US profile"},
		{"uk, slow connect", func(c *store.Campaign) { c.Compliance = "uk"; c.Predictive.ConnectThreshold = 2.5 },
			"predictive.connectThreshold", "at most 2 seconds under the UK profile"},
		{"uk, short lock-out", func(c *store.Campaign) { c.Compliance = "uk"; c.Predictive.AbandonLockoutHours = 24 },
			"predictive.abandonLockoutHours", "at least 72 hours"},
		{"us, high ceiling", func(c *store.Campaign) {
			c.Compliance = "us"
			c.Parameters.TargetPredictiveSilentCalls, c.Parameters.MaxPredictiveSilentCalls = 4, 5
		}, "parameters.maxPredictiveSilentCalls", "at most 3 under the US profile"},
		{"uk, AMD without its false-positive estimate", func(c *store.Campaign) { c.Compliance = "uk"; c.AMD.Enabled = true },
			"amd.falseMachineRate", "is required with AMD under the UK profile"},
		{"uk, AMD with its estimate", func(c *store.Campaign) { c.Compliance = "uk"; c.AMD = store.AMD{Enabled: true, FalseMachineRate: 5} }, "", ""},
		{"none, short ring", func(c *store.Campaign) { c.Compliance = "none"; c.Parameters.OriginateTimeout = 10 }, "", ""},
		{"unknown profile", func(c *store.Campaign) { c.Compliance = "eu" }, "compliance", `"eu" is not one of`},
		{"negative threshold", func(c *store.Campaign) { c.Predictive.ConnectThreshold = -1 }, "predictive.connectThreshold", "between 0"},
		{"safe harbor with a variable", func(c *store.Campaign) { c.Predictive.SafeHarborFile = "${sounds_dir}/sorry.wav" }, "", ""},
		{"safe harbor with a comma", func(c *store.Campaign) { c.Predictive.SafeHarborFile = "/s/a,hangup" },
			"predictive.safeHarborFile", "',' is not allowed"},
		{"safe harbor calling an api", func(c *store.Campaign) { c.Predictive.SafeHarborFile = "${system(reboot)}" },
			"predictive.safeHarborFile", "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &store.Campaign{Name: "p", Type: store.TypePredictive,
				Parameters: store.Parameters{Limit: 10, OriginateTimeout: 30},
				Resources:  []store.Resource{{DialledNumber: `^\d+$`, Destinations: []store.Destination{{GwName: "gw", DialString: "$1"}}}}}
			tc.edit(c)
			c.Normalize()
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %v, want %s: ...%s...", err, tc.field, tc.message)
			}
		})
	}
}
