package dialer_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// callsWorld runs a dialer whose calls campaign routes numbers starting
// +38091 only, with agents 100 and 101 (the second known by its contact's
// extension), and a CRM that records the call events.
func callsWorld(t *testing.T) (w *world, c *store.Campaign, events func() []hooks.Event) {
	w = newWorld(t, agentsScenario)
	var mu sync.Mutex
	var got []hooks.Event
	crm := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ev hooks.Event
		if json.Unmarshal(b, &ev) == nil {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	}))
	t.Cleanup(crm.Close)
	if err := w.st.CreateHook(t.Context(), &store.Hook{Event: []string{"offering", "bridged", "ended"},
		Action: store.HookAction{URL: crm.URL}, Timeout: 5, Deadline: 3600}, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d := hooks.New(hooks.Config{Store: w.st, Clock: w.clk, Instance: "hooks-test"})
	c = progressive(w, func(c *store.Campaign) {
		c.Name = "click-to-call"
		c.Resources = []store.Resource{{DialledNumber: `^\+?38091`, Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}}
		c.Parameters.MaxTryCount = 0
	})
	w.cfg = func(cfg *dialer.Config) { cfg.Hooks, cfg.CallsCampaign = d, c.ID }
	w.startEngine()
	go d.Run(t.Context())
	w.agent(&store.Agent{ID: "100", AutoAnswer: false}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "olena", Contact: "user/101"}, store.AgentAvailable)
	w.start(c)
	return w, c, func() []hooks.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]hooks.Event(nil), got...)
	}
}

// call places a click-to-call once the calls campaign runs.
func (w *world) call(req dialer.CallRequest) string {
	w.t.Helper()
	var id string
	w.runUntil("the call placed", time.Minute, func() bool {
		var err error
		id, err = w.eng.Call(w.t.Context(), req)
		if errors.Is(err, dialer.ErrCallsUnavailable) {
			return false
		}
		if err != nil {
			w.t.Fatal(err)
		}
		return true
	})
	return id
}

// legOf returns the switch's record of a channel.
func legOf(w *world, uuid string) (sim.CallRecord, bool) {
	for _, call := range w.sw.Calls() {
		if call.UUID == uuid {
			return call, true
		}
	}
	return sim.CallRecord{}, false
}

// TestClickToCall: the agent's phone rings first (answering by itself when
// asked), then the destination is dialed with the request's variables
// and bridged in, and recorded; by the switch's own record. The agent is
// busy meanwhile: a second call for them is refused naming them, as is a
// second call to the same destination. The call shows in the agent's
// counters, the call records and the webhooks, and the calls campaign
// dials nothing on its own.
func TestClickToCall(t *testing.T) {
	w, c, events := callsWorld(t)
	id := w.call(dialer.CallRequest{Destination: "+380911112233", Extension: "100", AutoAnswer: true, Record: true,
		Variables: map[string]any{"crm_ticket": "T-17"}})

	w.runUntil("the destination answered and bridged", time.Minute, func() bool {
		m, ok := legOf(w, id)
		return ok && !m.Bridged.IsZero()
	})
	_, err := w.eng.Call(t.Context(), dialer.CallRequest{Destination: "+380911110000", Extension: "100"})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "100") {
		t.Errorf("a call for an agent in a call: %v, want a conflict naming agent 100", err)
	}
	_, err = w.eng.Call(t.Context(), dialer.CallRequest{Destination: "+380911112233", Extension: "101"})
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "+380911112233") {
		t.Errorf("a second call to a destination in a call: %v, want a conflict naming it", err)
	}
	if l := w.agentLive("olena"); l.Attempt != "" {
		t.Errorf("agent olena still held after a refused call: %+v", l)
	}

	m, ok := legOf(w, id)
	agentLeg, agentOK := legOf(w, m.BridgedTo)
	switch {
	case !ok || !agentOK:
		t.Fatalf("the switch has no destination leg %s or no agent leg bridged to it", id)
	case agentLeg.Variables["dialer_agent_id"] != "100" || agentLeg.Variables["sip_auto_answer"] != "true":
		t.Errorf("agent leg %+v: want agent 100 asked to answer by itself", agentLeg.Variables)
	case agentLeg.Answered.After(m.Created):
		t.Errorf("the destination was dialed before the agent answered")
	case m.Destination != "+380911112233" || m.Variables["crm_ticket"] != "T-17":
		t.Errorf("destination leg %s %+v", m.Destination, m.Variables)
	}
	recorded := false
	for _, cmd := range w.sw.Commands() {
		recorded = recorded || strings.HasPrefix(cmd.Line, "api uuid_record "+id+" start") || strings.HasPrefix(cmd.Line, "bgapi uuid_record "+id+" start")
	}
	if !recorded {
		t.Errorf("the call was not recorded")
	}

	member, err := w.st.MemberIDByNumber(t.Context(), c.ID, "+380911112233")
	if err != nil {
		t.Fatal(err)
	}
	w.runUntil("the call over", 10*time.Minute, w.ended(c, member))
	// the agent's end is a write of its own beside the member's: either
	// may land first
	w.runUntil("agent 100 released", time.Minute, func() bool { return w.agentLive("100").Attempt == "" })
	if l := w.agentLive("100"); l.CallsAnswered != 1 || l.TalkTime == 0 {
		t.Errorf("agent 100 after the call: %+v", l)
	}
	// Again, for the other agent: the same member, a second attempt.
	second := w.call(dialer.CallRequest{Destination: "+380911112233", Extension: "101"})
	w.runUntil("the second call over", 10*time.Minute, func() bool {
		mm, _ := w.member(c, member)
		return mm.EndCause != "" && len(mm.History) == 2
	})
	if mm, _ := w.member(c, member); mm.Attempts != 2 || mm.History[1].Attempt != second {
		t.Errorf("member after two calls: %d attempts, history %+v", mm.Attempts, mm.History)
	}
	w.runUntil("the CRM heard of both calls", time.Minute, func() bool { return len(events()) >= 6 })
	seen := map[string][]string{}
	for _, ev := range events() {
		seen[ev.UUID] = append(seen[ev.UUID], ev.Event)
		if ev.Queue != c.ID || ev.Member != member || ev.Direction != "outbound" {
			t.Errorf("event %+v", ev)
		}
	}
	if a, b := strings.Join(seen[id], ","), strings.Join(seen[second], ","); a != "offering,bridged,ended" || b != "offering,bridged,ended" {
		t.Errorf("events of the calls: %s; %s", a, b)
	}
	if h := history(w, c)[member]; len(h) != 2 {
		t.Errorf("call records of the member: %+v", h)
	}
	_, members := agentCalls(w, c)
	if len(members) != 2 {
		t.Errorf("the switch saw %d destination legs, want the 2 asked for", len(members))
	}
	if o := w.sw.Ledger().Overlaps(); len(o) > 0 {
		t.Errorf("a number or an agent had two calls at once: %+v", o)
	}
}

// TestClickToCallRefusals: each refusal names what is wrong, and holds
// nobody.
func TestClickToCallRefusals(t *testing.T) {
	w, c, _ := callsWorld(t)
	w.call(dialer.CallRequest{Destination: "+380910000001", Extension: "100"}) // waits until the campaign runs
	for _, tc := range []struct {
		name  string
		req   dialer.CallRequest
		field string
	}{
		{"no route", dialer.CallRequest{Destination: "+380501234567", Extension: "olena"}, "destination"},
		{"not a number", dialer.CallRequest{Destination: "call me", Extension: "olena"}, "destination"},
		{"unknown agent", dialer.CallRequest{Destination: "+380911234567", Extension: "999"}, "from.extension"},
		{"no agent", dialer.CallRequest{Destination: "+380911234567"}, "from.extension"},
		{"a variable that runs a command", dialer.CallRequest{Destination: "+380911234567", Extension: "olena",
			Variables: map[string]any{"execute_on_answer": "system rm"}}, "params.variables.execute_on_answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.eng.Call(t.Context(), tc.req)
			var ve *store.ValidationError
			if !errors.As(err, &ve) || ve.Errors[0].Field != tc.field {
				t.Fatalf("%v, want a field error on %s", err, tc.field)
			}
		})
	}
	if l := w.agentLive("olena"); l.Attempt != "" {
		t.Errorf("agent held by a refused call: %+v", l)
	}
	if n, err := w.st.MemberCounts(t.Context(), c.ID); err != nil || n[store.MemberReady]+n[store.MemberWaiting]+n[store.MemberLeased]+n[store.MemberDone] != 1 {
		t.Errorf("members of the calls campaign: %v %v, want the one called", n, err)
	}
}

// TestClickToCallAcrossACrash: the dialer dies with a click-to-call up
// and the call ends while it is away. The dialer back takes the call over
// from its journal: the agent is held until then and freed after, with
// the call counted once, and the destination is not dialed again (the
// switch's record).
func TestClickToCallAcrossACrash(t *testing.T) {
	w, c, _ := callsWorld(t)
	id := w.call(dialer.CallRequest{Destination: "+380912223344", Extension: "100"})
	w.runUntil("bridged", time.Minute, func() bool { m, ok := legOf(w, id); return ok && !m.Bridged.IsZero() })
	w.stopEngine()
	w.clk.Advance(2 * time.Minute) // the call (40 s of talk) ends while the dialer is away
	time.Sleep(20 * time.Millisecond)
	if l := w.agentLive("100"); l.Attempt != id {
		t.Errorf("agent 100 while its dialer is away: %+v, want held for %s", l, id)
	}
	w.startEngine()
	w.start(c)
	member, err := w.st.MemberIDByNumber(t.Context(), c.ID, "+380912223344")
	if err != nil {
		t.Fatal(err)
	}
	w.runUntil("the call classified", 10*time.Minute, w.ended(c, member))
	w.runUntil("agent 100 free", time.Minute, func() bool { return w.agentLive("100").Attempt == "" })
	if m, _ := w.member(c, member); m.EndCause != "NORMAL_CLEARING" || m.Attempts != 1 {
		t.Errorf("member after the crash: %s after %d attempts", m.EndCause, m.Attempts)
	}
	if l := w.agentLive("100"); l.CallsAnswered != 1 {
		t.Errorf("agent 100: %d calls answered, want 1", l.CallsAnswered)
	}
	if _, members := agentCalls(w, c); len(members) != 1 {
		t.Errorf("the switch saw %d destination legs, want 1", len(members))
	}
}
