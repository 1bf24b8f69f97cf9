package sim

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
)

// channelEvents are the events the captures were recorded with.
var channelEvents = []string{
	"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
	"CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_PARK", "CHANNEL_UNPARK",
	"CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
	"CHANNEL_DESTROY", "BACKGROUND_JOB", "RECORD_START", "RECORD_STOP",
}

var testEpoch = time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)

// session is a simulator on a fake clock with one of our clients attached
// over TCP, collecting every event.
type session struct {
	t    testing.TB
	sw   *Switch
	clk  *clock.Fake
	addr string
	conn *esl.Conn

	mu     sync.Mutex
	events []*esl.Event
}

func mustScenario(t testing.TB, yml string) *Scenario {
	t.Helper()
	sc, err := ParseScenario([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func newSession(t testing.TB, sc *Scenario) *session {
	t.Helper()
	clk := clock.NewFake(testEpoch)
	return attach(t, New(sc, clk, Options{}), clk)
}

// attach connects a session client to a switch made by the test.
func attach(t testing.TB, sw *Switch, clk *clock.Fake) *session {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	t.Cleanup(func() { sw.Close() })
	s := &session{t: t, sw: sw, clk: clk, addr: l.Addr().String()}
	s.conn, err = esl.Dial(context.Background(), s.addr, esl.Config{Password: "ClueCon", OnEvent: func(e *esl.Event) {
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	if err := s.conn.Subscribe(context.Background(), "plain", channelEvents...); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *session) api(cmd string) string {
	s.t.Helper()
	out, _ := s.conn.API(context.Background(), cmd)
	return out
}

func (s *session) bgapi(jobID, cmd string) *esl.Job {
	s.t.Helper()
	j, err := s.conn.BgAPIJob(context.Background(), jobID, cmd)
	if err != nil {
		s.t.Fatal(err)
	}
	return j
}

// wait polls until cond holds over the events so far.
func (s *session) wait(what string, cond func(evs []*esl.Event) bool) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		ok := cond(s.events)
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; events so far:\n%s", what, s.names(""))
		}
		time.Sleep(time.Millisecond)
	}
}

// waitEvent waits for an event of that name on that channel.
func (s *session) waitEvent(name, uuid string) {
	s.t.Helper()
	s.wait(name+" of "+uuid, func(evs []*esl.Event) bool {
		for _, e := range evs {
			if e.Name() == name && (uuid == "" || e.UniqueID() == uuid || e.Get("Job-UUID") == uuid) {
				return true
			}
		}
		return false
	})
}

// waitChannels waits until the switch has n channels (for api calls, during
// which the connection delivers no events).
func (s *session) waitChannels(n int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.sw.Channels() != n {
		if time.Now().After(deadline) {
			s.t.Fatalf("switch has %d channels, want %d", s.sw.Channels(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// of returns the events about the given channels and jobs, in order.
func (s *session) of(ids ...string) []*esl.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*esl.Event
	for _, e := range s.events {
		for _, id := range ids {
			if e.UniqueID() == id || e.Get("Job-UUID") == id {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func (s *session) names(uuid string) string {
	var b strings.Builder
	for _, e := range s.events {
		if uuid == "" || e.UniqueID() == uuid {
			b.WriteString(e.Name() + " " + e.UniqueID() + "\n")
		}
	}
	return b.String()
}
