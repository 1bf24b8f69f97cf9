package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

func TestConfigFromFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dialerd.yaml")
	os.WriteFile(path, []byte(`
redis: {url: "redis://10.0.0.5:6379/2"}
freeswitch:
  nodes:
    - {name: fs1, address: "10.0.0.10:8021", password: secret, capacity: 300}
    - {address: "10.0.0.11:8021"}
dialer: {region: UA}
`), 0o600)
	t.Setenv("DIALER_API_TOKENS", "a, b")
	t.Setenv("DIALER_HTTP_LISTEN", "0.0.0.0:9000")
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	n := c.FreeSWITCH.Nodes
	if c.Redis.URL != "redis://10.0.0.5:6379/2" || len(n) != 2 || n[0].Capacity != 300 || n[1].Name != "10.0.0.11:8021" || n[1].Password != "ClueCon" ||
		strings.Join(c.API.Tokens, "|") != "a|b" || c.HTTP.Listen != "0.0.0.0:9000" || c.Dialer.Region != "UA" || c.Dialer.Tick != 200*time.Millisecond {
		t.Fatalf("config %+v", c)
	}
}

// TestSampleConfig: deploy/dialerd.yaml, the documented sample, loads and
// says what the defaults say.
func TestSampleConfig(t *testing.T) {
	c, err := loadConfig("../../deploy/dialerd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d Config
	v := viper.New()
	defaults(v)
	if err := v.Unmarshal(&d); err != nil {
		t.Fatal(err)
	}
	d.FreeSWITCH = c.FreeSWITCH
	if fmt.Sprintf("%+v", *c) != fmt.Sprintf("%+v", d) { // [] and nil lists alike
		t.Fatalf("the sample's values differ from the defaults:\n%+v\n%+v", c, d)
	}
	if n := c.FreeSWITCH.Nodes; len(n) != 1 || n[0].Address != "127.0.0.1:8021" {
		t.Fatalf("nodes %+v", n)
	}
}

func TestSentinelAddressesReplaceTheURL(t *testing.T) {
	t.Setenv("DIALER_REDIS_ADDRS", "10.0.0.1:26379,10.0.0.2:26379")
	t.Setenv("DIALER_REDIS_MASTER_NAME", "dialer")
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.URL != "" || len(c.Redis.Addrs) != 2 || c.Redis.MasterName != "dialer" {
		t.Fatalf("redis %+v", c.Redis)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"freeswitch: {nodes: [{name: a}]}", "freeswitch.nodes[0].address"},
		{"freeswitch: {nodes: [{name: a, address: x}, {name: a, address: y}]}", "freeswitch.nodes[1].name"},
		{"dialer: {tick: 2s}", "dialer.tick"},
		{"dialer: {lease_ttl: 1s}", "dialer.lease_ttl"},
		{"dialer: {calls_per_second: 0}", "dialer.calls_per_second"},
		{"dialer: {calls_per_second: .nan}", "dialer.calls_per_second"},
		{"freeswitch: {nodes: [{address: x, calls_per_second: .inf}]}", "freeswitch.nodes[0].calls_per_second"},
		{"dialer: {time_scale: 0}", "dialer.time_scale"},
		{"dialer: {time_scale: -2}", "dialer.time_scale"},
		{"dialer: {predictive_pacing: fastest}", "dialer.predictive_pacing"},
		{"dialer: {time_scale: 20, time_origin: yesterday}", "dialer.time_origin"},
		{"dialer: {time_scale: 20, time_origin: '2999-01-01T00:00:00Z'}", "dialer.time_origin"},
		{"dialer: {time_scale: 50, time_origin: '1900-01-01T00:00:00Z'}", "dialer.time_origin"},
		{"http: {max_body: lots}", "http.max_body"},
		{"log: {level: loud}", "log.level"},
		{"redis: [", "config"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(tc.yaml), 0o600)
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}

// demo is "dialerd demo" running in the test.
type demo struct {
	addr string
	out  *syncbuf.Buffer
	stop func() error // cancels the demo, waits for it to end
}

func startDemo(t *testing.T, members int, flags ...string) *demo {
	t.Helper()
	d := &demo{out: &syncbuf.Buffer{}}
	t.Setenv("DIALER_API_TOKENS", "demo-token")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"demo", "-listen", "127.0.0.1:0", "-time-scale", "50", "-members", fmt.Sprint(members), "-report", "200ms"}, flags...)
	go func() { done <- run(ctx, args, d.out, d.out) }()
	var once sync.Once
	var err error
	d.stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("demo ended with %v", err)
		}
	})
	api := regexp.MustCompile(`REST API  http://([^/]+)/`)
	waitFor(t, "the demo's banner", d.out, func(out string) bool {
		if m := api.FindStringSubmatch(out); m != nil {
			d.addr = m[1]
			return true
		}
		return false
	})
	waitFor(t, "the demo to be ready", d.out, func(string) bool { code, _ := d.do("GET", "/readyz", nil); return code == 200 })
	return d
}

// waitFor waits until ok holds; the deadline only ends a test that hangs.
func waitFor(t *testing.T, what string, out interface{ String() string }, ok func(out string) bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !ok(out.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; output:\n%s", what, out.String())
		}
	}
}

func (d *demo) do(method, path string, body io.Reader) (int, string) {
	req, _ := http.NewRequest(method, "http://"+d.addr+path, body)
	req.Header.Set("X-Access-Token", "demo-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemo runs "dialerd demo" as make run does (faster, smaller): it
// prints its token, progress with an estimate of the time left, says when
// the campaign finished with a summary, and then keeps serving the API
// until it is stopped.
func TestDemo(t *testing.T) {
	d := startDemo(t, 30)
	waitFor(t, "the campaign to finish", d.out, func(out string) bool { return strings.Contains(out, "Ctrl-C stops it") })
	out := d.out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`X-Access-Token: demo-token`),
		regexp.MustCompile(`(?m)^demo \+\d:\d\d:\d\d  done \d+/30  placed \d+  answered \d+  in flight \d+  [\d.]+ calls/s  (about \d+:\d\d:\d\d left \(\S+ real\)|time left: not known yet)$`),
		regexp.MustCompile(`(?m)^           agents \d+: .*occupancy \d+%  [\d.]+ calls per agent-hour$`),
		regexp.MustCompile(`(?m)^           abandoned \d+ of \d+ live answers: [\d.]+% 1h, [\d.]+% 24h, [\d.]+% 30d  connected within 2 s: (\d+%|-)$`),
		regexp.MustCompile(`(?m)^demo \+\d:\d\d:\d\d  the campaign finished after \S+ of simulated time \(\S+ real\)$`),
		regexp.MustCompile(`(?m)^  members   30 done: [A-Z_]+ \d+`),
		regexp.MustCompile(`(?m)^  calls     \d+, answered \d+ \(\d+%\), mean talk \S+$`),
		regexp.MustCompile(`The REST API stays up at http://` + regexp.QuoteMeta(d.addr) + `/api/v2/dialer .*; Ctrl-C stops it\.`),
	} {
		if !want.MatchString(out) {
			t.Errorf("no line like %s in:\n%s", want, out)
		}
	}
	code, body := d.do("GET", "/api/v2/dialer", nil)
	if code != 200 || !strings.Contains(body, "Demo predictive") || !strings.Contains(body, `"state":"finished"`) {
		t.Fatalf("the API after the campaign finished: %d %s", code, body)
	}
	if _, metrics := d.do("GET", "/metrics", nil); !strings.Contains(metrics, "dialer_calls_placed_total{campaign=") {
		t.Fatalf("no calls placed:\n%s", d.out.String())
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if out := d.out.String(); !strings.HasSuffix(out, "Goodbye.\n") {
		t.Fatalf("no goodbye at the end:\n%s", out)
	}
}

// TestDemoExitsWhenDone: with -exit-when-done the demo ends by itself,
// without an error, after the summary; with its agents rung for each call
// and in sessions.
func TestDemoExitsWhenDone(t *testing.T) {
	t.Setenv("DIALER_API_TOKENS", "demo-token")
	for _, reach := range []string{"ring", "session"} {
		t.Run(reach, func(t *testing.T) {
			var out syncbuf.Buffer
			err := run(context.Background(), []string{"demo", "-listen", "127.0.0.1:0", "-time-scale", "50", "-members", "5", "-agents", "3",
				"-reach", reach, "-report", "200ms", "-exit-when-done"}, &out, &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			got := out.String()
			for _, want := range []string{"3 agents (reach " + reach + ")", "the campaign finished", "  members   5 done: ", "  calls     ",
				"stopped, as -exit-when-done asks. Goodbye.\n"} {
				if !strings.Contains(got, want) {
					t.Errorf("no %q in:\n%s", want, got)
				}
			}
			if strings.Contains(got, "Ctrl-C stops it") {
				t.Errorf("it offers to keep serving although it exits:\n%s", got)
			}
		})
	}
}

// TestShutdownFinishesRequestsInFlight: a CSV upload still arriving when
// the daemon is told to stop is read to its end and answered, and then the
// daemon stops.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	d := startDemo(t, 10)
	_, body := d.do("GET", "/api/v2/dialer", nil)
	var list struct {
		Data []struct {
			ID   string `json:"_id"`
			Name string `json:"name"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Data) != 2 {
		t.Fatalf("campaigns: %v %s", err, body)
	}
	demo := list.Data[0].ID
	if list.Data[0].Name == demoCallsCampaign {
		demo = list.Data[1].ID
	}
	pr, pw := io.Pipe()
	answer := make(chan string, 1)
	go func() {
		code, body := d.do("POST", "/api/v2/dialer/"+demo+"/members/csv?columns=name,number", pr)
		answer <- fmt.Sprint(code, " ", body)
	}()
	const lines = 200
	for i := range lines {
		if i == lines/2 {
			time.Sleep(100 * time.Millisecond) // the handler is reading by now
			go d.stop()
			time.Sleep(100 * time.Millisecond) // the shutdown has begun
		}
		fmt.Fprintf(pw, "late %d,+38099%07d\n", i, i)
	}
	pw.Close()
	if got := <-answer; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, fmt.Sprintf(`"insertedCount":%d`, lines)) {
		t.Fatalf("the upload in flight: %.300s", got)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if code, _ := d.do("GET", "/healthz", nil); code != 0 {
		t.Fatalf("a request after the shutdown was answered %d", code)
	}
}

// TestEngineOptions: the engine's options are configuration keys, read
// from the file and the environment.
func TestEngineOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want func(c dialer.Config) bool
	}{
		{"defaults", "", nil, func(c dialer.Config) bool {
			return c.CallsPerSecond == 20 && !c.NoEndRecords && c.NodeCallsPerSecond == nil && c.LeaseTTL == 60*time.Second
		}},
		{"from the file", `
dialer: {calls_per_second: 12.5, end_records: false, lease_ttl: 20s}
freeswitch:
  nodes:
    - {name: fs1, address: "10.0.0.10:8021", calls_per_second: 5}
    - {name: fs2, address: "10.0.0.11:8021"}
    - {name: fs3, address: "10.0.0.12:8021", calls_per_second: -1}
`, nil, func(c dialer.Config) bool {
			return c.CallsPerSecond == 12.5 && c.NoEndRecords && c.LeaseTTL == 20*time.Second &&
				len(c.NodeCallsPerSecond) == 2 && c.NodeCallsPerSecond["fs1"] == 5 && c.NodeCallsPerSecond["fs3"] == -1
		}},
		{"from the environment", "", map[string]string{"DIALER_DIALER_CALLS_PER_SECOND": "-1", "DIALER_DIALER_END_RECORDS": "false"},
			func(c dialer.Config) bool { return c.CallsPerSecond == -1 && c.NoEndRecords }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			path := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			if c := engineConfig(cfg, dialer.Config{}); !tc.want(c) {
				t.Fatalf("engine config %+v", c)
			}
		})
	}
}

// TestTimeScale: dialer.time_scale speeds the daemon's clock up, and a
// dialer restarted with the same dialer.time_origin goes on from the time
// its predecessor had reached instead of starting again from the real time.
func TestTimeScale(t *testing.T) {
	var real Config
	real.Dialer.TimeScale = 1
	if _, ok := daemonClock(&real).(clock.Real); !ok {
		t.Fatal("time_scale 1 is not the real clock")
	}
	origin := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	t.Setenv("DIALER_DIALER_TIME_SCALE", "20")
	t.Setenv("DIALER_DIALER_TIME_ORIGIN", origin.Format(time.RFC3339Nano))
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	// Two starts of the dialer, one after the other.
	for range 2 {
		before := time.Now()
		now := daemonClock(cfg).Now()
		after := time.Now()
		lo, hi := origin.Add(20*before.Sub(origin)), origin.Add(20*after.Sub(origin))
		if now.Before(lo) || now.After(hi) {
			t.Fatalf("the clock says %s, want between %s and %s (200 s and more after the origin)", now, lo, hi)
		}
	}
}

// TestDemoClickToCall: the banner's click-to-call command works as
// printed, while the demo campaign has more calls on the gateway than the
// calls campaign's own limit would allow (the gateway's limit is one):
// the desk agent's phone rings, then the destination's.
func TestDemoClickToCall(t *testing.T) {
	d := startDemo(t, 200)
	inFlight := regexp.MustCompile(`in flight (\d+)`)
	waitFor(t, "11 calls in flight (the calls campaign's limit is 10)", d.out, func(out string) bool {
		for _, m := range inFlight.FindAllStringSubmatch(out, -1) {
			if n, _ := strconv.Atoi(m[1]); n >= 11 {
				return true
			}
		}
		return false
	})
	m := regexp.MustCompile(`call +curl .* -d '([^']+)' http://[^/]+(/api/calls)`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no click-to-call line in the banner:\n%s", d.out.String())
	}
	var code int
	var body string
	waitFor(t, "the call placed", d.out, func(string) bool {
		code, body = d.do("POST", m[2], strings.NewReader(m[1]))
		return code != http.StatusServiceUnavailable || !strings.Contains(body, "does not run") // the calls campaign starting
	})
	var out struct{ ID string }
	if err := json.Unmarshal([]byte(body), &out); code != 200 || err != nil || out.ID == "" {
		t.Fatalf("click-to-call: %d %s", code, body)
	}
	// The desk agent is on that call now: a second one is refused.
	if code, body := d.do("POST", m[2], strings.NewReader(strings.Replace(m[1], "4567", "4568", 1))); code != http.StatusConflict || !strings.Contains(body, "desk") {
		t.Errorf("a second call for the desk agent: %d %s", code, body)
	}
}

// TestSeedRequestsAgainstTheDemo replays the seeds' example requests
// (testdata/seeds) against the demo, as an integrator copying them would,
// with real ids substituted and the seed's syntax slips repaired where the
// verbatim request is refused (the httpapi tests check those refusals): a
// campaign of every type from seed 003's, updated and started with
// state/1; seed 002's and 003's members and 004's items; the call
// results; the terminate; the agents' list and one agent (004 §1); and
// 004's click-to-call. Every answer is the seed's envelope, or the error
// it should be.
func TestSeedRequestsAgainstTheDemo(t *testing.T) {
	d := startDemo(t, 10)
	seed := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "seeds", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	call := func(method, path, body string, want ...int) string {
		t.Helper()
		code, out := d.do(method, path, strings.NewReader(body))
		if !slices.Contains(want, code) {
			t.Fatalf("%s %s: %d %s, want %v", method, path, code, out, want)
		}
		return out
	}
	id := func(out string) string {
		t.Helper()
		var r struct {
			Data struct {
				InsertedIDs []string `json:"insertedIds"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Data.InsertedIDs) != 1 {
			t.Fatalf("no id in %s", out)
		}
		return r.Data.InsertedIDs[0]
	}
	cal := id(call("POST", "/api/v2/calendars", `{"name":"WorksDay","timezone":"Europe/Kyiv","week":[{"day":1,"startTime":0,"endTime":1440},{"day":2,"startTime":0,"endTime":1440},{"day":3,"startTime":0,"endTime":1440},{"day":4,"startTime":0,"endTime":1440},{"day":5,"startTime":0,"endTime":1440},{"day":6,"startTime":0,"endTime":1440},{"day":7,"startTime":0,"endTime":1440}]}`, 200))
	campaign := strings.NewReplacer(`"^\+\d{8,11}\$"`, `"^\\+\\d{8,11}$"`, `"0\$1"`, `"0$1"`, "594225b53c1956000b41db7b", cal, `"testDialer"`, `"subscribers"`).Replace(seed("003-campaign.json"))
	call("POST", "/api/v2/dialer", seed("003-campaign.json"), 400)
	var campaigns []string
	for _, typ := range []string{"Predictive Dialer", "Progressive Dialer", "Preview Dialer", "Voice Broadcasting"} {
		body := strings.Replace(campaign, `"Predictive Dialer"`, `"`+typ+`"`, 1)
		if typ == "Voice Broadcasting" {
			body = strings.Replace(body, `"name" : "myPredictiveDialer",`, `"name" : "myBroadcast", "broadcast": {"file": "/usr/share/freeswitch/sounds/demo-message.wav"},`, 1)
		}
		c := id(call("POST", "/api/v2/dialer", body, 200))
		call("PUT", "/api/v2/dialer/"+c, strings.Replace(body, `"waitingForResultStatus" : true`, `"waitForResultStatus" : true`, 1), 200)
		out := call("PUT", "/api/v2/dialer/"+c+"/state/1", "", 200)
		if !strings.Contains(out, `"state":"running"`) {
			t.Errorf("%s after state/1: %s", typ, out)
		}
		campaigns = append(campaigns, c)
	}
	pred := campaigns[0]
	member := id(call("POST", "/api/v2/dialer/"+pred+"/members?autoRun=true", seed("003-member.json"), 200))
	call("GET", "/api/v2/dialer/"+pred+"/members/"+member, "", 200)
	call("POST", "/api/v2/dialer/"+pred+"/members?autoRun=true", seed("002-member.json"), 200)
	call("POST", "/api/v2/dialer/"+pred+"/members", seed("004-items.json"), 200) // each item refused, by field
	items := strings.NewReplacer(`"expire_at": "string"`, `"expire_at": "2030-01-01"`).Replace(seed("004-items.json"))
	for _, n := range []string{"+380501110001", "+380501110002", "+380501110003", "+380501110004"} {
		items = strings.Replace(items, `"destination": "Destination"`, `"destination": "`+n+`"`, 1)
	}
	if out := call("POST", "/api/v2/dialer/"+pred+"/members", items, 200); !strings.Contains(out, `"insertedCount":2`) {
		t.Errorf("004 items: %s", out)
	}
	// A call result answers a call: 409 while the member has none, the
	// result applied (its other members' numbers ignored) once it has.
	call("PUT", "/api/v2/dialer/"+pred+"/members/"+member+"/status", seed("002-status.json"), 400)
	status := strings.Replace(seed("003-status.json"), `"next_communication": "380910000000",`, "", 1)
	call("PUT", "/api/v2/dialer/"+pred+"/members/"+member+"/status", status, 200, 409)
	out := call("PUT", "/api/v2/dialer/"+pred+"/members/"+member+"/terminate", "", 200, 409)
	if strings.Contains(out, `"status":"OK"`) && !strings.Contains(out, "TERMINATED") {
		t.Errorf("terminate: %s", out)
	}
	// 004 §1: the agents, and one of them; §3: click-to-call.
	if out := call("GET", "/api/v2/callcenter/agent", "", 200); !strings.Contains(out, `"id":"desk"`) {
		t.Errorf("agents: %s", out)
	}
	call("GET", "/api/v2/callcenter/agent/desk", "", 200)
	call("POST", "/api/calls", seed("004-call.json"), 422) // its placeholders: not a number, no such agent
	clickToCall := strings.NewReplacer(`"Destination number"`, `"+380501234567"`, `"Agent's Extension"`, `"`+demoDeskExtension+`"`).Replace(seed("004-call.json"))
	for {
		code, out := d.do("POST", "/api/calls", strings.NewReader(clickToCall))
		if code == http.StatusServiceUnavailable {
			time.Sleep(20 * time.Millisecond) // the calls campaign starting
			continue
		}
		if code != 200 || !strings.HasPrefix(out, `{"id":"`) {
			t.Fatalf("click-to-call: %d %s", code, out)
		}
		break
	}
	for _, c := range campaigns {
		call("GET", "/api/v2/dialer/"+c+"/stats", "", 200)
		call("PUT", "/api/v2/dialer/"+c+"/state/0", "", 200)
	}
}
