package dialer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/dialer/lookup"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// inboundWorld runs a dialer that takes the switch's inbound calls, with
// a progressive campaign whose members are not due (so it places no call
// of its own) and agents 100 (bucket vip) and 101; crm answers the
// lookups. The fallback extension talks for 30 s.
type inboundWorld struct {
	*world
	c      *store.Campaign
	events func() []hooks.Event
	// stopInbound stops taking inbound calls, as the dialer's death does:
	// every connection closes.
	stopInbound func()
}

func newInboundWorld(t *testing.T, crm http.HandlerFunc, edit func(*dialer.InboundConfig)) *inboundWorld {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, agentsScenario+`
extensions:
  fallback: {duration: 30}
inbound:
  socket: "`+l.Addr().String()+`"
  patience: 120
  talk: 40
`)
	var mu sync.Mutex
	var got []hooks.Event
	sink := hooksSink(t, &mu, &got)
	if err := w.st.CreateHook(t.Context(), &store.Hook{Event: []string{"offering", "bridged", "ended"},
		Action: store.HookAction{URL: sink}, Timeout: 5, Deadline: 3600}, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d := hooks.New(hooks.Config{Store: w.st, Clock: w.clk, Instance: "hooks-test"})
	cfg := dialer.InboundConfig{Wait: 20 * time.Second}
	if crm != nil {
		srv := httptest.NewServer(crm)
		t.Cleanup(srv.Close)
		cfg.Lookup = must[*lookup.Client](t)(lookup.New(lookup.Config{URL: srv.URL, Timeout: 300 * time.Millisecond,
			Variables: map[string]string{"found": "crm_found", "debt": "crm_debt"},
			Defaults:  map[string]string{"crm_found": "unknown"}}, nil))
	}
	if edit != nil {
		edit(&cfg)
	}
	w.cfg = func(c *dialer.Config) { c.Hooks, c.Inbound = d, cfg }
	w.startEngine()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { w.eng.ServeInbound(ctx, l); close(served) }()
	stopInbound := func() { cancel(); <-served }
	t.Cleanup(stopInbound)
	go d.Run(t.Context())
	// Its hours are the evening: it places no call of its own in the test.
	cal := officeHours(t, w, "Europe/Kyiv", func(c *store.Calendar) {
		for i := range c.Week {
			c.Week[i].StartTime, c.Week[i].EndTime = 20*60, 21*60
		}
	})
	c := progressive(w, func(c *store.Campaign) {
		c.Agents, c.Calendar.ID, c.Parameters.MinBillSec = []string{"100", "101"}, cal.ID, 10
	})
	iw := &inboundWorld{world: w, c: c, stopInbound: stopInbound, events: func() []hooks.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]hooks.Event(nil), got...)
	}}
	return iw
}

// hooksSink is a CRM that records the call events it receives.
func hooksSink(t *testing.T, mu *sync.Mutex, got *[]hooks.Event) string {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		var ev hooks.Event
		if json.NewDecoder(req.Body).Decode(&ev) == nil {
			mu.Lock()
			*got = append(*got, ev)
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startCampaign starts the campaign and waits until it runs here.
func (w *inboundWorld) startCampaign() {
	w.start(w.c)
	w.runUntil("the campaign running", time.Minute, func() bool {
		for _, p := range w.eng.Progress() {
			if p.Campaign == w.c.ID {
				return true
			}
		}
		return false
	})
}

// notDue adds members the campaign will not call in the test (its hours
// are the evening).
func (w *inboundWorld) notDue(ms ...*store.Member) []string { return w.add(w.c, ms...) }

// ring places an inbound call from cid and returns its uuid.
func (w *inboundWorld) ring(cid string) string {
	w.t.Helper()
	uuid, err := w.sw.Inbound(cid)
	if err != nil {
		w.t.Fatal(err)
	}
	return uuid
}

// variable is a variable of a live channel, as the switch has it.
func (w *inboundWorld) variable(uuid, name string) string {
	out, _ := w.sw.API(context.Background(), "uuid_getvar", uuid+" "+name)
	return strings.TrimSpace(out)
}

// leg is the switch's record of a channel.
func (w *inboundWorld) leg(uuid string) sim.CallRecord {
	rec, _ := legOf(w.world, uuid)
	return rec
}

// agentOfLeg is the agent a bridged leg reached, by the switch's record.
func (w *inboundWorld) agentOfLeg(uuid string) string {
	other := w.leg(uuid).BridgedTo
	if other == "" {
		return ""
	}
	return w.leg(other).Variables["dialer_agent_id"]
}

func (w *inboundWorld) ran(uuid, app, arg string) bool {
	for _, a := range w.leg(uuid).Applications {
		if a.Name == app && (arg == "" || a.Arg == arg) {
			return true
		}
	}
	return false
}

// TestInboundCallbackRouting: a member who calls back reaches their
// bucket's agent when free, else an agent of the campaign, else (no
// agent in time) the dialplan's fallback; a caller who is no member goes
// back to the dialplan at once. Checked against the switch's record.
func TestInboundCallbackRouting(t *testing.T) {
	w := newInboundWorld(t, nil, nil)
	w.agent(&store.Agent{ID: "100", Buckets: []string{"vip"}, WrapUpTime: 1}, store.AgentAvailable)
	w.agent(&store.Agent{ID: "101", WrapUpTime: 1}, store.AgentAvailable)
	vip := mem("+380930000001")
	vip.Bucket = "vip"
	ids := w.notDue(vip, mem("+380930000002"), mem("+380930000003"))
	w.startCampaign()

	// A stranger: back to the dialplan at once.
	stranger := w.ring("380441234567")
	w.runUntil("the stranger at the fallback", time.Minute, func() bool { return w.ran(stranger, "playback", "fallback") })
	if v := w.variable(stranger, dialer.RouteVariable); v != "not_a_member" {
		t.Errorf("%s of a stranger = %q", dialer.RouteVariable, v)
	}

	// The vip calls: their bucket's agent takes it.
	first := w.ring("380930000001") // without the + of the number stored
	w.runUntil("the vip bridged", time.Minute, func() bool { return w.leg(first).BridgedTo != "" })
	if a := w.agentOfLeg(first); a != "100" {
		t.Errorf("the vip reached agent %q, want their bucket's 100", a)
	}
	// The vip again while 100 talks: an agent of the campaign takes it
	// (the first call must have ended, the member being in it).
	w.runUntil("the first call over", 2*time.Minute, func() bool { return !w.leg(first).HungUp.IsZero() })
	// and written: until then the member is in a call (member_in_call), a
	// moment that a loaded machine stretches
	w.runUntil("the first call written", time.Minute, func() bool {
		_, st := w.member(w.c, ids[0])
		return st != store.MemberLeased
	})
	w.agent(&store.Agent{ID: "100", Buckets: []string{"vip"}, WrapUpTime: 1}, store.AgentOnBreak)
	second := w.ring("+380930000001")
	w.runUntil("the vip bridged again", time.Minute, func() bool { return w.leg(second).BridgedTo != "" })
	if a := w.agentOfLeg(second); a != "101" {
		t.Errorf("with 100 away the vip reached %q, want 101", a)
	}
	// Member 2 while 101 talks and 100 is away: nobody in 20 s, the fallback.
	third := w.ring("+380930000002")
	w.runUntil("member 2 at the fallback", time.Minute, func() bool { return w.ran(third, "playback", "fallback") })
	if w.leg(third).BridgedTo != "" {
		t.Errorf("member 2 was bridged to %s", w.leg(third).BridgedTo)
	}
	if v := w.variable(third, dialer.RouteVariable); v != "no_agent" {
		t.Errorf("%s of a caller no agent took = %q", dialer.RouteVariable, v)
	}
	if w.leg(third).Answered.IsZero() || !w.ran(third, "playback", "local_stream://moh") {
		t.Error("member 2 waited unanswered or without music on hold")
	}
	w.runUntil("every call over", 5*time.Minute, func() bool {
		for _, u := range []string{first, second, third} {
			if w.leg(u).HungUp.IsZero() {
				return false
			}
		}
		return true
	})

	// What the member's history, state and the webhooks say.
	w.runUntil("the member records written", time.Minute, func() bool {
		h := history(w.world, w.c)
		return len(h[ids[0]]) == 2 && len(h[ids[1]]) == 1
	})
	h := history(w.world, w.c)
	if r := h[ids[1]][0]; r.Outcome != "inbound_no_agent" || !r.Inbound {
		t.Errorf("member 2's callback recorded %+v", r)
	}
	if m, _ := w.member(w.c, ids[1]); m.EndCause != "" || m.Attempts != 0 {
		t.Errorf("member 2 changed by a callback no agent took: end %q, attempts %d", m.EndCause, m.Attempts)
	}
	if m, _ := w.member(w.c, ids[0]); m.EndCause != "NORMAL_CLEARING" {
		t.Errorf("the vip talked 40 s with an agent and is not finished: end %q", m.EndCause)
	}
	w.runUntil("the webhooks delivered", time.Minute, func() bool { return len(w.events()) >= 6 })
	for _, ev := range w.events() {
		if ev.Direction != hooks.Inbound || ev.Queue != w.c.ID {
			t.Errorf("%s event: direction %q queue %q", ev.Event, ev.Direction, ev.Queue)
		}
		if ev.Event == hooks.Bridged && ev.Member == ids[0] && ev.UUID != first && ev.UUID != second {
			t.Errorf("bridged event of the vip with uuid %s", ev.UUID)
		}
	}
	checkNoAgentTwice(t, w.world)
}

// TestInboundCallerOutlivesADialerCrash: a dialer that dies while a
// member who called back waits for an agent hands the caller to the
// dialplan's fallback (the switch resumes the dialplan when the socket
// closes); the dialer restarted takes the call's journal back, follows it
// to its end and gives the member back as it was: nothing lost, nothing
// counted.
func TestInboundCallerOutlivesADialerCrash(t *testing.T) {
	w := newInboundWorld(t, nil, func(c *dialer.InboundConfig) { c.Wait = time.Hour })
	ids := w.notDue(mem("+380930000007"))
	w.startCampaign() // no agent is logged in: the caller waits
	uuid := w.ring("+380930000007")
	w.runUntil("the caller answered and waiting", time.Minute, func() bool { return w.ran(uuid, "playback", "local_stream://moh") })
	if _, st := w.member(w.c, ids[0]); st != "leased" {
		t.Fatalf("the member of a callback is %s, want leased", st)
	}
	w.stopInbound()
	w.stopEngine()
	w.runUntil("the caller at the fallback", time.Minute, func() bool { return w.ran(uuid, "playback", "fallback") })
	w.startEngine()
	w.runUntil("the callback recorded and the member back", 10*time.Minute, func() bool {
		_, st := w.member(w.c, ids[0])
		return st != "leased" && len(history(w.world, w.c)[ids[0]]) == 1
	})
	// ready, or waiting for the campaign's evening hours
	if m, st := w.member(w.c, ids[0]); m.EndCause != "" || m.Attempts != 0 || (st != "ready" && st != "waiting") {
		t.Errorf("the member after a callback and a crash: state %s, end %q, attempts %d", st, m.EndCause, m.Attempts)
	}
	if r := history(w.world, w.c)[ids[0]][0]; !r.Inbound || r.Attempt != uuid {
		t.Errorf("the callback recorded as %+v", r)
	}
}

// TestInboundCRMLookup: the CRM's answer becomes channel variables; a
// CRM that fails, answers too slowly or answers no JSON gives the
// defaults, and the call is routed all the same.
func TestInboundCRMLookup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		crm    http.HandlerFunc
		status string
		found  string
		debt   string
	}{
		{"answers", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"found": true, "debt": %t}`, r.URL.Query().Get("cid") == "380441234567")
		}, "ok", "true", "true"},
		{"answers slowly", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		}, "failed", "unknown", ""},
		{"fails", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }, "failed", "unknown", ""},
		{"bad JSON", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"found": tr`) }, "failed", "unknown", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newInboundWorld(t, tc.crm, nil)
			w.startCampaign()
			uuid := w.ring("380441234567")
			w.runUntil("the caller at the fallback", time.Minute, func() bool { return w.ran(uuid, "playback", "fallback") })
			for name, want := range map[string]string{lookup.StatusVariable: tc.status, "crm_found": tc.found, "crm_debt": tc.debt,
				dialer.RouteVariable: "not_a_member"} {
				if got := w.variable(uuid, name); got != want && !(want == "" && got == "_undef_") {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// checkNoAgentTwice fails when an agent's phone was in two bridges at
// once, by the switch's record.
func checkNoAgentTwice(t *testing.T, w *world) {
	t.Helper()
	type span struct{ from, until time.Time }
	byAgent := map[string][]span{}
	for _, call := range w.sw.Calls() {
		agent := call.Variables["dialer_agent_id"]
		if agent == "" || call.Bridged.IsZero() {
			continue
		}
		until := call.HungUp
		if until.IsZero() {
			until = w.clk.Now()
		}
		for _, s := range byAgent[agent] {
			if call.Bridged.Before(s.until) && s.from.Before(until) {
				t.Errorf("agent %s in two calls at once", agent)
			}
		}
		byAgent[agent] = append(byAgent[agent], span{call.Bridged, until})
	}
}

// TestInboundKeepMembers: with KeepMembers a callback talked through
// leaves its member as it was (the campaign dials them as if it had not
// happened); the callback is in the member's history all the same.
func TestInboundKeepMembers(t *testing.T) {
	w := newInboundWorld(t, nil, func(c *dialer.InboundConfig) { c.KeepMembers = true })
	w.agent(&store.Agent{ID: "101", WrapUpTime: 1}, store.AgentAvailable)
	ids := w.notDue(mem("+380930000009"))
	w.startCampaign()
	uuid := w.ring("+380930000009")
	w.runUntil("the callback bridged and over", 3*time.Minute, func() bool {
		return w.leg(uuid).BridgedTo != "" && !w.leg(uuid).HungUp.IsZero()
	})
	w.runUntil("the callback recorded", time.Minute, func() bool { return len(history(w.world, w.c)[ids[0]]) == 1 })
	if r := history(w.world, w.c)[ids[0]][0]; r.Outcome != "inbound_bridged" || !r.Inbound {
		t.Errorf("the callback recorded as %+v", r)
	}
	if m, st := w.member(w.c, ids[0]); m.EndCause != "" || m.Attempts != 0 || (st != "ready" && st != "waiting") {
		t.Errorf("the member after a callback kept: state %s, end %q, attempts %d", st, m.EndCause, m.Attempts)
	}
}
