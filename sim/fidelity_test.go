package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

const capturesDir = "../testdata/fs-captures" // a copy of ../shared/fs-captures

// The scenario that reproduces the captured calls: each capture's number
// behaves as the real subscriber did.
const captureScenario = `
seed: 7
show_channels_lag: 0   # the captured show channels came long after the events
gateways: [{name: subscribers}, {name: agents}]
playback: {mean: 1}
numbers:
  - pattern: "^380911234567$"   # answers at once, stays on the line
    answer: 1
    ring: {mean: 0.02}
    patience: {mean: 600}
  - pattern: "^380911234568$"   # answers, hangs up after 3 s of silence
    answer: 1
    ring: {mean: 0.02}
    patience: {mean: 3}
  - pattern: "^380911234569$"   # 486 Busy Here
    busy: 1
    setup: {mean: 0.02}
  - pattern: "^380911234570$"   # rings until originate_timeout
    answer: 0
  - pattern: "^380911234571$"   # the member: talks 5 s to the agent
    answer: 1
    ring: {mean: 0.02}
    patience: {mean: 600}
    talk: {mean: 5}
  - pattern: "^agent01$"
    answer: 1
    ring: {mean: 1}
    patience: {mean: 600}
    talk: {mean: 600}
  - pattern: "^38091123457[23]$"
    answer: 1
    ring: {mean: 0.02}
    patience: {mean: 600}
    talk: {mean: 600}
`

// captured returns the plain events of a capture file.
func captured(t *testing.T, file string) []*esl.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(capturesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	r := esl.NewReader(bytes.NewReader(data))
	var out []*esl.Event
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.ContentType() == esl.TypeEventPlain {
			ev, err := esl.ParseEvent(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
}

// headerNames splits an event's header names into the fixed ones and the
// channel variables.
func headerNames(e *esl.Event) (fixed, vars map[string]bool) {
	fixed, vars = map[string]bool{}, map[string]bool{}
	for i := 0; i < e.Len(); i++ {
		n := e.Header(i).Name
		if strings.HasPrefix(n, "variable_") {
			vars[n] = true
		} else {
			fixed[n] = true
		}
	}
	return fixed, vars
}

func diff(want, got map[string]bool) (missing, extra []string) {
	for n := range want {
		if !got[n] {
			missing = append(missing, n)
		}
	}
	for n := range got {
		if !want[n] {
			extra = append(extra, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

// legOf names the role of an event in a call ("A", "B", "job") so two runs
// with different uuids can be compared.
type legOf func(e *esl.Event) string

// compareCall checks the simulator's events for a call against the capture:
// the same event names in the same order, the same header names, the same
// variables, values encoded the same way.
func compareCall(t *testing.T, want, got []*esl.Event, wantLeg, gotLeg legOf) {
	t.Helper()
	seq := func(evs []*esl.Event, leg legOf) string {
		var b strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&b, "%s/%s ", e.Name(), leg(e))
		}
		return b.String()
	}
	if w, g := seq(want, wantLeg), seq(got, gotLeg); w != g {
		t.Fatalf("event order differs\ncapture:   %s\nsimulator: %s", w, g)
	}
	for i := range want {
		wf, wv := headerNames(want[i])
		gf, gv := headerNames(got[i])
		if m, x := diff(wf, gf); len(m)+len(x) > 0 {
			t.Errorf("event %d %s: headers missing %v, extra %v", i, want[i].Name(), m, x)
		}
		if m, x := diff(wv, gv); len(m)+len(x) > 0 {
			t.Errorf("event %d %s: variables missing %v, extra %v", i, want[i].Name(), m, x)
		}
		// Values that carry the same text must be encoded the same way.
		for _, h := range []string{"Answer-State", "Channel-Call-State", "Channel-State", "Hangup-Cause", "Application", "Application-Data", "Application-Response", "variable_hangup_cause", "variable_sip_term_status"} {
			if wv, gv := want[i].Get(h), got[i].Get(h); wv != gv {
				t.Errorf("event %d %s: %s is %q, capture has %q", i, want[i].Name(), h, gv, wv)
			}
		}
	}
}

func byUUID(roles map[string]string) legOf {
	return func(e *esl.Event) string {
		if e.Name() == "BACKGROUND_JOB" {
			return "job"
		}
		return roles[e.UniqueID()]
	}
}

// compareOneLeg compares a call of one channel and its job with a capture.
func compareOneLeg(t *testing.T, s *session, capture, uuid, job string) {
	t.Helper()
	roles := byUUID(map[string]string{uuid: "A"})
	compareCall(t, captured(t, capture), s.of(uuid, job), roles, roles)
}

func TestFidelityAnsweredParkKill(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "11111111-0000-4000-8000-000000000001"
	s.bgapi("job-1", "originate {origination_uuid="+u+",dialer_attempt_id=a1,dialer_member_id=m1,ignore_early_media=true,originate_timeout=20,origination_caller_id_number=15550001}sofia/gateway/subscribers/380911234567 &park()")
	s.waitEvent("CHANNEL_CREATE", u)
	s.clk.Advance(20 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", u)
	s.clk.Advance(3 * time.Second)
	if out := s.api("uuid_kill " + u); out != "+OK\n" {
		t.Fatalf("uuid_kill: %q", out)
	}
	s.waitEvent("CHANNEL_DESTROY", u)
	compareOneLeg(t, s, "answered_park_kill.esl", u, "job-1")
}

func TestFidelityAnsweredRemoteHangup(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "11111111-0000-4000-8000-000000000002"
	s.bgapi("job-2", "originate {origination_uuid="+u+",dialer_attempt_id=a2,ignore_early_media=true,originate_timeout=20}sofia/gateway/subscribers/380911234568 &park()")
	s.waitEvent("CHANNEL_CREATE", u)
	s.clk.Advance(20 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", u)
	s.clk.Advance(3 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", u)
	compareOneLeg(t, s, "answered_remote_hangup.esl", u, "job-2")
}

func TestFidelityBusy(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "11111111-0000-4000-8000-000000000003"
	job := s.bgapi("job-3", "originate {origination_uuid="+u+",dialer_attempt_id=a3,ignore_early_media=true,originate_timeout=20}sofia/gateway/subscribers/380911234569 &park()")
	s.waitEvent("CHANNEL_CREATE", u)
	s.clk.Advance(20 * time.Millisecond)
	s.waitEvent("CHANNEL_DESTROY", u)
	if out, err := job.Result(); out != "-ERR USER_BUSY\n" || err == nil {
		t.Fatalf("job result %q, %v", out, err)
	}
	compareOneLeg(t, s, "busy.esl", u, "job-3")
}

func TestFidelityNoAnswer(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "11111111-0000-4000-8000-000000000004"
	s.bgapi("job-4", "originate {origination_uuid="+u+",dialer_attempt_id=a4,ignore_early_media=true,originate_timeout=5}sofia/gateway/subscribers/380911234570 &park()")
	s.waitEvent("CHANNEL_CREATE", u)
	s.clk.Advance(5 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", u)
	compareOneLeg(t, s, "no_answer.esl", u, "job-4")
}

func TestFidelityInvalidGateway(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "11111111-0000-4000-8000-000000000005"
	job := s.bgapi("job-5", "originate {origination_uuid="+u+",dialer_attempt_id=a5}sofia/gateway/nosuch/123 &park()")
	s.waitEvent("BACKGROUND_JOB", "job-5")
	if out, _ := job.Result(); out != "-ERR INVALID_GATEWAY\n" {
		t.Fatalf("job result %q", out)
	}
	compareOneLeg(t, s, "invalid_gateway.esl", u, "job-5")
}

func TestFidelityBridgeMemberAgent(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const a, b = "22222222-0000-4000-8000-00000000000a", "22222222-0000-4000-8000-00000000000b"
	s.bgapi("job-a", "originate {origination_uuid="+a+",dialer_attempt_id=b1,ignore_early_media=true,originate_timeout=20}sofia/gateway/subscribers/380911234571 &park()")
	s.waitEvent("CHANNEL_CREATE", a)
	s.clk.Advance(20 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", a)
	s.bgapi("job-b", "originate {origination_uuid="+b+",dialer_agent_id=agent01,ignore_early_media=true,originate_timeout=20}sofia/gateway/agents/agent01 &park()")
	s.waitEvent("CHANNEL_CREATE", b)
	s.clk.Advance(time.Second)
	s.waitEvent("CHANNEL_PARK", b)
	if out := s.api("uuid_bridge " + a + " " + b); out != "+OK "+b+"\n" {
		t.Fatalf("uuid_bridge: %q", out)
	}
	s.clk.Advance(5 * time.Second)
	s.waitEvent("CHANNEL_DESTROY", a)
	want := captured(t, "bridge_member_agent.esl")
	wantRoles := map[string]string{a: "member", b: "agent"}
	jobRole := func(roles map[string]string, first string) legOf {
		return func(e *esl.Event) string {
			if e.Name() == "BACKGROUND_JOB" {
				if strings.Contains(e.Get("Job-Command-Arg"), first) {
					return "job-member"
				}
				return "job-agent"
			}
			return roles[e.UniqueID()]
		}
	}
	compareCall(t, want, s.of(a, b, "job-a", "job-b"), jobRole(wantRoles, a), jobRole(wantRoles, a))
}

func TestFidelityBroadcast(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	const u = "33333333-0000-4000-8000-00000000000c"
	s.bgapi("job-c", "originate {origination_uuid="+u+",dialer_attempt_id=c1,ignore_early_media=true,originate_timeout=20}sofia/gateway/subscribers/380911234572 &park()")
	s.waitEvent("CHANNEL_CREATE", u)
	s.clk.Advance(20 * time.Millisecond)
	s.waitEvent("CHANNEL_PARK", u)
	if out := s.api("uuid_broadcast " + u + " tone_stream://%(1000,0,440) aleg"); out != "+OK Message sent\n" {
		t.Fatalf("uuid_broadcast: %q", out)
	}
	s.clk.Advance(time.Second)
	s.waitEvent("CHANNEL_EXECUTE_COMPLETE", u)
	s.api("uuid_kill " + u)
	s.waitEvent("CHANNEL_DESTROY", u)
	compareOneLeg(t, s, "broadcast.esl", u, "job-c")
}

// rawReplies reads every message after the handshake as raw bytes.
func rawReplies(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		var msg bytes.Buffer
		length := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			msg.WriteString(line)
			if line == "\n" {
				break
			}
			fmt.Sscanf(line, "Content-Length: %d", &length)
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		msg.Write(body)
		out = append(out, msg.String())
	}
	return out
}

// TestFidelityAPIReplies replays the captured api session over a raw socket
// and compares the bytes: framing, Content-Length, and bodies (including
// those without a trailing newline). Values that depend on the moment
// (times, uptime) are compared by shape.
func TestFidelityAPIReplies(t *testing.T) {
	s := newSession(t, mustScenario(t, captureScenario))
	wantRaw, err := os.ReadFile(filepath.Join(capturesDir, "api_replies.esl"))
	if err != nil {
		t.Fatal(err)
	}
	want := rawReplies(t, bufio.NewReader(bytes.NewReader(wantRaw)), 13)

	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	send := func(cmd string) { fmt.Fprintf(nc, "%s\n\n", cmd) }
	var got []string
	got = append(got, rawReplies(t, r, 1)...)
	send("auth ClueCon")
	got = append(got, rawReplies(t, r, 1)...)
	const u = "44444444-0000-4000-8000-00000000000d"
	send("api originate {origination_uuid=" + u + ",dialer_attempt_id=d1}sofia/gateway/subscribers/380911234573 &park()")
	s.waitChannels(1)
	s.clk.Advance(20 * time.Millisecond)
	got = append(got, rawReplies(t, r, 1)...)
	for _, cmd := range []string{
		"api show channels as json",
		"api uuid_getvar " + u + " dialer_attempt_id",
		"api uuid_setvar " + u + " dialer_note checked",
		"api uuid_record " + u + " start /tmp/" + u + ".wav",
		"api uuid_kill " + u,
		"api uuid_bridge " + u + " 00000000-0000-4000-8000-000000000000",
		"api originate {origination_uuid=55555555-0000-4000-8000-00000000000e}sofia/gateway/nosuch/123 &park()",
		"api status",
		"exit",
	} {
		send(cmd)
		n := 1
		if cmd == "exit" {
			n = 2
		}
		got = append(got, rawReplies(t, r, n)...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages, capture has %d", len(got), len(want))
	}
	digits := regexp.MustCompile(`[0-9]+`)
	units := regexp.MustCompile(`N (year|day|hour|minute|second|millisecond|microsecond)s?\b`)
	shape := func(s string) string { return units.ReplaceAllString(digits.ReplaceAllString(s, "N"), "N $1") }
	for i := range want {
		w, g := want[i], got[i]
		switch {
		case strings.Contains(w, `{"row_count"`):
			wantKeys, gotKeys := jsonRowKeys(t, w), jsonRowKeys(t, g)
			if wantKeys != gotKeys {
				t.Errorf("show channels columns:\n got %s\nwant %s", gotKeys, wantKeys)
			}
			if strings.HasSuffix(g, "\n") {
				t.Error("show channels as json ends in a newline; the switch sends none")
			}
		case strings.Contains(w, "UP 0 years"):
			build := regexp.MustCompile(`git \S+ \S+ \S+ `) // the real build's commit and date
			if shape(g) != shape(build.ReplaceAllString(w, "fsim ")) {
				t.Errorf("status shape:\n got %q\nwant %q", g, w)
			}
		default:
			if w != g {
				t.Errorf("message %d:\n got %q\nwant %q", i, g, w)
			}
		}
	}
}

func jsonRowKeys(t *testing.T, msg string) string {
	t.Helper()
	body := msg[strings.Index(msg, "\n\n")+2:]
	dec := json.NewDecoder(strings.NewReader(body))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 3 && dec.More() {
				keys = append(keys, v)
				_, _ = dec.Token() // the value
			}
		}
	}
	return strings.Join(keys, ",")
}
