package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/internal/tcpproxy"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// The run's knobs, from the environment so make can set them:
//
//	CHAOS=full      the full run (make chaos); default the short one (make test)
//	CHAOS_SEED=N    replay a run's faults and the simulator's draws; default
//	                1 for the short run, random for the full one (printed)
//	CHAOS_DIR=DIR   keep the run's files (logs, ledger, AOF) under DIR
const (
	envSize = "CHAOS"
	envSeed = "CHAOS_SEED"
	envDir  = "CHAOS_DIR"
)

// size is how big a run is.
type size struct {
	name                                 string
	members                              int
	limit                                int // the campaign's calls at once
	dialerKills, eslDrops, redisRestarts int
	// redisDown bounds how long Redis stays down after a kill, redisUp
	// how long it runs before the next. The short run keeps every outage
	// within a lease (20 s of the dialer's clock, then 30 s up: each lease
	// is renewed between outages), so none lapses while its dialer lives:
	// a lapse reaches the defect TestEndRecordOutlivesALostWrite shows,
	// and make test must pass until it is fixed. The full run's outages
	// reach 60 s, a lease, and come back to back.
	redisDown, redisUp time.Duration
	// dialerDown bounds how long dialerd stays down after a kill (0: 2 s),
	// dialerUp how long it runs before the next. The agents' short run
	// keeps a dialer's absence within a lease (1.5 s down, then up 1.5 s,
	// about 2 s in all with its start-up, below the 3 s of a 60 s lease):
	// a longer one reaches the defect TestAdoptedAgentLegRungAgain shows.
	dialerDown, dialerUp time.Duration
	// deadline guards against a run that hangs; it is far above the time
	// a run takes (the short one about 25 s, the full one about 2 min).
	deadline time.Duration
	// channelsPerMember is how many channels the switch makes for a
	// member, about, at the least: the faults fall within that many per
	// member (0: 1), so the campaign is still running at the last.
	channelsPerMember float64
	// stall is how long the switch may make no channel before the run is
	// taken for stuck: its dialer's metrics and goroutines are dumped and
	// the run fails. 0: 3 minutes.
	stall time.Duration
}

func sizeOf(name string) (size, bool) {
	switch name {
	case "", "short":
		return size{name: "short", members: 300, limit: 40, dialerKills: 3, eslDrops: 3, redisRestarts: 3,
			redisDown: time.Second, redisUp: 1500 * time.Millisecond, deadline: 5 * time.Minute}, true
	case "full":
		return size{name: "full", members: 3000, limit: 60, dialerKills: 20, eslDrops: 20, redisRestarts: 5,
			redisDown: 3 * time.Second, deadline: 45 * time.Minute}, true
	}
	return size{}, false
}

// timeScale speeds up the simulator and the dialer alike: a call of 20 s
// takes one real second, the dialer's 60 s leases three.
const timeScale = 20

// minBillSec is the campaign's: an answered call billed this long reached
// its member.
const minBillSec = 5

// The switch's world: 68 % of calls answer and hear a message of 3 to 33
// s (some too short to count), 20 % are busy, 2 % rejected (an Error
// cause: the member ends), the rest ring out. Ringing and messages take
// long enough that every fault finds calls in progress, and some end while
// the dialer or its socket is away. The gateway takes 12 new calls a
// second and the switch 15 sessions: the bursts of a restarted dialer
// (20 a second) meet congestion (a channel that fails at once) and
// refused originates (no channel at all).
const scenario = `
gateways: [{name: gw, cps: 12}]
sessions_per_second: 15
playback: {dist: uniform, mean: 18, spread: 15}
default:
  answer: 0.68
  busy: 0.2
  reject: 0.02
  ring: {dist: uniform, mean: 3, spread: 2}
  talk: 300
`

const token = "chaos-token"

// TestChaos runs a broadcast campaign through the real dialerd, fsim over
// ESL and a redis-server with AOF, while it kills dialerd (SIGKILL) and
// starts it again, cuts its event socket, and kills and restarts Redis,
// each at random moments. Then it holds the dialer's records against the
// simulator's ledger (Verify): no number with two live channels at once,
// every member finished, every channel recorded once with the switch's
// cause and bill time, none dialed again after a call that reached it,
// the attempts counted equal to the channels made.
func TestChaos(t *testing.T) {
	sz, ok := sizeOf(os.Getenv(envSize))
	if !ok {
		t.Fatalf("%s=%q: want short or full", envSize, os.Getenv(envSize))
	}
	seed := runSeed(t, sz.name == "full")
	t.Logf("chaos run %s, seed %d (replay: %s=%s %s=%d)", sz.name, seed, envSize, sz.name, envSeed, seed)
	began := time.Now()
	r := newRun(t, sz, seed)
	r.setUp()
	chaosStart := time.Now()
	r.runFaults(r.plan())
	r.finish()
	took := time.Since(chaosStart)

	rec := r.recorded()
	led := r.ledger()
	rep := Verify(led, rec)
	ends := r.fromLogs()
	r.report(led, rep, ends, seed, took, time.Since(began))
	r.checkEnd(len(rec.Members), sz.members, rep.Problems())
	if ends.byRecord == 0 {
		t.Error("no call ended while the dialer or its socket was away: the run proves less than it claims")
	}
	if ends.races > 0 || ends.panics > 0 {
		t.Errorf("dialerd logged %d data races and %d panics (see %s)", ends.races, ends.panics, r.dir)
	}
	if t.Failed() && os.Getenv(envDir) == "" {
		t.Logf("the run's files are gone with the test; keep them with %s=DIR", envDir)
	}
}

// checkEnd fails the test for what every run must end with: each member
// uploaded in the store, no problem the verifier found (the first 40
// shown), no dialerd that ended by itself.
func (r *run) checkEnd(stored, uploaded int, problems []string) {
	t := r.t
	if stored != uploaded {
		t.Errorf("%d members in the store, %d uploaded", stored, uploaded)
	}
	for _, p := range limit(problems, 40) {
		t.Error(p)
	}
	for _, c := range r.crashes {
		t.Errorf("dialerd ended by itself: %s", c)
	}
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}

// run is one chaos run: its processes and what befell them.
type run struct {
	t        *testing.T
	size     size
	seed     uint64
	scenario string    // fsim's world
	origin   time.Time // where dialerd's sped-up clock shows the real time
	rng      *rand.Rand
	dir      string
	redis    *redisServer
	redisURL string // when set, the Redis to use instead of a redis-server of the run's own
	// dialerBin and fsimBin, when set, are the programs, built once for
	// several runs.
	dialerBin, fsimBin string
	// dialerConfig adds keys to dialerd's dialer section (", key: value").
	dialerConfig string
	fs           *fsim
	proxy        *tcpproxy.Proxy
	d            *dialerd
	api          string
	tail         *ledgerTail
	st           *store.Store // the harness's own client: watching and the final check
	camp         string

	kills, drops, restarts int
	refusals               int      // dialerd exits at start-up while Redis was down
	crashes                []string // dialerd exits nobody caused
	windows                []window // each fault applied, in real time

	// simAt and simReal tie fsim's sped-up clock to the real one: the
	// switch's time simAt was the real time simReal (calibrate).
	simAt, simReal time.Time
}

// window is a fault in real time: when it struck and when what it broke
// was back (dialerd started again, the socket let through, Redis
// answering PING).
type window struct {
	kind       string
	start, end time.Time
}

func newRun(t *testing.T, sz size, seed uint64) *run {
	dir := t.TempDir()
	if keep := os.Getenv(envDir); keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if dir, err = os.MkdirTemp(keep, fmt.Sprintf("chaos-%s-seed%d-", sz.name, seed)); err != nil {
			t.Fatal(err)
		}
		t.Logf("the run's files: %s", dir)
	}
	return &run{t: t, size: sz, seed: seed, scenario: scenario, rng: rand.New(rand.NewPCG(seed, 0x5eed)), dir: dir}
}

// setUp builds and starts everything, creates the campaign and its members
// through the REST API and starts it.
func (r *run) setUp() {
	r.startProcesses("")
	r.broadcast()
}

// startProcesses builds and starts Redis, fsim, the proxy and dialerd, with
// extra lines for dialerd's configuration, and waits until it is ready.
func (r *run) startProcesses(extraConfig string) {
	t := r.t
	dialerBin, fsimBin := r.dialerBin, r.fsimBin
	if dialerBin == "" {
		bins := filepath.Join(r.dir, "bin")
		dialerBin = build(t, bins, "cmd/dialerd", raceBuild)
		fsimBin = build(t, bins, "cmd/fsim", false)
	}

	redisURL := r.redisURL // a Sentinel set or a cluster the test runs
	if redisURL == "" {
		r.redis = &redisServer{port: freePort(t), dir: filepath.Join(r.dir, "redis"), log: filepath.Join(r.dir, "redis.log")}
		if err := os.MkdirAll(r.redis.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.redis.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.redis.kill)
		redisURL = r.redis.url()
	}
	st, err := store.Open(context.Background(), store.Config{URL: redisURL, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	t.Cleanup(func() { st.Close() })

	r.fs, err = startFsim(fsimBin, r.dir, r.scenario, r.seed, timeScale)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.fs.stop)
	r.tail = &ledgerTail{path: filepath.Join(r.dir, "ledger.jsonl")}
	r.calibrate()
	if r.proxy, err = tcpproxy.New(r.fs.addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.proxy.Close)

	r.api = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.origin = time.Now().UTC()
	// One origin for every incarnation's sped-up clock: a restarted
	// dialer goes on from the time its predecessor had reached.
	config := fmt.Sprintf(`instance: chaos
redis: {url: %q, timeout: 1s}
freeswitch: {nodes: [{name: fs1, address: %q, password: ClueCon}]}
http: {listen: %q, shutdown_timeout: 5s}
api: {tokens: [%s]}
dialer: {time_scale: %d, time_origin: %q%s}
log: {level: info}
`, redisURL, r.proxy.Addr(), r.api, token, timeScale, r.origin.Format(time.RFC3339Nano), r.dialerConfig) + extraConfig
	configPath := filepath.Join(r.dir, "dialerd.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r.d = &dialerd{bin: dialerBin, config: configPath, dir: r.dir}
	if err := r.d.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.d.kill)
	r.waitFor("dialerd to be ready", time.Minute, func() bool {
		code, _ := r.call("GET", "/readyz", nil)
		return code == 200
	})
}

// broadcast creates the broadcast campaign and its members through the
// REST API and starts it.
func (r *run) broadcast() {
	t := r.t
	r.camp = r.createCampaign(broadcastCampaign("chaos", r.size.limit, r.size.limit))
	items := make([]any, r.size.members)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprintf("member %d", i), "communications": []any{map[string]any{"number": fmt.Sprintf("+38050%07d", i)}}}
	}
	var added struct {
		Data struct {
			InsertedCount int `json:"insertedCount"`
		} `json:"data"`
	}
	r.mustCall("POST", "/api/v2/dialer/"+r.camp+"/members", map[string]any{"items": items}, &added)
	if added.Data.InsertedCount != r.size.members {
		t.Fatalf("%d members inserted of %d", added.Data.InsertedCount, r.size.members)
	}
	r.mustCall("PUT", "/api/v2/dialer/"+r.camp+"/state/1", nil, nil)
}

// campaignBody is a campaign of kind (named name) whose members' numbers
// go out through gateway gw, at most limit calls at once, gatewayLimit
// on the gateway, each member tried 3 times 30 s apart.
func campaignBody(name, kind string, limit, gatewayLimit int) map[string]any {
	return map[string]any{
		"name": name, "type": kind,
		"parameters": map[string]any{"limit": limit, "minBillSec": minBillSec, "originateTimeout": 15,
			"maxTryCount": 3, "intervalTryCount": 30},
		"resources": []any{map[string]any{"dialledNumber": `^\+(\d+)$`, "destinations": []any{
			map[string]any{"gwProto": "sip", "gwName": "gw", "dialString": "$1", "order": 1, "limit": gatewayLimit, "enabled": true}}}},
	}
}

// broadcastCampaign is campaignBody's voice broadcast of the chaos message.
func broadcastCampaign(name string, limit, gatewayLimit int) map[string]any {
	camp := campaignBody(name, "Voice Broadcasting", limit, gatewayLimit)
	camp["broadcast"] = map[string]any{"file": "/var/lib/fsdialer/messages/chaos.wav"}
	return camp
}

// createCampaign creates camp through the REST API and returns its id.
func (r *run) createCampaign(camp map[string]any) string {
	var created struct {
		Data struct {
			InsertedIDs []string `json:"insertedIds"`
		} `json:"data"`
	}
	r.mustCall("POST", "/api/v2/dialer", camp, &created)
	if len(created.Data.InsertedIDs) != 1 {
		r.t.Fatalf("campaign created as %+v", created)
	}
	return created.Data.InsertedIDs[0]
}

// dialerNow is the time on dialerd's clock.
func (r *run) dialerNow() time.Time {
	return r.origin.Add(time.Duration(float64(time.Since(r.origin)) * timeScale))
}

// call makes an API request; code 0 when the dialer did not answer.
func (r *run) call(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+r.api+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("X-Access-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (r *run) mustCall(method, path string, body, out any) {
	r.t.Helper()
	code, b := r.call(method, path, body)
	if code != 200 {
		r.t.Fatalf("%s %s: %d %.500s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %v in %.500s", method, path, err, b)
		}
	}
}

// waitFor waits until ok holds; the deadline only ends a run that hangs.
func (r *run) waitFor(what string, deadline time.Duration, ok func() bool) {
	r.t.Helper()
	for end := time.Now().Add(deadline); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			r.t.Fatalf("waited %v for %s; dialerd's last lines:\n%s", deadline, what, tail(r.d.logPath(r.d.n), 30))
		}
	}
}

// fault is one thing done to the run: at is the number of channels the
// switch must have made first, delay how long after that it comes, down
// how long what it broke stays broken.
type fault struct {
	kind  string // "dialer", "esl", "redis"
	at    int
	delay time.Duration
	down  time.Duration
}

// plan draws the faults: each at a random point of the campaign (between
// 2 % and 92 % of one channel per member, so the campaign is still
// running), a moment later, down for a random while.
func (r *run) plan() []fault {
	var fs []fault
	perMember := r.size.channelsPerMember
	if perMember == 0 {
		perMember = 1
	}
	add := func(kind string, n int, minDown, maxDown time.Duration) {
		for range n {
			fs = append(fs, fault{kind: kind, at: int(float64(r.size.members) * perMember * (0.02 + 0.9*r.rng.Float64())),
				delay: time.Duration(r.rng.Int64N(int64(500 * time.Millisecond))),
				down:  minDown + time.Duration(r.rng.Int64N(int64(maxDown-minDown)))})
		}
	}
	dialerDown := r.size.dialerDown
	if dialerDown == 0 {
		dialerDown = 2 * time.Second
	}
	add("dialer", r.size.dialerKills, 0, dialerDown)
	add("esl", r.size.eslDrops, 0, 2*time.Second)
	add("redis", r.size.redisRestarts, 200*time.Millisecond, r.size.redisDown)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].at < fs[j].at })
	return fs
}

// runFaults applies the faults in order, restarts what they broke after
// its down time, as systemd would restart dialerd when it exits, and
// returns when every fault was applied and the campaign finished.
func (r *run) runFaults(faults []fault) {
	t := r.t
	var dialerBack, redisBack, eslBack time.Time
	begun := time.Now()
	last, moved := 0, time.Now()
	next := 0
	var due time.Time // when faults[next] fires, once the switch made enough channels
	checked := time.Now()
	for ; ; time.Sleep(20 * time.Millisecond) {
		now := time.Now()
		if e, ok := r.d.ended(); ok {
			// dialerd exits when Redis does not answer at its start (down,
			// or loading its AOF), and systemd starts it again; any other
			// exit, or that one while Redis was up, is a fault of its own.
			r.windows = append(r.windows, window{kind: "dialer", start: now})
			redisAway := r.redis.cmd == nil || e.started.Before(r.redis.upSince)
			if redisAway && strings.Contains(tail(e.log, 5), "cannot reach Redis") {
				r.refusals++
			} else {
				r.crashes = append(r.crashes, fmt.Sprintf("incarnation %d: %v; its last lines:\n%s", e.n, e.err, tail(e.log, 20)))
			}
			dialerBack = now.Add(300 * time.Millisecond)
		}
		if !r.d.up() && now.After(dialerBack) {
			if err := r.d.start(); err != nil {
				t.Fatal(err)
			}
			r.restored("dialer", time.Now())
		}
		if r.redis.cmd == nil && now.After(redisBack) {
			if err := r.redis.start(); err != nil {
				t.Fatal(err)
			}
			r.restored("redis", time.Now())
		}
		n := r.tail.channels()
		if n != last {
			last, moved = n, now
		}
		if next < len(faults) {
			f := faults[next]
			if due.IsZero() && n >= f.at {
				due = now.Add(f.delay)
			}
			ready := map[string]bool{"dialer": r.d.up() && now.Sub(r.d.since) >= r.size.dialerUp, "esl": now.After(eslBack),
				"redis": r.redis.cmd != nil && now.Sub(r.redis.upSince) >= r.size.redisUp}[f.kind]
			if !due.IsZero() && now.After(due) && ready {
				switch f.kind {
				case "dialer":
					r.d.kill()
					r.kills++
					dialerBack = now.Add(f.down)
				case "esl":
					r.proxy.Cut(f.down)
					r.drops++
					eslBack = now.Add(f.down)
				case "redis":
					r.redis.kill()
					r.restarts++
					redisBack = now.Add(f.down)
				}
				w := window{kind: f.kind, start: now}
				if f.kind == "esl" {
					w.end = eslBack
				}
				r.windows = append(r.windows, w)
				next, due = next+1, time.Time{}
			}
		}
		// Asked only while Redis runs: the client would log every failed dial.
		if now.Sub(checked) > 250*time.Millisecond && r.redis.cmd != nil {
			checked = now
			if c, err := r.st.GetCampaign(context.Background(), r.camp); err == nil && c.State == store.StateFinished {
				if next < len(faults) {
					t.Fatalf("the campaign finished after %d channels, before fault %d of %d (%s at %d channels)", n, next+1, len(faults), faults[next].kind, faults[next].at)
				}
				if r.d.up() && r.redis.cmd != nil && now.After(eslBack) {
					return
				}
			}
		}
		stall := r.size.stall
		if stall == 0 {
			stall = 3 * time.Minute
		}
		if now.Sub(moved) > stall || now.Sub(begun) > r.size.deadline {
			r.stalled(fmt.Sprintf("no end after %v: %d channels, the last made %v ago, %d of %d faults applied",
				now.Sub(begun).Round(time.Second), n, now.Sub(moved).Round(time.Second), next, len(faults)))
		}
	}
}

// restored closes the open window of a kind: what it broke is back.
func (r *run) restored(kind string, at time.Time) {
	for i := len(r.windows) - 1; i >= 0; i-- {
		if w := &r.windows[i]; w.kind == kind && w.end.IsZero() {
			w.end = at
			return
		}
	}
}

// calibrate ties fsim's clock to the real one: it sends the switch a
// command of its own, before dialerd connects, and finds it in the ledger
// with the switch's time.
func (r *run) calibrate() {
	t := r.t
	c, err := net.DialTimeout("tcp", r.fs.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	readMsg := func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("calibrating fsim's clock: %v", err)
			}
			if line == "\n" {
				return
			}
		}
	}
	readMsg() // auth/request
	before := time.Now()
	if _, err := c.Write([]byte("auth ClueCon\n\n")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	readMsg() // command/reply: the command is in the ledger
	for _, cmd := range r.ledgerNow().Commands {
		if cmd.Line == "auth ClueCon" {
			r.simAt, r.simReal = cmd.At, before.Add(after.Sub(before)/2)
			return
		}
	}
	t.Fatal("calibrating fsim's clock: the command is not in its ledger")
}

// simTime is the switch's time at a real moment.
func (r *run) simTime(real time.Time) time.Time {
	return r.simAt.Add(time.Duration(float64(real.Sub(r.simReal)) * timeScale))
}

// stalled fails a run that makes no progress, with what the dialer knew:
// its metrics (the dialer_ series, histograms aside) and its goroutines
// (SIGQUIT: the Go runtime writes them to its log as it exits).
func (r *run) stalled(msg string) {
	t := r.t
	t.Helper()
	var b strings.Builder
	if r.d.up() {
		code, body := r.call("GET", "/metrics", nil)
		_ = os.WriteFile(filepath.Join(r.dir, "stall-metrics.txt"), body, 0o644)
		fmt.Fprintf(&b, "\n--- dialerd's /metrics (%d), the dialer_ series without histograms:\n", code)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "dialer_") && !strings.Contains(line, "_bucket{") {
				b.WriteString(line + "\n")
			}
		}
		log := r.d.logPath(r.d.n)
		r.d.quit()
		whole, _ := os.ReadFile(log)
		dump := string(whole)
		if i := strings.Index(dump, "SIGQUIT"); i >= 0 {
			dump = dump[i:] // the goroutines, first the one that took the signal
		}
		if lines := strings.SplitAfter(dump, "\n"); len(lines) > 400 {
			dump = strings.Join(lines[:400], "") + fmt.Sprintf("... %d more lines in the log\n", len(lines)-400)
		}
		fmt.Fprintf(&b, "\n--- dialerd's goroutines (SIGQUIT), %s:\n%s\n", log, dump)
	} else {
		fmt.Fprintf(&b, "\n--- dialerd is down; its last lines:\n%s\n", tail(r.d.logPath(r.d.n), 40))
	}
	_ = os.WriteFile(filepath.Join(r.dir, "stall.txt"), []byte(msg+b.String()), 0o644)
	if os.Getenv(envDir) == "" {
		msg += fmt.Sprintf(" (keep the run's files with %s=DIR)", envDir)
	}
	t.Fatalf("%s%s", msg, b.String())
}

// finish stops dialerd and fsim in order: fsim's ledger is then complete,
// and nothing writes to Redis any more.
func (r *run) finish() {
	if err := r.d.stop(); err != nil {
		r.t.Errorf("dialerd's orderly stop: %v; its last lines:\n%s", err, tail(r.d.logPath(r.d.n), 20))
	}
	r.fs.stop()
}

func (r *run) ledger() sim.Ledger {
	f, err := os.Open(filepath.Join(r.dir, "ledger.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	led, err := sim.ReadLedger(f)
	if err != nil {
		r.t.Fatal(err)
	}
	return led
}

// recorded reads what the dialer recorded of the campaign from Redis.
func (r *run) recorded() Recorded {
	t, ctx := r.t, context.Background()
	rec := Recorded{Campaign: r.camp, MinBillSec: minBillSec, Members: map[string]MemberEnd{}}
	cursor := ""
	for {
		page, err := r.st.ListMembers(ctx, r.camp, "", 0, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range page.Members {
			rec.Members[m.ID] = MemberEnd{State: page.States[i], EndCause: m.EndCause, NextTryAt: m.NextTryAt}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	before := ""
	for {
		recs, next, err := r.st.History(ctx, r.camp, before, 1000)
		if err != nil {
			t.Fatal(err)
		}
		rec.Records = append(rec.Records, recs...)
		if before = next; before == "" {
			break
		}
	}
	stats, err := r.st.CampaignStats(ctx, r.camp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec.Attempts = stats.Counters["attempts"]
	open, err := r.st.OpenAttempts(ctx, r.camp)
	if err != nil {
		t.Fatal(err)
	}
	rec.Open = len(open)
	return rec
}

// fromLogs is what dialerd's logs tell of the run.
type fromLogs struct {
	incarnations int
	byRecord     int // calls ended while the dialer or its socket was away, classified by the switch's end record
	byLoss       int // calls classified DIALER_LOST_CALL after a reconcile
	races        int
	panics       int
}

func (r *run) fromLogs() fromLogs {
	out := fromLogs{incarnations: r.d.n}
	recorded := regexp.MustCompile(`ended_by_switch_record=(\d+)`)
	lost := regexp.MustCompile(`msg="dialer: calls reconciled with the switch".* lost=(\d+)`)
	for n := 1; n <= r.d.n; n++ {
		b, err := os.ReadFile(r.d.logPath(n))
		if err != nil {
			r.t.Fatal(err)
		}
		for _, m := range recorded.FindAllSubmatch(b, -1) {
			k, _ := strconv.Atoi(string(m[1]))
			out.byRecord += k
		}
		for _, m := range lost.FindAllSubmatch(b, -1) {
			k, _ := strconv.Atoi(string(m[1]))
			out.byLoss += k
		}
		out.races += bytes.Count(b, []byte("WARNING: DATA RACE"))
		out.panics += bytes.Count(b, []byte("\npanic: "))
	}
	return out
}

// report prints the run's figures as the table docs/chaos.md keeps.
func (r *run) report(led sim.Ledger, rep Report, logs fromLogs, seed uint64, chaos, total time.Duration) {
	congested, refused := 0, 0
	for _, c := range led.Calls {
		if c.HangupCause == "NORMAL_CIRCUIT_CONGESTION" {
			congested++
		}
	}
	for _, l := range led.Logs {
		if strings.Contains(l.Text, "Throttle Error!") {
			refused++
		}
	}
	pct := func(n, of int) string {
		if of == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f %%", 100*float64(n)/float64(of))
	}
	redialed := map[string]bool{}
	for _, s := range rep.Redials {
		redialed[strings.Fields(s)[1]] = true
	}
	rows := [][2]string{
		{"run, seed", fmt.Sprintf("%s, %d", r.size.name, seed)},
		{"members", strconv.Itoa(rep.Members)},
		{"calls (channels the switch made)", fmt.Sprintf("%d (%d answered, %d reached their member, %d congested at the gateway, %d stillborn)",
			rep.Channels, rep.Answered, rep.Completed, congested, rep.Stillborn)},
		{"originates the switch refused (sessions-per-second; no channel, not an attempt)", strconv.Itoa(refused)},
		{"dialer kills (SIGKILL)", strconv.Itoa(r.kills)},
		{"ESL drops", strconv.Itoa(r.drops)},
		{"Redis restarts (SIGKILL)", strconv.Itoa(r.restarts)},
		{"dialerd processes", fmt.Sprintf("%d (%d start-ups refused while Redis was down)", logs.incarnations, r.refusals)},
		{"calls that ended unseen, classified by the switch's end record", strconv.Itoa(logs.byRecord)},
		{"calls recorded DIALER_LOST_CALL", strconv.Itoa(rep.Lost)},
		{"double dials", strconv.Itoa(len(rep.DoubleDials))},
		{"lost members", strconv.Itoa(len(rep.LostMembers))},
		{"outcome mismatches (wrong, missing, duplicated, invented records)", strconv.Itoa(len(rep.Mismatches) + len(rep.Unrecorded) + len(rep.Duplicated) + len(rep.Phantoms))},
		{"members dialed again after a call that in truth completed", fmt.Sprintf("%d (%s)", len(redialed), pct(len(redialed), rep.Members))},
		{"wrong end causes", strconv.Itoa(len(rep.EndCauses))},
		{"attempts counted / channels", fmt.Sprintf("%d / %d", rep.Attempts, rep.Channels)},
		{"wall time", fmt.Sprintf("%s of chaos, %s in all (builds included)", chaos.Round(time.Second), total.Round(time.Second))},
	}
	var b strings.Builder
	b.WriteString("\n| | |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	r.t.Log(b.String())
	_ = os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(b.String()), 0o644)
}
