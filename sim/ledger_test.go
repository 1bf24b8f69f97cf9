package sim

import (
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

// TestLedgerRecordsCommandsAsRead: every command on every connection, with
// its headers and body, in the order read, and the connection it came on.
func TestLedgerRecordsCommandsAsRead(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// By hand: CRLF lines, blank lines before a command, a body.
	raw := "auth ClueCon\r\n\r\n\n\napi uuid_exists nobody\n\nsendmsg nobody\ncall-command: execute\nexecute-app-name: playback\nContent-Length: 6\n\n/a.wav"
	if _, err := nc.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	s.api("status")
	s.bgapi("job-1", "uuid_exists nobody")
	want := []ReceivedCommand{
		{Conn: 1, Line: "auth ClueCon"},
		{Conn: 1, Line: "event plain " + strings.Join(channelEvents, " ")},
		{Conn: 2, Line: "auth ClueCon"},
		{Conn: 2, Line: "api uuid_exists nobody"},
		{Conn: 2, Line: "sendmsg nobody", Headers: []esl.Header{{Name: "call-command", Value: "execute"}, {Name: "execute-app-name", Value: "playback"}, {Name: "Content-Length", Value: "6"}}, Body: "/a.wav"},
		{Conn: 1, Line: "api status"},
		{Conn: 1, Line: "bgapi uuid_exists nobody", Headers: []esl.Header{{Name: "Job-UUID", Value: "job-1"}}},
	}
	var got []ReceivedCommand
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = s.sw.Commands()
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The two connections interleave as the network pleases; each one's
	// commands keep their order.
	for conn := uint64(1); conn <= 2; conn++ {
		var w, g []ReceivedCommand
		for _, c := range want {
			if c.Conn == conn {
				w = append(w, c)
			}
		}
		for i, c := range got {
			if i > 0 && c.Seq <= got[i-1].Seq {
				t.Fatalf("sequence not increasing at %d", i)
			}
			if c.Conn == conn {
				c.Seq, c.At = 0, time.Time{}
				g = append(g, c)
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("connection %d:\ngot  %+v\nwant %+v", conn, g, w)
		}
	}
}

// TestLedgerRecordsCalls: a broadcast call, a busy one, one to an unknown
// gateway, a bridge: what the switch did with each.
func TestLedgerRecordsCalls(t *testing.T) {
	file := &syncbuf.Buffer{}
	clk := clock.NewFake(testEpoch)
	sw := New(mustScenario(t, behaviourScenario), clk, Options{LedgerWriter: file})
	s := attach(t, sw, clk)
	vars := "dialer_attempt_id=a1,dialer_member_id=m1,dialer_campaign_id=c1,"
	s.bgapi("j1", "originate {"+vars+"origination_uuid=a1,msg=hello}sofia/gateway/gw/1000 &playback(/${msg}.wav)")
	s.waitEvent("CHANNEL_CREATE", "a1")
	s.bgapi("j2", "originate {origination_uuid=b1,x=${y}}sofia/gateway/gw/2000 &park()")
	s.waitEvent("CHANNEL_CREATE", "b1")
	s.api("originate {origination_uuid=g1}sofia/gateway/nosuch/1000 &park()")
	s.clk.Advance(500 * time.Millisecond) // 2000 is busy
	s.waitEvent("CHANNEL_DESTROY", "b1")
	s.clk.Advance(2500 * time.Millisecond) // 1000 answers
	s.waitEvent("CHANNEL_EXECUTE", "a1")
	s.clk.Advance(4 * time.Second) // the playback
	s.waitEvent("CHANNEL_DESTROY", "a1")

	calls := sw.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls: %+v", len(calls), calls)
	}
	at := func(d time.Duration) time.Time { return testEpoch.Add(d) }
	a := calls[0]
	if a.UUID != "a1" || a.Endpoint != "sofia/gateway/gw/1000" || a.Destination != "1000" || a.Gateway != "gw" ||
		!reflect.DeepEqual(a.Variables, map[string]string{"dialer_attempt_id": "a1", "dialer_member_id": "m1", "dialer_campaign_id": "c1", "origination_uuid": "a1", "msg": "hello", "originate_early_media": "true"}) ||
		!a.Created.Equal(at(0)) || !a.Answered.Equal(at(3*time.Second)) || !a.HungUp.Equal(at(7*time.Second)) ||
		a.HangupCause != "NORMAL_CLEARING" || a.Billsec != 4 || a.Billmsec != 4000 ||
		!reflect.DeepEqual(a.Applications, []AppRecord{{Name: "playback", Arg: "/hello.wav", Response: "FILE PLAYED", Started: at(3 * time.Second), Completed: at(7 * time.Second)}}) {
		t.Errorf("broadcast call %+v", a)
	}
	b := calls[1]
	if b.UUID != "b1" || b.HangupCause != "USER_BUSY" || !b.Answered.IsZero() || b.Billsec != 0 || len(b.Applications) != 0 ||
		!reflect.DeepEqual(b.Variables, map[string]string{"origination_uuid": "b1", "originate_early_media": "true"}) {
		t.Errorf("busy call %+v", b)
	}
	if g := calls[2]; g.UUID != "g1" || !g.Stillborn || g.HangupCause != "INVALID_GATEWAY" || g.Gateway != "nosuch" {
		t.Errorf("stillborn call %+v", g)
	}
	found := false
	for _, l := range sw.Ledger().Logs {
		found = found || strings.Contains(l.Text, "[CRIT] switch_channel.c:1508 Invalid data (${x} contains a variable)")
	}
	if !found {
		t.Errorf("no CRIT line about x in %+v", sw.Ledger().Logs)
	}

	// The file says the same.
	fromFile, err := ReadLedger(strings.NewReader(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	if mem := sw.Ledger(); !reflect.DeepEqual(fromFile.copy(), mem) {
		t.Fatalf("the file differs:\nfile   %+v\nmemory %+v", fromFile, mem)
	}
}

func TestLedgerRecordsBridges(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "member", "sofia/gateway/gw/9000 &park()")
	s.call(t, "agent", "user/1000 &park()")
	s.clk.Advance(2 * time.Second)
	s.waitEvent("CHANNEL_PARK", "member")
	s.waitEvent("CHANNEL_PARK", "agent")
	s.api("uuid_bridge member agent")
	calls := s.sw.Calls()
	if calls[0].BridgedTo != "agent" || calls[1].BridgedTo != "member" || !calls[0].Bridged.Equal(testEpoch.Add(2*time.Second)) {
		t.Fatalf("bridges: %+v", calls)
	}
}

// TestOverlaps: a destination with two live channels at once, by the
// switch's order of events.
func TestOverlaps(t *testing.T) {
	call := func(uuid, dest string, created, hungUp uint64) CallRecord {
		return CallRecord{UUID: uuid, Destination: dest, CreatedSeq: created, HungUpSeq: hungUp}
	}
	for _, tc := range []struct {
		name  string
		calls []CallRecord
		want  []string // "first second"
	}{
		{"one after the other", []CallRecord{call("a", "1", 1, 5), call("b", "1", 6, 9)}, nil},
		{"created the moment the other hung up: after it", []CallRecord{call("a", "1", 1, 5), call("b", "1", 6, 0)}, nil},
		{"overlapping", []CallRecord{call("a", "1", 1, 5), call("b", "1", 3, 9)}, []string{"a b"}},
		{"one still live", []CallRecord{call("a", "1", 1, 0), call("b", "1", 3, 4)}, []string{"a b"}},
		{"other destinations do not count", []CallRecord{call("a", "1", 1, 5), call("b", "2", 3, 9)}, nil},
		{"stillborn ones do not count", []CallRecord{call("a", "1", 1, 5), {UUID: "b", Destination: "1", Stillborn: true, CreatedSeq: 3, HungUpSeq: 3}}, nil},
		{"three at once", []CallRecord{call("a", "1", 1, 0), call("b", "1", 2, 0), call("c", "1", 3, 0)}, []string{"a b", "a c", "b c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range (Ledger{Calls: tc.calls}).Overlaps() {
				got = append(got, o.First+" "+o.Second)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOverlapsOnTheSwitch: two originates to one number at once break the
// invariant; one after the other's hangup does not.
func TestOverlapsOnTheSwitch(t *testing.T) {
	s := newSession(t, mustScenario(t, behaviourScenario))
	s.call(t, "one", "sofia/gateway/gw/2000 &park()")
	s.clk.Advance(500 * time.Millisecond)
	s.waitEvent("CHANNEL_HANGUP", "one")
	s.call(t, "two", "sofia/gateway/gw/2000 &park()")
	if o := s.sw.Ledger().Overlaps(); o != nil {
		t.Fatalf("sequential calls overlap: %v", o)
	}
	s.call(t, "three", "sofia/gateway/gw/2000 &park()")
	o := s.sw.Ledger().Overlaps()
	if len(o) != 1 || o[0].First != "two" || o[0].Second != "three" || o[0].Destination != "2000" {
		t.Fatalf("overlaps %v", o)
	}
}

func TestReadLedgerCutShort(t *testing.T) {
	good := `{"kind":"create","seq":1,"at":"2026-11-21T15:00:00Z","uuid":"u","destination":"1"}` + "\n"
	if l, err := ReadLedger(strings.NewReader(good + `{"kind":"hang`)); err != nil || len(l.Calls) != 1 {
		t.Fatalf("a cut last line: %v %+v", err, l)
	}
	if _, err := ReadLedger(strings.NewReader("nonsense\n" + good)); err == nil {
		t.Fatal("a bad line in the middle was accepted")
	}
}

// TestCommandFramingInPieces: however the bytes arrive, the same commands
// are recorded; a Content-Length the server refuses ends the recording of
// that connection.
func TestCommandFramingInPieces(t *testing.T) {
	const raw = "\r\nauth ClueCon\r\n\r\nsendmsg u\ncall-command: execute\n bad line\n:novalue\nContent-Length: 3\n\nabc\napi status\n\nbgapi x\nContent-Length: 1x\n\napi never\n\n"
	want := []ReceivedCommand{
		{Conn: 7, Line: "auth ClueCon"},
		{Conn: 7, Line: "sendmsg u", Headers: []esl.Header{{Name: "call-command", Value: "execute"}, {Name: "Content-Length", Value: "3"}}, Body: "abc"},
		{Conn: 7, Line: "api status"},
	}
	for _, size := range []int{1, 2, 5, 13, len(raw)} {
		sw := New(mustScenario(t, ""), clock.NewFake(testEpoch), Options{})
		c := &recordingConn{s: sw, id: 7}
		for i := 0; i < len(raw); i += size {
			c.feed([]byte(raw[i:min(i+size, len(raw))]))
		}
		got := sw.Commands()
		for i := range got {
			got[i].Seq, got[i].At = 0, time.Time{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("in pieces of %d:\ngot  %+v\nwant %+v", size, got, want)
		}
	}
}

// TestBridgeOverlaps: a channel bridged to a second leg before its bridge
// to the first ended, by the switch's order of events.
func TestBridgeOverlaps(t *testing.T) {
	span := func(other string, from, until uint64) BridgeSpan {
		return BridgeSpan{Other: other, FromSeq: from, UntilSeq: until}
	}
	for _, tc := range []struct {
		name  string
		spans []BridgeSpan
		want  []string // "first second"
	}{
		{"one bridge", []BridgeSpan{span("m1", 1, 0)}, nil},
		{"one after the other", []BridgeSpan{span("m1", 1, 5), span("m2", 6, 0)}, nil},
		{"the second before the first ended", []BridgeSpan{span("m1", 1, 5), span("m2", 4, 0)}, []string{"m1 m2"}},
		{"the first never ended", []BridgeSpan{span("m1", 1, 0), span("m2", 6, 9)}, []string{"m1 m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range (Ledger{Calls: []CallRecord{{UUID: "agent", Bridges: tc.spans}}}).BridgeOverlaps() {
				got = append(got, o.First+" "+o.Second)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
