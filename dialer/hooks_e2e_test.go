package dialer_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/store"
)

// TestCallEventsReachTheCRM: a CRM's hook receives, for each call of a
// progressive campaign, offering, bridged, ended and member_end, in that
// order, with the seed's fields.
func TestCallEventsReachTheCRM(t *testing.T) {
	w := newWorld(t, agentsScenario)
	var mu sync.Mutex
	var got []hooks.Event
	crm := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ev hooks.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			rw.WriteHeader(400)
			return
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	t.Cleanup(crm.Close)
	if err := w.st.CreateHook(t.Context(), &store.Hook{Event: []string{"offering", "bridged", "missed", "ended", "member_end"},
		Action: store.HookAction{URL: crm.URL}, Timeout: 5, Deadline: 3600}, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d := hooks.New(hooks.Config{Store: w.st, Clock: w.clk, Instance: "hooks-test"})
	w.cfg = func(c *dialer.Config) { c.Hooks = d }
	w.startEngine()
	go d.Run(t.Context())
	w.agent(&store.Agent{ID: "100", Name: "Olena"}, store.AgentAvailable)
	c := progressive(w, func(c *store.Campaign) { c.Agents = []string{"100"} })
	ids := w.add(c, mem("+380940000001"), mem("+380940000002"))
	w.start(c)
	w.runUntil("every member done", 30*time.Minute, w.ended(c, ids...))
	w.runUntil("the CRM heard of both", time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 8
	})
	mu.Lock()
	defer mu.Unlock()
	byMember := map[string][]string{}
	for _, ev := range got {
		byMember[ev.Member] = append(byMember[ev.Member], ev.Event)
		if ev.Queue != c.ID || ev.Direction != "outbound" || ev.CID == "" || ev.QueueName != c.Name {
			t.Errorf("event %+v", ev)
		}
		if (ev.Event == "offering" || ev.Event == "bridged") && (ev.Agent == nil || ev.Agent.ID != "100" || ev.UUID == "") {
			t.Errorf("%s event without its agent or call: %+v", ev.Event, ev)
		}
		if ev.Event == "member_end" && ev.EndCause != "NORMAL_CLEARING" {
			t.Errorf("member_end %+v", ev)
		}
	}
	for _, id := range ids {
		if seq := strings.Join(byMember[id], ","); seq != "offering,bridged,ended,member_end" {
			t.Errorf("member %s: %s", id, seq)
		}
	}
}

// TestPreviewOfferingReachesTheCRM: a preview campaign tells the CRM of
// the offer (offering, preview true) before anything is dialed, then of
// the call as a progressive one.
func TestPreviewOfferingReachesTheCRM(t *testing.T) {
	w := newWorld(t, agentsScenario)
	got := make(chan hooks.Event, 16)
	crm := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		var ev hooks.Event
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
			rw.WriteHeader(400)
			return
		}
		got <- ev
	}))
	t.Cleanup(crm.Close)
	if err := w.st.CreateHook(t.Context(), &store.Hook{Event: []string{"offering", "bridged"},
		Action: store.HookAction{URL: crm.URL}, Timeout: 5, Deadline: 3600}, w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	d := hooks.New(hooks.Config{Store: w.st, Clock: w.clk, Instance: "hooks-test"})
	w.cfg = func(c *dialer.Config) { c.Hooks = d }
	w.startEngine()
	go d.Run(t.Context())
	w.agent(&store.Agent{ID: "100"}, store.AgentAvailable)
	c := previewCampaign(w, func(c *store.Campaign) { c.Agents = []string{"100"} })
	w.add(c, mem("+380940000009"))
	w.start(c)
	offerOf(w, "100")
	var seq []string
	next := func() hooks.Event {
		var ev hooks.Event
		w.runUntil("the CRM hears of it", time.Minute, func() bool {
			select {
			case ev = <-got:
				return true
			default:
				return false
			}
		})
		seq = append(seq, fmt.Sprintf("%s/%v", ev.Event, ev.Preview))
		return ev
	}
	if ev := next(); ev.Agent == nil || ev.Agent.ID != "100" || ev.CID != "+380940000009" {
		t.Fatalf("the offer's event %+v", ev)
	}
	if _, err := w.eng.AnswerOffer(t.Context(), "100", store.PreviewAccept, ""); err != nil {
		t.Fatal(err)
	}
	next()
	next()
	if got := strings.Join(seq, ","); got != "offering/true,offering/false,bridged/false" {
		t.Fatalf("events %s", got)
	}
}
