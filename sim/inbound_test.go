package sim

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// inboundScenario sends callers to the socket at addr; the fallback
// extension talks for 30 s.
func inboundScenario(t *testing.T, addr string) *Scenario {
	return mustScenario(t, `
extensions:
  fallback: {duration: 30}
inbound:
  socket: "127.0.0.1:1|`+addr+`"
  patience: 50
  talk: 20
`)
}

// program is the dialer's end of the socket: it accepts one connection
// and hands it over.
func program(t *testing.T) (string, <-chan *esl.Conn, <-chan *esl.Event) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns, data := make(chan *esl.Conn, 1), make(chan *esl.Event, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c, ev, err := esl.Accept(context.Background(), nc, esl.Config{})
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { c.Close() })
		conns <- c
		data <- ev
	}()
	return l.Addr().String(), conns, data
}

func execute(t *testing.T, c *esl.Conn, app, arg string) {
	t.Helper()
	_, err := c.Send(context.Background(), "sendmsg", []esl.Header{{Name: "call-command", Value: "execute"},
		{Name: "execute-app-name", Value: app}, {Name: "execute-app-arg", Value: arg}}, "")
	if err != nil {
		t.Fatal(err)
	}
}

func TestInboundCallUnderTheSocket(t *testing.T) {
	addr, conns, data := program(t)
	s := newSession(t, inboundScenario(t, addr))
	uuid, err := s.sw.Inbound("+380501112233")
	if err != nil {
		t.Fatal(err)
	}
	c, ev := <-conns, <-data
	if ev.UniqueID() != uuid || ev.Get("Caller-Caller-ID-Number") != "+380501112233" || ev.Get("Call-Direction") != "inbound" {
		t.Fatalf("channel data: uuid %s caller %s direction %s", ev.UniqueID(), ev.Get("Caller-Caller-ID-Number"), ev.Get("Call-Direction"))
	}
	if ev.Var("socket_resume") != "true" {
		t.Errorf("socket_resume = %q: the dialplan sets it before the socket", ev.Var("socket_resume"))
	}
	execute(t, c, "set", "crm_found=true")
	execute(t, c, "answer", "")
	s.waitEvent("CHANNEL_ANSWER", uuid)
	if got := s.api("uuid_getvar " + uuid + " crm_found"); got != "true" {
		t.Errorf("crm_found = %q", got)
	}
	// The program hands the call back: the dialplan goes on to the fallback.
	c.Close()
	s.wait("the fallback", func(evs []*esl.Event) bool {
		for _, e := range evs {
			if e.UniqueID() == uuid && e.Name() == "CHANNEL_EXECUTE" && e.Get("Application") == "playback" && e.Get("Application-Data") == "fallback" {
				return true
			}
		}
		return false
	})
	if n := strings.Count(s.names(uuid), "CHANNEL_UNPARK"); n != 1 {
		t.Errorf("%d CHANNEL_UNPARK, want 1: %s", n, s.names(uuid))
	}
	led := s.sw.Ledger()
	if len(led.Calls) != 1 || led.Calls[0].Caller != "+380501112233" || led.Calls[0].Endpoint != "inbound" {
		t.Fatalf("ledger: %+v", led.Calls)
	}
	var logged bool
	for _, l := range led.Logs {
		logged = logged || strings.Contains(l.Text, "Socket Error: ")
	}
	if !logged {
		t.Error("the first host refused and no Socket Error was logged")
	}
}

func TestInboundCallBridgedThenHungUp(t *testing.T) {
	addr, conns, _ := program(t)
	sc := inboundScenario(t, addr)
	sc.Agents = []AgentSpec{{Extension: "1001"}}
	if err := sc.prepare(); err != nil {
		t.Fatal(err)
	}
	s := newSession(t, sc)
	uuid, err := s.sw.Inbound("380501112233")
	if err != nil {
		t.Fatal(err)
	}
	c := <-conns
	execute(t, c, "answer", "")
	s.waitEvent("CHANNEL_ANSWER", uuid)
	agent := esl.NewUUID()
	s.call(t, agent, "{origination_uuid="+agent+"}user/1001 &park()")
	s.clk.Advance(5 * time.Second) // the agent answers in 1-3 s
	s.waitEvent("CHANNEL_ANSWER", agent)
	if got := s.api("uuid_bridge " + uuid + " " + agent); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("uuid_bridge: %s", got)
	}
	s.clk.Advance(21 * time.Second) // the caller talks 20 s and hangs up
	s.waitEvent("CHANNEL_DESTROY", uuid)
	select {
	case <-c.Done(): // the switch closes the socket of a call that is over
	case <-time.After(5 * time.Second):
		t.Fatal("the socket of a call that ended stayed open")
	}
	if strings.Contains(s.names(uuid), "playback") {
		t.Errorf("a bridged call went on to the fallback: %s", s.names(uuid))
	}
}

func TestInboundCallWithNoDialerUp(t *testing.T) {
	s := newSession(t, inboundScenario(t, "127.0.0.1:2"))
	uuid, err := s.sw.Inbound("380501112233")
	if err != nil {
		t.Fatal(err)
	}
	s.wait("the fallback", func(evs []*esl.Event) bool {
		for _, e := range evs {
			if e.UniqueID() == uuid && e.Name() == "CHANNEL_EXECUTE" && e.Get("Application") == "transfer" {
				return true
			}
		}
		return false
	})
}

func TestInboundScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"inbound: {rate: 2, socket: '127.0.0.1:8084'}", "inbound.callers"},
		{"inbound: {callers: ['1']}", "inbound.socket: missing"},
		{"inbound: {socket: 'nohost'}", "inbound.socket: host 1"},
		{"inbound: {socket: '127.0.0.1:1', rate: -1}", "inbound.rate"},
		{"inbound: {socket: '127.0.0.1:1'}", "inbound.fallback"},
	} {
		_, err := ParseScenario([]byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yml, err, tc.want)
		}
	}
}

func TestRunInboundArrivals(t *testing.T) {
	sc := mustScenario(t, `
extensions: {fallback: {duration: 5}}
inbound: {socket: "127.0.0.1:2", rate: 6, count: 4, callers: ["380501110001", "380501110002"]}
`)
	s := newSession(t, sc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { s.sw.RunInbound(ctx); close(done) }()
	for i := 0; i < 600; i++ { // an hour at 6 a minute would be 360: count stops it at 4
		s.clk.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunInbound did not stop after count calls")
	}
	callers := map[string]int{}
	for _, c := range s.sw.Ledger().Calls {
		callers[c.Caller]++
	}
	if callers["380501110001"] != 2 || callers["380501110002"] != 2 {
		t.Errorf("callers %v, want each of the two twice", callers)
	}
}
