package hooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/store"
)

const secret = "a-secret-of-32-bytes-0123456789a"

// campaign stores a campaign, as events need one to belong to.
func campaign(t *testing.T, st *store.Store) string {
	t.Helper()
	c := &store.Campaign{Name: "crm", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 1, MaxTryCount: 1, IntervalTryCount: 60},
		Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
			{GwName: "gw", DialString: "$1", Enabled: true}}}},
		Broadcast: store.Broadcast{File: "/msg.wav"}}
	if err := st.CreateCampaign(context.Background(), c, time.Now()); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// hook stores a hook to url with short durations, edited by edit.
func hook(t *testing.T, st *store.Store, clk clock.Clock, url string, edit func(h *store.Hook)) *store.Hook {
	t.Helper()
	h := &store.Hook{Event: []string{hooks.Offering, hooks.Bridged, hooks.Missed, hooks.Ended, hooks.MemberEnd},
		Action: store.HookAction{URL: url, Headers: map[string]string{"Authorization": "Bearer crm-token"}},
		Delay:  0.02, Timeout: 0.3, Deadline: 120, Secret: secret}
	if edit != nil {
		edit(h)
	}
	if err := st.CreateHook(context.Background(), h, clk.Now()); err != nil {
		t.Fatal(err)
	}
	return h
}

// calls appends, for each of n members of a campaign, the four events of
// a call answered by an agent, members interleaved: offering of every
// member, then bridged of every member, and so on. It returns the events
// in the order written.
func calls(t *testing.T, st *store.Store, clk clock.Clock, campaign, prefix string, n int) []hooks.Event {
	t.Helper()
	var written []hooks.Event
	cs := make([]hooks.Call, n)
	for i := range cs {
		cs[i] = hooks.Call{Campaign: campaign, CampaignName: "crm", Member: fmt.Sprintf("%s%03d", prefix, i), MemberName: "m",
			Attempt: fmt.Sprintf("%s-a%d", prefix, i), UUID: fmt.Sprintf("%s-u%d", prefix, i), CID: "+380441234567",
			Variables: map[string]any{"crm": "x"}}
	}
	agent := hooks.Agent{ID: "agent-1", Extension: "101"}
	end := hooks.End{Cause: "NORMAL_CLEARING", Outcome: "success", EndCause: "NORMAL_CLEARING", BillMsec: 1300, AnsweredAt: clk.Now().UnixMilli()}
	for step := range 4 {
		var batch []hooks.Event
		for _, c := range cs {
			now := clk.Now()
			switch step {
			case 0:
				batch = append(batch, hooks.NewOffering(c, agent, now))
			case 1:
				batch = append(batch, hooks.NewBridged(c, agent, now))
			case 2:
				batch = append(batch, hooks.NewEnded(c, end, now))
			case 3:
				batch = append(batch, hooks.NewMemberEnd(c, end, now))
			}
		}
		if err := hooks.Append(context.Background(), st, campaign, batch...); err != nil {
			t.Fatal(err)
		}
		written = append(written, batch...)
	}
	return written
}

// delivery is one request a receiver got.
type delivery struct {
	ev      hooks.Event
	body    string
	header  http.Header
	signed  bool // the signature is the secret's, computed here from scratch
	from    string
	arrived time.Time
}

// receiver is a CRM's endpoint: it records every request and answers as
// its mode says.
type receiver struct {
	mu       sync.Mutex
	seen     []delivery // every request, at its arrival
	accepted []delivery // those answered 2xx, when answered
	mode     string     // "ok", "503", "slow once" (sleeps past the timeout, then 200)
	slow     time.Duration
	hold     time.Duration // how long an ok request takes
	inFlight map[string]int
	overlaps []string // event ids that had two requests open at once
}

func newReceiver() *receiver { return &receiver{mode: "ok", inFlight: map[string]int{}} }

func (rc *receiver) setMode(m string) {
	rc.mu.Lock()
	rc.mode = m
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev hooks.Event
	_ = json.Unmarshal(b, &ev)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(b)
	dl := delivery{ev: ev, body: string(b), header: r.Header.Clone(), from: r.Header.Get("X-Test-Dispatcher"), arrived: time.Now(),
		signed: r.Header.Get("X-Fsdialer-Signature") == "sha256="+hex.EncodeToString(mac.Sum(nil))}
	rc.mu.Lock()
	rc.seen = append(rc.seen, dl)
	rc.inFlight[ev.ID]++
	if rc.inFlight[ev.ID] > 1 {
		rc.overlaps = append(rc.overlaps, ev.ID)
	}
	mode, hold := rc.mode, rc.hold
	if mode == "slow once" {
		rc.mode, hold = "ok", rc.slow
	}
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight[ev.ID]--
		rc.mu.Unlock()
	}()
	if mode == "503" {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	time.Sleep(hold)
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, dl)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (seen, accepted []delivery, overlaps []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.seen...), append([]delivery(nil), rc.accepted...), append([]string(nil), rc.overlaps...)
}

// acceptedAll reports whether every event was accepted.
func (rc *receiver) acceptedAll(events []hooks.Event) bool {
	_, accepted, _ := rc.snapshot()
	got := map[string]bool{}
	for _, d := range accepted {
		got[d.ev.ID] = true
	}
	for _, ev := range events {
		if !got[ev.ID] {
			return false
		}
	}
	return true
}

// server serves a receiver on a fixed address it can leave and come back
// to: down, connections are refused.
type server struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func startServer(t *testing.T, h http.Handler) *server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, addr: l.Addr().String(), h: h}
	s.serve(l)
	t.Cleanup(s.down)
	return s
}

func (s *server) url() string { return "http://" + s.addr + "/crm/events" }

func (s *server) serve(l net.Listener) {
	srv := &http.Server{Handler: s.h}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (s *server) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (s *server) up() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(l)
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("listen again on %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs a dispatcher until the test ends or the returned stop.
func start(t *testing.T, cfg hooks.Config) (d *hooks.Dispatcher, stop func()) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 50 * time.Millisecond
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	if cfg.Client == nil {
		cfg.Client = taggedClient(cfg.Instance)
	}
	d = hooks.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// taggedClient names the dispatcher in each request it sends (a header
// the receiver records), through the real transport.
func taggedClient(name string) *http.Client {
	return &http.Client{
		Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("X-Test-Dispatcher", name)
			return http.DefaultTransport.RoundTrip(r)
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// eventually waits, in real time, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %s is not so", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metric reads a series of a registry (0 when it has none).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		total := 0.0
		for _, m := range f.GetMetric() {
			pairs := map[string]string{}
			for _, lp := range m.GetLabel() {
				pairs[lp.GetName()] = lp.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && pairs[labels[i]] == labels[i+1]
			}
			if match {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return total
	}
	return 0
}

// checkOrder checks that each member's events were first accepted in the
// order written, that every duplicate is the same event, byte for byte,
// and that every request was signed.
func checkOrder(t *testing.T, rc *receiver, written []hooks.Event) {
	t.Helper()
	seen, accepted, _ := rc.snapshot()
	bodies := map[string]string{}
	for _, d := range seen {
		if !d.signed {
			t.Errorf("event %s: signature %q does not verify", d.ev.ID, d.header.Get("X-Fsdialer-Signature"))
		}
		if b, ok := bodies[d.ev.ID]; ok && b != d.body {
			t.Errorf("event %s sent as two bodies:\n%s\n%s", d.ev.ID, b, d.body)
		}
		bodies[d.ev.ID] = d.body
		if d.header.Get("X-Fsdialer-Event-Id") != d.ev.ID || d.header.Get("Authorization") != "Bearer crm-token" ||
			d.header.Get("Content-Type") != "application/json" || d.header.Get("X-Fsdialer-Timestamp") == "" {
			t.Errorf("event %s: headers %v", d.ev.ID, d.header)
		}
	}
	want := map[string][]string{}
	for _, ev := range written {
		want[ev.Member] = append(want[ev.Member], ev.ID)
	}
	got := map[string][]string{}
	first := map[string]bool{}
	for _, d := range accepted {
		if !first[d.ev.ID] {
			first[d.ev.ID] = true
			got[d.ev.Member] = append(got[d.ev.Member], d.ev.ID)
		}
	}
	for member, ids := range want {
		if fmt.Sprint(got[member]) != fmt.Sprint(ids) {
			t.Errorf("member %s: accepted %v, written %v", member, got[member], ids)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
