package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// seedCall is seed 004's outgoing call, its placeholders filled in.
var seedCall = strings.NewReplacer(`"Destination number"`, `"+380501112233"`, `"Agent's Extension"`, `"1001"`).Replace(seedBody("004-call.json"))

// TestClickToCallAPI: the seed's request at Webitel's path and at ours
// answers the call's uuid, and the switch rang the agent, then dialed the
// destination; the agent busy, a second request is a 409 naming them;
// what is missing or wrong is a 422 naming the field.
func TestClickToCallAPI(t *testing.T) {
	f := &fixture{t: t, clk: clock.NewFake(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	f.redis = storetest.StartRedis(t)
	f.st = storetest.OpenOn(t, f.redis, 500*time.Millisecond)
	calls := &store.Campaign{Name: "click-to-call", Type: store.TypeProgressive,
		Parameters: store.Parameters{Limit: 10, OriginateTimeout: 30},
		Resources:  []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{{GwName: "gw", DialString: "$1", Enabled: true}}}}}
	if err := f.st.CreateCampaign(t.Context(), calls, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	f.engine = func(c *dialer.Config) { c.CallsCampaign = calls.ID }
	f.agents = "agents: [{extension: \"1001\", answer_delay: 1}]\n"
	f.start()
	f.do("PUT", "/api/v2/dialer/"+calls.ID+"/state/1", "").want(t, 200)
	f.do("POST", "/api/v2/callcenter/agent", `{"id":"olena","contact":"user/1001"}`).want(t, 200)
	f.do("POST", "/api/v2/callcenter/agent/olena/status", `{"status":"Available"}`).want(t, 200)

	var id string
	f.runUntil("the call placed", time.Minute, func() bool {
		r := f.do("POST", "/api/calls", seedCall)
		if r.code == 503 { // the calls campaign is not running yet
			return false
		}
		r.want(t, 200)
		var out struct{ ID string }
		if err := json.Unmarshal([]byte(r.raw), &out); err != nil || out.ID == "" || strings.Contains(r.raw, "status") {
			t.Fatalf("answer %s, want {\"id\": ...}", r.raw)
		}
		id = out.ID
		return true
	})
	f.runUntil("the destination dialed", time.Minute, func() bool {
		for _, c := range f.sw.Calls() {
			if c.UUID == id {
				return true
			}
		}
		return false
	})
	var agentLeg, destLeg bool
	for _, c := range f.sw.Calls() {
		switch {
		case c.Variables["dialer_agent_id"] == "olena" && c.Endpoint == "user/1001" && c.Variables["sip_auto_answer"] == "true":
			agentLeg = true
		case c.UUID == id && c.Destination == "380501112233" && c.Variables["additionalProp1"] == "string":
			destLeg = true
		}
	}
	if !agentLeg || !destLeg {
		t.Fatalf("the switch's calls: agent leg %v, destination leg %v: %+v", agentLeg, destLeg, f.sw.Calls())
	}
	r := f.do("POST", "/api/v2/calls", strings.Replace(seedCall, "+380501112233", "+380501112244", 1)).want(t, 409)
	if !strings.Contains(r.body.Error, "olena") {
		t.Errorf("409 %q does not name the agent", r.body.Error)
	}
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{}`, []string{"destination", "from.extension"}},
		{`{"destination": 5, "from": {"extension": "1001"}}`, []string{"destination"}},
		{`{"destination": "+380501112255", "from": {"extension": "nobody"}}`, []string{"from.extension"}},
		{`{"destination": "+380501112255", "from": {"extension": "1001"}, "params": {"audio": false}}`, []string{"params.audio"}},
		{`{"destination": "+380501112255", "from": {"extension": "1001"}, "params": {"variables": {"a": "x}y"}}}`, []string{"params.variables.a"}},
		{`{"destination": "+380501112255", "from": {"extension": "1001"}, "params": {"variables": {"api_on_answer": "x"}}}`, []string{"params.variables.api_on_answer"}},
	} {
		f.do("POST", "/api/calls", tc.body).want(t, 422).names(t, tc.fields...)
	}
	// Values that would change a switch command never reach one.
	for _, hv := range hostileValues {
		body := bodyOf(t, seedCall)
		body["destination"] = hv.value
		f.do("POST", "/api/calls", encode(t, body)).want(t, 422).names(t, "destination")
		if hv.name == "comma" || hv.name == "blank" {
			continue // a variable's value may have them: the switch gets them intact
		}
		body = bodyOf(t, seedCall)
		body["destination"] = "+380501112266"
		body["params"].(map[string]any)["variables"] = map[string]any{"note": hv.value}
		f.do("POST", "/api/calls", encode(t, body)).want(t, 422).names(t, "params.variables.note")
	}
	for _, cmd := range f.sw.Commands() {
		for _, hv := range hostileValues {
			if hv.name != "variable" && strings.Contains(cmd.Line+cmd.Body, hv.value) { // ${hangup_cause} is the end record's own
				t.Errorf("the switch received %q: %s", hv.name, cmd.Line)
			}
		}
	}
	f.do("POST", "/api/calls", `{"destination":`).want(t, 400)
	f.call("POST", "/api/calls", reader, "", seedCall).want(t, 403)
}
