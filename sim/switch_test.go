package sim

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
)

const behaviourScenario = `
seed: 11
show_channels_lag: 0   # these tests read show channels right after events
gateways:
  - {name: gw}
  - {name: small, capacity: 2}
  - {name: slow, cps: 2}
  - {name: broken, down: true}
agents:
  - {extension: "1000", answer_delay: {mean: 2}}
  - {extension: "1001", answer: 0}
  - {extension: "1002", unregistered: true}
extensions:
  ivr: {duration: {mean: 7}}
playback: {mean: 4}
amd: {delay: {mean: 2}}
numbers:
  - {pattern: "^1", answer: 1, ring: {mean: 3}, patience: {mean: 5}, talk: {mean: 30}}
  - {pattern: "^2", busy: 1, setup: {mean: 0.5}}
  - {pattern: "^3", reject: 1, setup: {mean: 0.5}}
  - {pattern: "^4", invalid: 1, setup: {mean: 0.5}}
  - {pattern: "^5", temp_fail: 1, setup: {mean: 0.5}}
  - {pattern: "^6", answer: 0}
  - {pattern: "^7", answer: 1, machine: 1, ring: {mean: 1}, machine_talk: {mean: 20}}
  - {pattern: "^8", answer: 1, early_media: 1, ring: {mean: 3}, patience: {mean: 60}}
  - {pattern: "^9", answer: 1, ring: {mean: 1}, patience: {mean: 60}, talk: {mean: 2}}
`

// call places one originate and returns its job, after the channel exists.
func (s *session) call(t *testing.T, uuid, dial string) *esl.Job {
	t.Helper()
	job := s.bgapi("job-"+uuid, "originate {origination_uuid="+uuid+",originate_timeout=20}"+dial)
	s.waitEvent("CHANNEL_CREATE", uuid)
	return job
}

func (s *session) event(name, uuid string) *esl.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.Name() == name && e.UniqueID() == uuid {
			return e
		}
	}
	return nil
}

func TestOutcomesByNumber(t *testing.T) {
	for _, tc := range []struct {
		number, result, cause, sip string
		after                      time.Duration
	}{
		{"2000", "-ERR USER_BUSY\n", "USER_BUSY", "486", 500 * time.Millisecond},
		{"3000", "-ERR CALL_REJECTED\n", "CALL_REJECTED", "603", 500 * time.Millisecond},
		{"4000", "-ERR UNALLOCATED_NUMBER\n", "UNALLOCATED_NUMBER", "404", 500 * time.Millisecond},
		{"5000", "-ERR NORMAL_TEMPORARY_FAILURE\n", "NORMAL_TEMPORARY_FAILURE", "503", 500 * time.Millisecond},
		{"6000", "-ERR NO_ANSWER\n", "NO_ANSWER", "", 20 * time.Second},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			s := newSession(t, mustScenario(t, behaviourScenario))
			u := esl.NewUUID()
			job := s.call(t, u, "sofia/gateway/gw/"+tc.number+" &park()")
			s.clk.Advance(tc.after - time.Millisecond)
			if s.sw.Channels() != 1 {
				t.Fatal("hung up before its time")
			}
			s.clk.Advance(time.Millisecond)
			s.waitEvent("CHANNEL_DESTROY", u)
			if out, _ := job.Wait(context.Background()); out != tc.result {
				t.Fatalf("result %q, want %q", out, tc.result)
			}
			h := s.event("CHANNEL_HANGUP_COMPLETE", u)
			if h.Get("Hangup-Cause") != tc.cause || h.Var("sip_term_status") != tc.sip || h.Var("billsec") != "0" {
				t.Fatalf("cause %s sip %s billsec %s", h.Get("Hangup-Cause"), h.Var("sip_term_status"), h.Var("billsec"))
			}
		})
	}
}

func TestCallsRefusedBeforeAChannelExists(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	for _, tc := range []struct{ dial, want string }{
		{"sofia/gateway/nosuch/1000 &park()", "-ERR INVALID_GATEWAY\n"},
		{"sofia/gateway/broken/1000 &park()", "-ERR GATEWAY_DOWN\n"},
		{"sofia/noprofile/1000@host &park()", "-ERR INVALID_PROFILE\n"},
		{"user/9999 &park()", "-ERR SUBSCRIBER_ABSENT\n"},
		{"user/1002 &park()", "-ERR USER_NOT_REGISTERED\n"},
		{"error/user_busy &park()", "-ERR USER_BUSY\n"},
		{"pigeon/1000 &park()", "-ERR CHAN_NOT_IMPLEMENTED\n"},
		{"loopback/nowhere &park()", "-ERR NO_ROUTE_DESTINATION\n"},
	} {
		out := s.api("originate " + tc.dial)
		if out != tc.want {
			t.Errorf("%s: %q, want %q", tc.dial, out, tc.want)
		}
	}
	if out := s.api("originate sofia/gateway/gw/1000"); !strings.HasPrefix(out, "-USAGE") {
		t.Errorf("originate without an application: %q", out)
	}
	if s.sw.Channels() != 0 {
		t.Fatalf("%d channels left", s.sw.Channels())
	}
}

func TestAnsweredSubscriberWaitsThenHangsUp(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	u := esl.NewUUID()
	job := s.call(t, u, "sofia/gateway/gw/1000 &park()")
	s.clk.Advance(3 * time.Second)
	if out, err := job.Wait(context.Background()); err != nil || out != "+OK "+u+"\n" {
		t.Fatalf("job %q %v", out, err)
	}
	s.waitEvent("CHANNEL_PARK", u)
	s.clk.Advance(5 * time.Second) // patience: nobody speaks
	s.waitEvent("CHANNEL_DESTROY", u)
	h := s.event("CHANNEL_HANGUP_COMPLETE", u)
	if h.Var("billsec") != "5" || h.Var("duration") != "8" || h.Get("Hangup-Cause") != "NORMAL_CLEARING" {
		t.Fatalf("billsec %s duration %s cause %s", h.Var("billsec"), h.Var("duration"), h.Get("Hangup-Cause"))
	}
}

func TestGatewayCapacityAndCallsPerSecond(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	// small: two calls at once; the third is refused with 503.
	var jobs []*esl.Job
	for i := 0; i < 3; i++ {
		jobs = append(jobs, s.call(t, fmt.Sprintf("cap-%d", i), "sofia/gateway/small/1000 &park()"))
	}
	s.clk.Advance(3 * time.Second)
	for i, want := range []string{"+OK cap-0\n", "+OK cap-1\n", "-ERR NORMAL_CIRCUIT_CONGESTION\n"} {
		if out, _ := jobs[i].Wait(context.Background()); out != want {
			t.Fatalf("call %d: %q, want %q", i, out, want)
		}
	}
	// slow: two new calls a second.
	jobs = nil
	for i := 0; i < 3; i++ {
		jobs = append(jobs, s.call(t, fmt.Sprintf("cps-%d", i), "sofia/gateway/slow/2000 &park()"))
	}
	s.clk.Advance(time.Second)
	jobs = append(jobs, s.call(t, "cps-3", "sofia/gateway/slow/2000 &park()"))
	s.clk.Advance(time.Second)
	for i, want := range []string{"USER_BUSY", "USER_BUSY", "NORMAL_CIRCUIT_CONGESTION", "USER_BUSY"} {
		if out, _ := jobs[i].Wait(context.Background()); out != "-ERR "+want+"\n" {
			t.Fatalf("cps call %d: %q, want %s", i, out, want)
		}
	}
}

func TestEarlyMediaWithoutIgnoreEarlyMediaSucceedsTooSoon(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	naive := s.bgapi("naive", "originate {origination_uuid=early-1}sofia/gateway/gw/8000 &park()")
	careful := s.bgapi("careful", "originate {origination_uuid=early-2,ignore_early_media=true}sofia/gateway/gw/8001 &park()")
	s.waitEvent("CHANNEL_PROGRESS_MEDIA", "early-1")
	s.waitEvent("CHANNEL_PROGRESS_MEDIA", "early-2")
	s.waitEvent("BACKGROUND_JOB", "naive")
	if out, _ := naive.Result(); out != "+OK early-1\n" {
		t.Fatalf("naive originate: %q", out)
	}
	select {
	case <-careful.Done():
		t.Fatal("ignore_early_media=true returned before the answer")
	default:
	}
	s.clk.Advance(3 * time.Second)
	if out, _ := careful.Wait(context.Background()); out != "+OK early-2\n" {
		t.Fatalf("careful originate: %q", out)
	}
	s.waitEvent("CHANNEL_ANSWER", "early-1")
}

func TestAMDJudgesHumansAndMachines(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	for _, tc := range []struct{ uuid, number, want string }{{"amd-h", "1000", "HUMAN"}, {"amd-m", "7000", "MACHINE"}} {
		job := s.bgapi("job-"+tc.uuid, "originate {origination_uuid="+tc.uuid+",execute_on_answer=amd}sofia/gateway/gw/"+tc.number+" &park()")
		s.waitEvent("CHANNEL_CREATE", tc.uuid)
		s.clk.Advance(3 * time.Second)
		if _, err := job.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.waitEvent("CHANNEL_EXECUTE", tc.uuid)
		s.clk.Advance(2 * time.Second)
		s.wait("amd verdict", func(evs []*esl.Event) bool {
			for _, e := range evs {
				if e.Name() == "CHANNEL_EXECUTE_COMPLETE" && e.UniqueID() == tc.uuid && e.Get("Application") == "amd" {
					if got := e.Var("amd_result"); got != tc.want {
						t.Fatalf("%s: amd_result %q, want %q", tc.number, got, tc.want)
					}
					return e.Var("amd_cause") != ""
				}
			}
			return false
		})
		s.waitEvent("CHANNEL_PARK", tc.uuid)
	}
}

// An answer with no audio gets no verdict from amd, ever: the application
// runs until the call is bridged, transferred or hung up.
func TestAMDWithoutAudioNeverDecides(t *testing.T) {
	s := newSession(t, mustScenario(t, strings.Replace(behaviourScenario, "amd: {delay: {mean: 2}}", "amd: {delay: {mean: 2}, no_verdict: 1}", 1)))
	s.call(t, "quiet", "{execute_on_answer=amd}sofia/gateway/gw/1000 &park()")
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_ANSWER", "quiet")
	s.waitEvent("CHANNEL_EXECUTE", "quiet")
	s.clk.Advance(time.Minute)
	time.Sleep(20 * time.Millisecond)
	for _, e := range s.of("quiet") {
		if e.Name() == "CHANNEL_EXECUTE_COMPLETE" {
			t.Fatalf("amd completed after a minute without audio: %s", e.Var("amd_result"))
		}
	}
	if out := s.api("uuid_transfer quiet playback:/s.wav,hangup inline"); out != "+OK\n" {
		t.Fatalf("transfer: %q", out)
	}
	s.clk.Advance(10 * time.Second)
	s.waitEvent("CHANNEL_HANGUP_COMPLETE", "quiet")
	if c := s.sw.Ledger().Calls[0]; c.AMDResult != "" || c.Applications[0].Name != "amd" || c.Applications[0].Completed.IsZero() {
		t.Fatalf("ledger: verdict %q, applications %+v", c.AMDResult, c.Applications)
	}
}

func TestAgentsAnswerOrRingOut(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	answers := s.call(t, "agent-a", "user/1000 &park()")
	rings := s.call(t, "agent-b", "user/1001 &park()")
	s.clk.Advance(2 * time.Second)
	if out, _ := answers.Wait(context.Background()); out != "+OK agent-a\n" {
		t.Fatalf("agent 1000: %q", out)
	}
	s.clk.Advance(18 * time.Second)
	if out, _ := rings.Wait(context.Background()); out != "-ERR NO_ANSWER\n" {
		t.Fatalf("agent 1001: %q", out)
	}
}

func TestBridgedSubscriberTalksThenBothLegsEnd(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "member", "sofia/gateway/gw/9000 &park()")
	s.call(t, "agent", "user/1000 &park()")
	s.clk.Advance(2 * time.Second)
	s.waitEvent("CHANNEL_PARK", "member")
	s.waitEvent("CHANNEL_PARK", "agent")
	if out := s.api("uuid_bridge member agent"); out != "+OK agent\n" {
		t.Fatalf("uuid_bridge: %q", out)
	}
	calls := s.api("show calls as json")
	if !strings.Contains(calls, `"row_count":1`) || !strings.Contains(calls, `"b_uuid":"agent"`) {
		t.Fatalf("show calls: %s", calls)
	}
	s.clk.Advance(2 * time.Second) // the member's talk time
	s.waitEvent("CHANNEL_DESTROY", "member")
	s.waitEvent("CHANNEL_DESTROY", "agent")
	if got := s.api("show calls as json"); got != "{\"row_count\": 0}\n" {
		t.Fatalf("show calls after: %q", got)
	}
	if h := s.event("CHANNEL_HANGUP_COMPLETE", "member"); h.Var("billsec") != "3" || h.Var("bridge_epoch") == "0" {
		t.Fatalf("member billsec %s bridge_epoch %s", h.Var("billsec"), h.Var("bridge_epoch"))
	}
}

// TestParkAfterBridgeKeepsTheAgent: an agent's leg with
// park_after_bridge=true parks again when the member it was bridged to
// hangs up (the park before the member's unbridge, no hangup of its own),
// and takes the next member the same way; the ledger has both bridges,
// one after the other.
func TestParkAfterBridgeKeepsTheAgent(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.bgapi("job-agent", "originate {origination_uuid=agent,park_after_bridge=true,originate_timeout=20}user/1000 &park()")
	s.waitEvent("CHANNEL_CREATE", "agent")
	for i, member := range []string{"member1", "member2"} {
		s.call(t, member, "sofia/gateway/gw/900"+strconv.Itoa(i)+" &park()")
		s.clk.Advance(2 * time.Second)
		s.waitEvent("CHANNEL_PARK", member)
		s.waitEvent("CHANNEL_PARK", "agent")
		if out := s.api("uuid_bridge " + member + " agent"); out != "+OK agent\n" {
			t.Fatalf("uuid_bridge %s: %q", member, out)
		}
		s.clk.Advance(2 * time.Second) // the member's talk time
		s.waitEvent("CHANNEL_DESTROY", member)
		s.wait("the agent parked again", func([]*esl.Event) bool {
			return strings.Count(s.names("agent"), "CHANNEL_PARK") == i+2
		})
	}
	if e := s.event("CHANNEL_HANGUP", "agent"); e != nil {
		t.Fatalf("the agent's leg hung up: %s", e.Get("Hangup-Cause"))
	}
	all := s.names("")
	park := strings.LastIndex(all, "CHANNEL_PARK agent")
	if unbridge := strings.LastIndex(all, "CHANNEL_UNBRIDGE member2"); park < 0 || unbridge < park {
		t.Errorf("the agent's park and the member's unbridge, in that order:\n%s", all)
	}
	if got := s.names("agent"); strings.Count(got, "CHANNEL_EXECUTE_COMPLETE") != 1 || strings.Count(got, "CHANNEL_UNPARK") != 2 {
		t.Errorf("the first park is the application's, the second the state's (no EXECUTE_COMPLETE):\n%s", got)
	}
	led := s.sw.Ledger()
	var agent CallRecord
	for _, c := range led.Calls {
		if c.UUID == "agent" {
			agent = c
		}
	}
	if len(agent.Bridges) != 2 || agent.Bridges[0].Other != "member1" || agent.Bridges[1].Other != "member2" ||
		agent.Bridges[0].UntilSeq == 0 || agent.Bridges[1].UntilSeq == 0 || agent.HungUpSeq != 0 {
		t.Fatalf("the agent's record: %+v", agent)
	}
	if o := led.BridgeOverlaps(); o != nil {
		t.Fatalf("bridge overlaps: %v", o)
	}
	s.api("uuid_kill agent")
	s.waitEvent("CHANNEL_DESTROY", "agent")
}

func TestPlaybackExtensionsAndTransfer(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	// &playback: the file plays (4 s) and the call ends.
	s.call(t, "pb", "sofia/gateway/gw/1000 &playback(/msg.wav)")
	// extension form: the ivr plays 7 s and hangs up.
	s.call(t, "ext", "sofia/gateway/gw/1001 ivr XML default")
	// loopback answers at once.
	lb := s.bgapi("job-lb", "originate {origination_uuid=lb}loopback/ivr &park()")
	s.clk.Advance(3 * time.Second)
	if out, _ := lb.Wait(context.Background()); out != "+OK lb\n" {
		t.Fatalf("loopback: %q", out)
	}
	// Applications start once the BACKGROUND_JOB is out; wait for them
	// before moving the clock on.
	s.waitEvent("CHANNEL_EXECUTE", "pb")
	s.waitEvent("CHANNEL_EXECUTE", "ext")
	s.clk.Advance(4 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", "pb")
	if e := s.event("CHANNEL_EXECUTE_COMPLETE", "pb"); e.Get("Application-Response") != "FILE PLAYED" {
		t.Fatalf("playback response %q", e.Get("Application-Response"))
	}
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", "ext")
	// uuid_transfer moves a parked call to the ivr.
	s.call(t, "tr", "sofia/gateway/gw/1002 &park()")
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_PARK", "tr")
	if out := s.api("uuid_transfer tr ivr XML default"); out != "+OK\n" {
		t.Fatalf("uuid_transfer: %q", out)
	}
	s.waitEvent("CHANNEL_UNPARK", "tr")
	s.clk.Advance(7 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", "tr")
	if out := s.api("uuid_transfer tr ivr"); out != "-ERR No such channel!\n" {
		t.Fatalf("transfer of a gone call: %q", out)
	}
	// An inline dialplan runs its applications in turn, then hangs up.
	s.call(t, "in", "sofia/gateway/gw/1003 &park()")
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_PARK", "in")
	if out := s.api("uuid_transfer in playback:/sounds/sorry.wav,hangup:NORMAL_CLEARING inline"); out != "+OK\n" {
		t.Fatalf("uuid_transfer inline: %q", out)
	}
	s.clk.Advance(10 * time.Second)
	s.waitEvent("CHANNEL_HANGUP_COMPLETE", "in")
	var ran []string
	for _, e := range s.of("in") {
		if e.Name() == "CHANNEL_EXECUTE" {
			ran = append(ran, e.Get("Application")+"("+e.Get("Application-Data")+")")
		}
	}
	if want := []string{"park()", "playback(/sounds/sorry.wav)", "hangup(NORMAL_CLEARING)"}; !reflect.DeepEqual(ran, want) {
		t.Fatalf("inline ran %q, want %q", ran, want)
	}
	if e := s.event("CHANNEL_HANGUP_COMPLETE", "in"); e.Get("Hangup-Cause") != "NORMAL_CLEARING" {
		t.Fatalf("inline hangup cause %q", e.Get("Hangup-Cause"))
	}
}

func TestInlineApps(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   []inlineApp
	}{
		{"playback:/a.wav,hangup", []inlineApp{{"playback", "/a.wav"}, {"hangup", ""}}},
		{"playback:tone_stream://%(100,0,440),hangup:USER_BUSY", []inlineApp{{"playback", "tone_stream://%(100"}, {"0", ""}, {"440)", ""}, {"hangup", "USER_BUSY"}}},
		{"m:^:playback:tone_stream://%(100,0,440)^hangup:USER_BUSY", []inlineApp{{"playback", "tone_stream://%(100,0,440)"}, {"hangup", "USER_BUSY"}}},
		{" answer, ,park", []inlineApp{{"answer", ""}, {"park", ""}}},
		{"", nil},
	} {
		if got := inlineApps(tc.target); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("inlineApps(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestChannelCommands(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "c1", "sofia/gateway/gw/1000 &park()")
	s.call(t, "c2", "sofia/gateway/gw/1001 &park()")
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_PARK", "c1")
	s.waitEvent("CHANNEL_PARK", "c2")
	for _, tc := range []struct{ cmd, want string }{
		{"uuid_setvar c1 note hello there", "+OK\n"},
		{"uuid_getvar c1 note", "hello there"},
		{"uuid_getvar c1 nothing", "_undef_"},
		{"uuid_getvar nobody note", "-ERR No such channel!\n"},
		{"uuid_record c1 start /rec/c1.wav", "+OK Success\n"},
		{"uuid_record nobody start /x.wav", "-ERR Cannot locate session!\n"},
		{"uuid_exists c1", "true"},
		{"uuid_exists nobody", "false"},
		{"uuid_kill nobody", "-ERR No such channel!\n"},
		{"uuid_broadcast nobody /x.wav aleg", "-ERR invalid uuid\n"},
		{"nonsense", "-ERR nonsense Command not found!\n"},
	} {
		if got := s.api(tc.cmd); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	s.waitEvent("RECORD_START", "c1")
	if out := s.api("hupall MANAGER_REQUEST"); out != "+OK hangup all channels with cause MANAGER_REQUEST\n" {
		t.Fatalf("hupall: %q", out)
	}
	s.waitEvent("RECORD_STOP", "c1")
	s.waitEvent("CHANNEL_DESTROY", "c2")
	if h := s.event("CHANNEL_HANGUP", "c2"); h.Get("Hangup-Cause") != "MANAGER_REQUEST" {
		t.Fatalf("hupall cause %q", h.Get("Hangup-Cause"))
	}
	if got := s.api("show channels as json"); got != "{\"row_count\": 0}\n" {
		t.Fatalf("show channels: %q", got)
	}
}

func TestSendMsgExecute(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "sm", "sofia/gateway/gw/1000 &park()")
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_PARK", "sm")
	m, err := s.conn.Send(context.Background(), "sendmsg sm", []esl.Header{{Name: "call-command", Value: "execute"}, {Name: "execute-app-name", Value: "playback"}, {Name: "execute-app-arg", Value: "/hello.wav"}}, "")
	if err != nil || m.ReplyText() != "+OK" {
		t.Fatalf("sendmsg: %v %v", m, err)
	}
	s.wait("playback", func(evs []*esl.Event) bool {
		for _, e := range evs {
			if e.Name() == "CHANNEL_EXECUTE" && e.Get("Application-Data") == "/hello.wav" {
				return true
			}
		}
		return false
	})
	m, _ = s.conn.Send(context.Background(), "sendmsg nobody", []esl.Header{{Name: "call-command", Value: "hangup"}}, "")
	if m.ReplyText() != "-ERR invalid session id [nobody]" {
		t.Fatalf("sendmsg to nobody: %q", m.ReplyText())
	}
}

// TestSameSeedSameOutcomes places the same calls on two switches with the
// same seed, and on one with another seed.
func TestSameSeedSameOutcomes(t *testing.T) {
	const sc = `
seed: %d
gateways: [{name: gw}]
default: {answer: 0.4, busy: 0.2, reject: 0.1, invalid: 0.1, temp_fail: 0.1, ring: {dist: lognormal, mean: 5, spread: 3}}
`
	run := func(seed int) string {
		s := newSession(t, mustScenario(t, fmt.Sprintf(sc, seed)))
		var out strings.Builder
		for i := 0; i < 40; i++ {
			u := fmt.Sprintf("d-%d", i)
			job := s.call(t, u, fmt.Sprintf("sofia/gateway/gw/38050%05d &park()", i%25))
			s.clk.Advance(21 * time.Second)
			r, _ := job.Wait(context.Background())
			fmt.Fprintf(&out, "%s;", strings.TrimSpace(r))
			s.api("uuid_kill " + u)
		}
		return out.String()
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Fatalf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatal("a different seed gave the same 40 outcomes")
	}
}

// TestClientSurvivesDroppedConnection: the switch drops every connection;
// our reconnecting client comes back, re-subscribes and keeps receiving.
func TestClientSurvivesDroppedConnection(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	sw := New(mustScenario(t, behaviourScenario), clk, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	defer sw.Close()
	creates := make(chan string, 10)
	cl := esl.NewClient(esl.ClientConfig{
		Config:     esl.Config{Password: "ClueCon", OnEvent: func(e *esl.Event) { creates <- e.UniqueID() }},
		Address:    l.Addr().String(),
		Events:     []string{"CHANNEL_CREATE"},
		MinBackoff: 5 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go cl.Run(ctx)
	for i, u := range []string{"before-drop", "after-drop"} {
		if err := cl.WaitState(ctx, esl.Connected); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.BgAPIJob(ctx, "j-"+u, "originate {origination_uuid="+u+"}sofia/gateway/gw/6000 &park()"); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-creates:
			if got != u {
				t.Fatalf("event for %q, want %q", got, u)
			}
		case <-ctx.Done():
			t.Fatalf("no CHANNEL_CREATE for %s", u)
		}
		if i == 0 {
			sw.Server().DropConnections()
			if err := cl.WaitState(ctx, esl.Disconnected); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestScenarioErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"numbers: [{pattern: '(', answer: 1}]", "numbers[0].pattern"},
		{"numbers: [{answer: 0.8, busy: 0.5}]", "numbers[0]: answer, busy, reject, invalid and temp_fail add up to 1.3"},
		{"default: {ring: {dist: gamma, mean: 3}}", "default.ring.dist"},
		{"gateways: [{name: a}, {name: a}]", `gateways[1].name: "a" is listed twice`},
		{"agents: [{answer: 0.5}]", "agents[0].extension: missing"},
		{"amd: {not_sure: 2}", "amd.not_sure"},
		{"numbrs: []", "field numbrs not found"},
		{"seed: [1]", "line 1"},
	} {
		_, err := ParseScenario([]byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.yml, err, tc.want)
		}
	}
	if _, err := ParseScenario(nil); err != nil {
		t.Fatalf("empty scenario: %v", err)
	}
}

// TestSampleScenario: deploy/fsim-scenario.yaml, the documented example,
// loads, and its rules decide as its comments say.
func TestSampleScenario(t *testing.T) {
	sc, err := LoadScenario("../deploy/fsim-scenario.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Numbers) != 3 || len(sc.Gateways) != 4 || len(sc.Agents) != 3 || len(sc.Extensions) != 3 {
		t.Fatalf("scenario %+v", sc)
	}
	if in := sc.Inbound; in == nil || in.Rate != 2 || len(in.Callers) != 2 || in.Talk.Mean != 90 || in.Fallback != "fallback" {
		t.Fatalf("inbound %+v", sc.Inbound)
	}
	if o := sc.drawSubscriber("9991234567", 0); o.cause != "UNALLOCATED_NUMBER" {
		t.Fatalf("the test range gave %+v", o)
	}
	if r := sc.rule("380441234567"); r.Answer != 0.30 || r.Busy != 0.20 {
		t.Fatalf("a landline uses %+v", r)
	}
	if sc.sessionsPerSecond() != 30 || sc.ShowChannelsLag.Create.Mean != 0.198 || sc.ShowChannelsLag.Destroy.Spread != 0.068 {
		t.Fatalf("sessions_per_second %d, show_channels_lag %+v", sc.sessionsPerSecond(), sc.ShowChannelsLag)
	}
	for file, exists := range map[string]bool{
		"/var/lib/fsdialer/messages/welcome.wav":     true,
		"/var/lib/fsdialer/messages/retired-old.wav": false,
		"/tmp/elsewhere.wav":                         false,
		"tone_stream://%(100,0,440)":                 true,
	} {
		if sc.Files.exists(file) != exists {
			t.Errorf("%s: exists %v", file, !exists)
		}
	}
}

func TestScenarioNewKeys(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"sessions_per_second: -1", "sessions_per_second: -1 must not be negative"},
		{"show_channels_lag: {create: {dist: nope}}", "show_channels_lag.create.dist"},
		{"files: {exist: ['[']}", "files.exist[0]"},
	} {
		if _, err := ParseScenario([]byte(tc.yml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.yml, err, tc.want)
		}
	}
	sc := mustScenario(t, "show_channels_lag: 0\nsessions_per_second: 0")
	if l := sc.ShowChannelsLag; !l.Create.set || l.Create.Mean != 0 || l.Destroy.Mean != 0 || sc.sessionsPerSecond() != 0 {
		t.Fatalf("zeros: %+v %d", l, sc.sessionsPerSecond())
	}
}
