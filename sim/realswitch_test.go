package sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// What a real FreeSWITCH 1.10.12 does that a naive simulator would not:
// each test holds the simulator to a fact measured on the switch or read
// in its source (docs/simulator.md says where).

// TestShowChannelsLagsTheEvents: a channel is in "show channels" 109-287
// ms after its CHANNEL_CREATE and still there 9-145 ms after its
// CHANNEL_HANGUP_COMPLETE; uuid_exists and uuid_getvar know at once.
func TestShowChannelsLagsTheEvents(t *testing.T) {
	s := newSession(t, mustScenario(t, `
gateways: [{name: gw}]
numbers: [{pattern: "^1", answer: 1, ring: 5, patience: 5}]
`))
	listed := func(uuid string) bool {
		t.Helper()
		all := s.api("show channels as json")
		like := s.api("show channels like " + uuid + " as json")
		if strings.Contains(all, `"uuid":"`+uuid+`"`) != strings.Contains(like, `"uuid":"`+uuid+`"`) {
			t.Fatalf("show channels and show channels like disagree:\n%s\n%s", all, like)
		}
		return strings.Contains(all, `"uuid":"`+uuid+`"`)
	}
	const n = 12
	uuid := func(i int) string { return fmt.Sprintf("lag-%02d", i) }
	for i := 0; i < n; i++ {
		s.bgapi("j"+uuid(i), "originate {origination_uuid="+uuid(i)+",dialer_attempt_id="+uuid(i)+"}sofia/gateway/gw/1"+strconv.Itoa(i)+" &park()")
		s.waitEvent("CHANNEL_CREATE", uuid(i))
		if got := s.api("uuid_exists " + uuid(i)); got != "true" {
			t.Fatalf("uuid_exists right after CHANNEL_CREATE: %q", got)
		}
		if got := s.api("uuid_getvar " + uuid(i) + " dialer_attempt_id"); got != uuid(i) {
			t.Fatalf("uuid_getvar right after CHANNEL_CREATE: %q", got)
		}
	}
	s.clk.Advance(108 * time.Millisecond)
	for i := 0; i < n; i++ {
		if listed(uuid(i)) {
			t.Fatalf("%s listed 108 ms after its CHANNEL_CREATE", uuid(i))
		}
	}
	s.clk.Advance(180 * time.Millisecond) // 288 ms
	out := s.api("show channels as json")
	for i := 0; i < n; i++ {
		if !listed(uuid(i)) {
			t.Fatalf("%s not listed 288 ms after its CHANNEL_CREATE", uuid(i))
		}
	}
	// The rows are the table's: no channel variables; uuid and call_uuid
	// are the origination_uuid.
	if strings.Contains(out, "dialer_attempt_id") || !strings.Contains(out, `"uuid":"lag-00"`) || !strings.Contains(out, `"call_uuid":"lag-00"`) {
		t.Fatalf("rows: %s", out)
	}
	if got := s.api("show channels like nobody as json"); got != "{\"row_count\": 0}\n" {
		t.Fatalf("no match: %q", got)
	}
	s.clk.Advance(4712 * time.Millisecond) // 5 s: answered
	for i := 0; i < n; i++ {
		s.waitEvent("CHANNEL_PARK", uuid(i))
	}
	s.clk.Advance(5 * time.Second) // 10 s: every one hangs up
	for i := 0; i < n; i++ {
		s.waitEvent("CHANNEL_HANGUP_COMPLETE", uuid(i))
		if got := s.api("uuid_exists " + uuid(i)); got != "false" {
			t.Fatalf("uuid_exists after the hangup: %q", got)
		}
	}
	s.clk.Advance(8 * time.Millisecond)
	for i := 0; i < n; i++ {
		if !listed(uuid(i)) {
			t.Fatalf("%s gone 8 ms after its CHANNEL_HANGUP_COMPLETE", uuid(i))
		}
	}
	s.clk.Advance(138 * time.Millisecond) // 146 ms
	for i := 0; i < n; i++ {
		if listed(uuid(i)) {
			t.Fatalf("%s still listed 146 ms after its CHANNEL_HANGUP_COMPLETE", uuid(i))
		}
	}
}

// TestShowChannelsForms: what show_function answers to its other forms.
func TestShowChannelsForms(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "f1", "sofia/gateway/gw/1000 &park()")
	s.call(t, "f2", "sofia/gateway/gw/1001 &park()")
	for _, tc := range []struct{ cmd, want string }{
		{"show channels count", "\n2 total.\n"},
		{"show channels count as json", `{"row_count":2,"rows":[]}`},
		{"show channels like F1 as json", `"uuid":"f1"`}, // LIKE ignores case
		{"show channels like f_ as json", `"row_count":2`},
		{"show channels like %1001 as json", `"uuid":"f2"`},
		{"show channels as xmlish", "-ERR Cannot find format xmlish\n"},
		{"show", showSyntax},
		{"show nonsense", showSyntax},
	} {
		if got := s.api(tc.cmd); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q in it", tc.cmd, got, tc.want)
		}
	}
	if got := s.api("show channels like %1001 as json"); strings.Contains(got, `"uuid":"f1"`) {
		t.Errorf("%%1001 matched f1: %s", got)
	}
}

// hookScenario answers 1..., is busy for 2..., rings out for 3...; the
// answer comes at 1.3 s and the person hangs up 5.02 s later.
const hookScenario = `
gateways: [{name: gw}]
show_channels_lag: 0
numbers:
  - {pattern: "^1", answer: 1, ring: 1.3, patience: 5.02}
  - {pattern: "^2", busy: 1, setup: 0.5}
  - {pattern: "^3", answer: 0}
`

// TestHangupHookStoresTheCallsEnd: api_hangup_hook=db::insert/... with
// origination_nested_vars=true makes the switch write each call's end into
// its own db; without it the ${ value is refused and nothing is written.
func TestHangupHookStoresTheCallsEnd(t *testing.T) {
	const hook = `api_hangup_hook=db::insert/fsdialer/${dialer_attempt_id}/${hangup_cause}:${billmsec}:${answer_uepoch}`
	answered := usec(testEpoch.Add(1300 * time.Millisecond))
	// Answered calls (1...) are parked at 1.3 s and end 5.02 s later.
	for _, tc := range []struct {
		name, vars, number string
		want               string // db select/fsdialer/<uuid> over api
	}{
		{"answered", "origination_nested_vars=true," + hook, "1000", "NORMAL_CLEARING:5020:" + answered},
		{"busy", "origination_nested_vars=true," + hook, "2000", "USER_BUSY:0:0"},
		{"no answer", "origination_nested_vars=true,originate_timeout=5," + hook, "3000", "NO_ANSWER:0:0"},
		{"no nested vars: refused", hook, "1001", "-ERR no reply\n"},
		{"^^: splits the hook at its colons", "^^:origination_nested_vars=true:" + hook, "1002", "-ERR no reply\n"},
		{"an escaped comma", `origination_nested_vars=true,api_hangup_hook=db::insert/fsdialer/${dialer_attempt_id}/a\,b`, "1003", "a,b"},
		{"^^; keeps commas", `^^;origination_nested_vars=true;api_hangup_hook=db::insert/fsdialer/${dialer_attempt_id}/a,b`, "1004", "a,b"},
		{"the reporting hook", "origination_nested_vars=true,api_reporting_hook=db::insert/fsdialer/${dialer_attempt_id}/${hangup_cause}", "1005", "NORMAL_CLEARING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, mustScenario(t, hookScenario))
			u := "call-" + tc.number
			sep := ","
			if strings.HasPrefix(tc.vars, "^^") {
				sep = tc.vars[2:3]
			}
			s.bgapi("job", "originate {"+tc.vars+sep+"origination_uuid="+u+sep+"dialer_attempt_id="+u+"}sofia/gateway/gw/"+tc.number+" &park()")
			s.waitEvent("CHANNEL_CREATE", u)
			if tc.number[0] == '1' {
				s.clk.Advance(1300 * time.Millisecond)
				s.waitEvent("CHANNEL_PARK", u)
			}
			s.clk.Advance(6 * time.Second)
			s.waitEvent("CHANNEL_HANGUP_COMPLETE", u)
			// Written before CHANNEL_HANGUP_COMPLETE: whoever sees it can read.
			if got := s.api("db select/fsdialer/" + u); got != tc.want {
				t.Fatalf("db select: %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHangupHookWithoutAClient: the hook runs when no event socket client
// is connected, and the db is the switch's: it outlives connections.
func TestHangupHookWithoutAClient(t *testing.T) {
	s := newSession(t, mustScenario(t, hookScenario))
	s.sw.Server().DropConnections()
	deadline := time.Now().Add(5 * time.Second)
	for s.sw.Server().Listeners() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan string, 1)
	go func() {
		out, then := s.sw.API(context.Background(), "originate", "{origination_nested_vars=true,origination_uuid=alone,api_hangup_hook=hash::insert/fsdialer/${uuid}/${hangup_cause}:${billsec}}sofia/gateway/gw/2000 &park()")
		if then != nil {
			then()
		}
		done <- out
	}()
	for len(done) == 0 && time.Now().Before(deadline) {
		s.clk.Advance(100 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	if out := <-done; out != "-ERR USER_BUSY\n" {
		t.Fatalf("originate: %q", out)
	}
	conn, err := esl.Dial(context.Background(), s.addr, esl.Config{Password: "ClueCon"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct{ cmd, want string }{
		{"hash select/fsdialer/alone", "USER_BUSY:0"},
		{"hash delete/fsdialer/alone", "+OK\n"},
		{"hash select/fsdialer/alone", "-ERR no reply\n"},
		{"hash delete/fsdialer/alone", "-ERR Not found\n"},
	} {
		if got, _ := conn.API(context.Background(), tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	if h := s.sw.Calls()[0].Hooks; len(h) != 1 || h[0].Command != "hash insert/fsdialer/alone/USER_BUSY:0" || h[0].Output != "+OK\n" {
		t.Fatalf("hooks %+v", h)
	}
}

// TestDBAndHashAPI: mod_db's and mod_hash's answers, word for word.
func TestDBAndHashAPI(t *testing.T) {
	s := newSession(t, mustScenario(t, ""))
	for _, tc := range []struct{ cmd, want string }{
		{"db select/r/k", "-ERR no reply\n"}, // an empty answer, which the event socket replaces
		{"db exists/r/k", "false"},
		{"db insert/r/k/v/with/slashes", "+OK"},
		{"db select/r/k", "v/with/slashes"},
		{"db exists/r/k", "true"},
		{"db insert/r/k2/x", "+OK"},
		{"db insert/s/k/y", "+OK"},
		{"db count", "2"},
		{"db count/r", "2"},
		{"db list", "r,s"},
		{"db list/r", "k,k2"},
		{"db delete/r/k", "+OK"},
		{"db delete/r/k", "+OK"}, // deleting nothing is fine
		{"db select/r/k", "-ERR no reply\n"},
		{"db insert/r/k", "!err!"},
		{"db select/r", "!err!"},
		{"db frob/r/k", "!err!"},
		{"db", "!err!"},
		{"hash insert/r/k/v", "+OK\n"},
		{"hash insert_ifempty/r/k/w", "-ERR key already exists\n"},
		{"hash select/r/k", "v"},
		{"hash select/r_k/", "-ERR Usage: hash insert|insert_ifempty|select|delete|delete_ifmatch/realm/key[/value]\n"},
		{"hash select/R/k", "-ERR no reply\n"}, // keys are case-sensitive
		{"hash delete_ifmatch/r/k/w", "-ERR Doesn't match\n"},
		{"hash delete_ifmatch/r/k/v", "+OK\n"},
		{"hash delete/r/k", "-ERR Not found\n"},
		{"hash insert/a_b/c/1", "+OK\n"},
		{"hash select/a/b_c", "1"}, // realm_key: the two meet
		{"hash", "-ERR Usage: hash insert|insert_ifempty|select|delete|delete_ifmatch/realm/key[/value]\n"},
	} {
		if got := s.api(tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// TestSessionsPerSecond: past sessions-per-second a new channel is refused
// at once with DESTINATION_OUT_OF_ORDER and never exists; the budget comes
// back with the next second of uptime. 29 of 30 get through.
func TestSessionsPerSecond(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  string
		placed int // of 40 in one second
	}{
		{"the default, 30", "", 29},
		{"5", "sessions_per_second: 5\n", 4},
		{"0: no limit", "sessions_per_second: 0\n", 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, mustScenario(t, tc.limit+"gateways: [{name: gw}]\nshow_channels_lag: 0\n"))
			throttled := 0
			for i := 0; i < 40; i++ {
				if out := s.api(fmt.Sprintf("originate {origination_uuid=t%d}sofia/gateway/nosuch/%d &park()", i, i)); out == "-ERR DESTINATION_OUT_OF_ORDER\n" {
					throttled++
				} else if out != "-ERR INVALID_GATEWAY\n" {
					t.Fatalf("originate %d: %q", i, out)
				}
			}
			if placed := 40 - throttled; placed != tc.placed {
				t.Fatalf("%d sessions made, want %d", placed, tc.placed)
			}
			if calls := s.sw.Calls(); len(calls) != tc.placed {
				t.Fatalf("the ledger has %d channels", len(calls))
			}
			s.clk.Advance(time.Second)
			if out := s.api("originate sofia/gateway/nosuch/1 &park()"); out != "-ERR INVALID_GATEWAY\n" {
				t.Fatalf("the next second: %q", out)
			}
		})
	}
}

// TestBillsecIsWholeSeconds: billsec is end_epoch - answer_epoch in whole
// epoch seconds, billmsec in whole milliseconds (switch_channel_set_
// timestamps): two calls of 8.5 s bill 9 and 8 s.
func TestBillsecIsWholeSeconds(t *testing.T) {
	s := newSession(t, mustScenario(t, `
gateways: [{name: gw}]
show_channels_lag: 0
numbers:
  - {pattern: "^1", answer: 1, ring: 0.75, patience: 8.5}
  - {pattern: "^2", answer: 1, ring: 0.25, patience: 8.5}
  - {pattern: "^3", answer: 1, ring: 0.75, patience: 1.5}
  - {pattern: "^4", answer: 1, ring: 0.25, patience: 0.5}
`))
	cases := []struct {
		number                                       string
		billsec, billmsec, duration, flow, answersec string
	}{
		{"1000", "9", "8500", "9", "9", "0"},
		{"2000", "8", "8500", "8", "8", "0"},
		{"3000", "2", "1500", "2", "2", "0"},
		{"4000", "0", "500", "0", "0", "0"},
	}
	for _, tc := range cases {
		s.call(t, "b"+tc.number, "sofia/gateway/gw/"+tc.number+" &park()")
	}
	// Each waits in silence from its answer: park before the clock moves on.
	s.clk.Advance(250 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", "b2000")
	s.waitEvent("CHANNEL_PARK", "b4000")
	s.clk.Advance(500 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", "b1000")
	s.waitEvent("CHANNEL_PARK", "b3000")
	s.clk.Advance(10 * time.Second)
	for i, tc := range cases {
		u := "b" + tc.number
		s.waitEvent("CHANNEL_DESTROY", u)
		for _, name := range []string{"CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"} {
			e := s.event(name, u)
			if e.Var("billsec") != tc.billsec || e.Var("billmsec") != tc.billmsec || e.Var("duration") != tc.duration ||
				e.Var("flow_billsec") != tc.flow || e.Var("answersec") != tc.answersec || e.Var("waitsec") != "0" {
				t.Errorf("%s %s: billsec %s billmsec %s duration %s flow_billsec %s answersec %s waitsec %s", u, name,
					e.Var("billsec"), e.Var("billmsec"), e.Var("duration"), e.Var("flow_billsec"), e.Var("answersec"), e.Var("waitsec"))
			}
		}
		if c := s.sw.Calls()[i]; strconv.FormatInt(c.Billsec, 10) != tc.billsec || strconv.FormatInt(c.Billmsec, 10) != tc.billmsec {
			t.Errorf("%s: the ledger has billsec %d billmsec %d", u, c.Billsec, c.Billmsec)
		}
	}
}

// TestBackgroundJobComesWithTheOutcome: the BACKGROUND_JOB of a bgapi
// originate comes when the originate is over: at the answer, or at the
// failure, for a busy number after CHANNEL_HANGUP_COMPLETE, for one that
// rang out before it (as the captures show).
func TestBackgroundJobComesWithTheOutcome(t *testing.T) {
	for _, tc := range []struct {
		name, dial string
		before     time.Duration // nothing is over yet
		after      time.Duration
		want       string // events of the call and its job, in order
	}{
		{"answered", "sofia/gateway/gw/1000 &park()", 2999 * time.Millisecond, time.Millisecond,
			"CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_ANSWER BACKGROUND_JOB CHANNEL_EXECUTE CHANNEL_PARK"},
		{"busy", "sofia/gateway/gw/2000 &park()", 499 * time.Millisecond, time.Millisecond,
			"CHANNEL_CREATE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB CHANNEL_DESTROY"},
		{"no answer", "sofia/gateway/gw/6000 &park()", 19999 * time.Millisecond, time.Millisecond,
			"CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_HANGUP BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY"},
		{"unknown gateway", "sofia/gateway/nosuch/1000 &park()", 0, 0,
			"CHANNEL_DESTROY BACKGROUND_JOB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, mustScenario(t, behaviourScenario))
			job := s.bgapi("job", "originate {origination_uuid=u,originate_timeout=20}"+tc.dial)
			if tc.before > 0 {
				s.waitEvent("CHANNEL_CREATE", "u")
				s.clk.Advance(tc.before)
				select {
				case <-job.Done():
					t.Fatal("BACKGROUND_JOB before the outcome")
				default:
				}
				s.clk.Advance(tc.after)
			}
			<-job.Done()
			last, id := strings.Fields(tc.want), "u"
			if last[len(last)-1] == "BACKGROUND_JOB" {
				id = "job"
			}
			s.waitEvent(last[len(last)-1], id)
			var got []string
			for _, e := range s.of("u", "job") {
				got = append(got, e.Name())
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("events %v\nwant   %s", got, tc.want)
			}
		})
	}
}
