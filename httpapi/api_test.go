package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

const (
	writer = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE0NDIwMDIxNzkzNTh9" // the seed's token
	reader = "read-only-token"
)

// fixture is the API over a real redis-server, with an engine dialing the
// simulator on a fake clock.
type fixture struct {
	t     *testing.T
	url   string
	st    *store.Store
	eng   *dialer.Engine
	clk   *clock.Fake
	redis *storetest.Server
	sw    *sim.Switch // the switch's own record proves what reached it
	// engine edits the engine's configuration before it starts; agents
	// are the switch's agent phones (a scenario's agents: section).
	engine func(*dialer.Config)
	agents string
}

func newFixture(t *testing.T, edit ...func(*httpapi.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clock.NewFake(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	f.redis = storetest.StartRedis(t)
	f.st = storetest.OpenOn(t, f.redis, 500*time.Millisecond)
	f.start(edit...)
	return f
}

// newEmbeddedFixture is the fixture on the embedded Redis, as the demo
// runs.
func newEmbeddedFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clock.NewFake(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	f.st = storetest.OpenEmbedded(t)
	f.start()
	return f
}

func (f *fixture) start(edit ...func(*httpapi.Config)) {
	t := f.t
	t.Helper()
	scenario := "gateways: [{name: testDialer}, {name: gw}]\ndefault: {answer: 1, ring: 1, talk: 30}\nplayback: 5\n"
	sc, err := sim.ParseScenario([]byte(scenario + f.agents))
	if err != nil {
		t.Fatal(err)
	}
	sw := sim.New(sc, f.clk, sim.Options{})
	f.sw = sw
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	t.Cleanup(func() { sw.Close() })
	var eng *dialer.Engine
	client := esl.NewClient(esl.ClientConfig{Config: esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name: "fs1", Address: l.Addr().String(), Events: dialer.Events(), MinBackoff: 5 * time.Millisecond,
		OnState: func(n string, s esl.State, err error) { eng.HandleState(n, s, err) }})
	pool := esl.NewPool(esl.NewNode(client, 0))
	ecfg := dialer.Config{Store: f.st, Switches: dialer.PoolSwitches(pool), Clock: f.clk, Instance: "api-test"}
	if f.engine != nil {
		f.engine(&ecfg)
	}
	eng = dialer.New(ecfg)
	f.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go pool.Run(ctx)
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg := httpapi.Config{Engine: eng, Store: f.st, Clock: f.clk, Tokens: []string{writer}, ReadTokens: []string{reader},
		PublicHealth: true, PublicMetrics: true, MaxBody: 1 << 20, Ready: f.st.Ping}
	for _, e := range edit {
		e(&cfg)
	}
	srv := httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(srv.Close)
	f.url = srv.URL
}

// response is a decoded answer.
type response struct {
	code int
	raw  string
	body struct {
		Status string             `json:"status"`
		Data   json.RawMessage    `json:"data"`
		Total  *int64             `json:"total"`
		Next   string             `json:"next"`
		Error  string             `json:"error"`
		Fields []store.FieldError `json:"fields"`
	}
}

func (f *fixture) call(method, path, token, contentType, body string) *response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Access-Token", token)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &response{code: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil && resp.Header.Get("Content-Type") == "application/json" {
		f.t.Fatalf("%s %s: answer is not JSON: %s", method, path, b)
	}
	return r
}

func (f *fixture) do(method, path, body string) *response {
	f.t.Helper()
	return f.call(method, path, writer, "", body)
}

// want checks the status code; on a mismatch it shows the answer.
func (r *response) want(t *testing.T, code int) *response {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	return r
}

func (r *response) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body.Data, v); err != nil {
		t.Fatalf("data %s: %v", r.body.Data, err)
	}
}

// insertedID returns the id of an insert answer.
func (r *response) insertedID(t *testing.T) string {
	t.Helper()
	var ins struct {
		Result        struct{ OK, N int }
		Ops           []any
		InsertedCount int
		InsertedIDs   []string `json:"insertedIds"`
	}
	r.data(t, &ins)
	if r.body.Status != "OK" || ins.Result.OK != 1 || ins.InsertedCount != 1 || len(ins.InsertedIDs) != 1 || ins.Ops == nil {
		t.Fatalf("not the seed's insert answer: %s", r.raw)
	}
	return ins.InsertedIDs[0]
}

// fieldsNamed reports whether a 422 answer names every field.
func (r *response) names(t *testing.T, fields ...string) {
	t.Helper()
	for _, f := range fields {
		found := false
		for _, fe := range r.body.Fields {
			if fe.Field == f {
				found = true
			}
		}
		if !found {
			t.Errorf("the answer does not name %q: %s", f, r.raw)
		}
	}
}

// minimal is a valid voice broadcast campaign.
const minimal = `{"name":"b","type":"Voice Broadcasting","parameters":{"limit":5,"minBillSec":3,"maxTryCount":2,"intervalTryCount":60},
 "resources":[{"dialledNumber":"^\\+?(\\d+)$","destinations":[{"gwName":"gw","dialString":"$1","enabled":true}]}],
 "broadcast":{"file":"/msg.wav"}}`

func (f *fixture) campaign() string {
	f.t.Helper()
	return f.do("POST", "/api/v2/dialer", minimal).want(f.t, 200).insertedID(f.t)
}

// runUntil moves the fake clock in small steps until cond holds.
func (f *fixture) runUntil(what string, max time.Duration, cond func() bool) {
	f.t.Helper()
	const step = 100 * time.Millisecond
	for spent := time.Duration(0); spent <= max; spent += step {
		if cond() {
			return
		}
		f.clk.Advance(step)
		time.Sleep(2 * time.Millisecond)
	}
	f.t.Fatalf("after %v of simulated time: %s is not so", max, what)
}

// awaitingResults adds members (each given by its numbers) to a running
// campaign that waits 10 minutes for call results, and returns once each
// had its call answered and awaits its result.
func (f *fixture) awaitingResults(members ...string) (camp string, ids []string) {
	f.t.Helper()
	body := strings.Replace(minimal, `"intervalTryCount":60`, `"intervalTryCount":60,"waitingForResultStatus":true,"wrapUpTime":600`, 1)
	camp = f.do("POST", "/api/v2/dialer", body).want(f.t, 200).insertedID(f.t)
	for i, numbers := range members {
		comms := []string{}
		for _, n := range strings.Split(numbers, ",") {
			comms = append(comms, `{"number":"`+n+`"}`)
		}
		ids = append(ids, f.do("POST", "/api/v2/dialer/"+camp+"/members",
			fmt.Sprintf(`{"name":"r%d","communications":[%s]}`, i, strings.Join(comms, ","))).want(f.t, 200).insertedID(f.t))
	}
	f.do("PUT", "/api/v2/dialer/"+camp+"/state/1", "").want(f.t, 200)
	f.runUntil("every member awaits its call result", 2*time.Minute, func() bool {
		for _, id := range ids {
			if _, st, err := f.st.GetMember(context.Background(), camp, id); err != nil || st != store.MemberResult {
				return false
			}
		}
		return true
	})
	return camp, ids
}
