package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// Several dialers on one Redis Cluster (issue 15, "Several dialers").

// scaleOutWorld is the switch of the scale-out runs: TestChaos's calls
// (68 % answered, a message of 3 to 33 s, busy, rejected, unanswered)
// without its gateway and session throttles: three dialers dial at once.
const scaleOutWorld = `
gateways: [{name: gw}]
playback: {dist: uniform, mean: 18, spread: 15}
default:
  answer: 0.68
  busy: 0.2
  reject: 0.02
  ring: {dist: uniform, mean: 3, spread: 2}
  talk: 300
`

// scaleOut is a scale-out run's shape.
type scaleOut struct {
	campaigns, members int // members per campaign
	campaignLimit      int // each campaign's calls at once
	gatewayLimit       int // the gateway's, shared by every campaign and dialer
}

// TestChaosScaleOut runs three dialerd on one Redis Cluster (three
// masters, three replicas) and one switch, sharing six broadcast
// campaigns (each started through a different dialer's API, so each
// dialer runs two) and one gateway whose limit is below what the
// campaigns ask for together. It kills one dialer (SIGKILL) with calls
// in flight and does not start it again: the other two must take its
// campaigns, and its calls, once its runner leases lapse (lease_ttl, 3 s
// of real time here). Then every campaign's calls are held to Verify
// against the switch's ledger (no number with two live calls, over all
// campaigns; no member lost; every call recorded once; no completed call
// dialed again), and the gateway's calls at once on the switch to its
// limit. It reports how long each campaign went without a runner.
func TestChaosScaleOut(t *testing.T) {
	shape := scaleOut{campaigns: 6, members: 40, campaignLimit: 20, gatewayLimit: 30}
	if os.Getenv(envSize) == "full" {
		shape.members = 300
	}
	seed := runSeed(t, false)
	cl, err := storetest.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	r := newRun(t, size{name: "scale-out", members: shape.members, stall: time.Minute}, seed)
	r.scenario = scaleOutWorld
	r.redisURL = cl.URL()
	r.startProcesses("")
	dialers := append([]*dialerd{r.d}, r.moreDialers(2)...)
	apis := []string{r.api}
	for _, d := range dialers[1:] {
		apis = append(apis, d.api)
	}
	camps := r.scaleOutCampaigns(shape, apis)

	// Kill the third dialer once a third of the calls are made.
	r.waitChannels(shape.campaigns * shape.members / 3)
	victim := dialers[2]
	theirs := r.runnersOf(camps, victim.instance)
	if len(theirs) == 0 {
		t.Fatalf("the dialer to kill, %s, runs no campaign: %v", victim.instance, r.runnersOf(camps, ""))
	}
	killed := time.Now()
	victim.kill()
	took := map[string]time.Duration{}
	for len(took) < len(theirs) {
		for _, c := range theirs {
			if _, done := took[c]; done {
				continue
			}
			if inst := r.runnerOf(c); inst != "" && inst != victim.instance {
				took[c] = time.Since(killed)
			}
		}
		if time.Since(killed) > time.Minute {
			r.stalled(fmt.Sprintf("%d of %d campaigns of the killed dialer taken a minute after: %v", len(took), len(theirs), took))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.waitFor("every campaign to finish", 5*time.Minute, func() bool {
		for _, c := range camps {
			r.camp = c
			if !r.campaignFinished() {
				return false
			}
		}
		return true
	})
	for _, d := range dialers[:2] {
		if err := d.stop(); err != nil {
			t.Errorf("%s's orderly stop: %v", d.instance, err)
		}
	}
	r.fs.stop()
	led := r.ledger()

	var b strings.Builder
	fmt.Fprintf(&b, "\n| campaign | runner before the kill | members | channels (answered) | without a runner after the kill |\n|---|---|---|---|---|\n")
	for i, c := range camps {
		r.camp = c
		rec := r.recorded()
		rep := Verify(led, rec)
		if i > 0 {
			rep.DoubleDials = nil // over all campaigns: reported once
		}
		for _, p := range limit(rep.Problems(), 20) {
			t.Errorf("campaign %d: %s", i+1, p)
		}
		if len(rec.Members) != shape.members {
			t.Errorf("campaign %d: %d members in the store, %d uploaded", i+1, len(rec.Members), shape.members)
		}
		runner, gap := "another", "-"
		if d, ok := took[c]; ok {
			runner, gap = victim.instance+" (killed)", d.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d (%d) | %s |\n", i+1, runner, rep.Members, rep.Channels, rep.Answered, gap)
	}
	peak, at := gatewayPeak(led, "gw")
	fmt.Fprintf(&b, "gateway gw: at most %d calls at once on the switch (at %s), limit %d\n", peak, at.Format("15:04:05.000"), shape.gatewayLimit)
	t.Log(b.String())
	if peak > shape.gatewayLimit {
		t.Errorf("the gateway had %d calls at once, over its limit of %d", peak, shape.gatewayLimit)
	}
	logs := r.fromLogs()
	if logs.races > 0 || logs.panics > 0 {
		t.Errorf("dialerd logged %d data races and %d panics (see %s)", logs.races, logs.panics, r.dir)
	}
}

// moreDialers starts n more dialerd on the run's Redis and switch, each
// with its own instance name and API address, and waits until they are
// ready.
func (r *run) moreDialers(n int) []*dialerd {
	t := r.t
	base, err := os.ReadFile(r.d.config)
	if err != nil {
		t.Fatal(err)
	}
	r.d.instance, r.d.api = "chaos", r.api
	var out []*dialerd
	for i := range n {
		name := fmt.Sprintf("chaos-%d", i+2)
		api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		conf := strings.Replace(string(base), "instance: chaos\n", "instance: "+name+"\n", 1)
		conf = strings.Replace(conf, strconv.Quote(r.api), strconv.Quote(api), 1)
		dir := filepath.Join(r.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "dialerd.yaml")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		d := &dialerd{bin: r.d.bin, config: path, dir: dir, instance: name, api: api}
		if err := d.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.kill)
		out = append(out, d)
	}
	for _, d := range out {
		saved := r.api
		r.api = d.api
		r.waitFor(d.instance+" to be ready", time.Minute, func() bool {
			code, _ := r.call("GET", "/readyz", nil)
			return code == 200
		})
		r.api = saved
	}
	return out
}

// scaleOutCampaigns creates the broadcast campaigns, each with its own
// numbers, and starts campaign i through apis[i%len(apis)]: the dialer
// whose API starts a campaign runs it.
func (r *run) scaleOutCampaigns(shape scaleOut, apis []string) []string {
	saved := r.api
	defer func() { r.api = saved }()
	var camps []string
	for i := range shape.campaigns {
		r.api = apis[i%len(apis)]
		id := r.createCampaign(broadcastCampaign(fmt.Sprintf("scale-out %d", i+1), shape.campaignLimit, shape.gatewayLimit))
		items := make([]any, shape.members)
		for j := range items {
			items[j] = map[string]any{"name": fmt.Sprintf("member %d.%d", i, j), "communications": []any{map[string]any{"number": fmt.Sprintf("+3805%d%06d", i, j)}}}
		}
		r.mustCall("POST", "/api/v2/dialer/"+id+"/members", map[string]any{"items": items}, nil)
		camps = append(camps, id)
	}
	for i, id := range camps {
		r.api = apis[i%len(apis)]
		r.mustCall("PUT", "/api/v2/dialer/"+id+"/state/1", nil, nil)
	}
	return camps
}

// runnerOf returns the instance whose runner lease holds a campaign, ""
// when none does or Redis does not answer.
func (r *run) runnerOf(campaign string) string {
	v, err := r.st.Client().Get(context.Background(), "dialer:{"+campaign+"}:runner").Result()
	if err != nil {
		return ""
	}
	inst, _, _ := strings.Cut(v, "|")
	return inst
}

// runnersOf lists the campaigns an instance runs (every campaign's
// runner, "instance:campaign", when instance is "").
func (r *run) runnersOf(camps []string, instance string) []string {
	var out []string
	for _, c := range camps {
		switch inst := r.runnerOf(c); {
		case instance == "":
			out = append(out, inst+":"+c)
		case inst == instance:
			out = append(out, c)
		}
	}
	return out
}

// gatewayPeak is the most member calls the switch had up at once through
// a gateway, and when.
func gatewayPeak(led sim.Ledger, gateway string) (int, time.Time) {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, c := range led.Calls {
		if c.Stillborn || isAgentLeg(c) || c.Gateway != gateway {
			continue
		}
		edges = append(edges, edge{c.Created, 1})
		if !c.HungUp.IsZero() {
			edges = append(edges, edge{c.HungUp, -1})
		}
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta // an end before a start at the same instant
		}
		return edges[i].at.Before(edges[j].at)
	})
	peak, up := 0, 0
	var when time.Time
	for _, e := range edges {
		up += e.delta
		if up > peak {
			peak, when = up, e.at
		}
	}
	return peak, when
}

// The cost of scaling out: CPU and Redis commands per call with 1, 2 and
// 3 dialers, measured, not asserted (SCALE_COST=1: make scale-cost).

// TestScaleOutCost runs the same six campaigns with one, two and three
// dialerd (built without the race detector) on a fresh Redis Cluster
// each time, no faults, and reports per call: the dialers' CPU (their
// process_cpu_seconds_total, summed) and the commands the cluster's
// masters ran (INFO commandstats, before the campaigns started and after
// they finished), with the commands that made most of them.
func TestScaleOutCost(t *testing.T) {
	if os.Getenv("SCALE_COST") == "" {
		t.Skip("a measurement, not a check: SCALE_COST=1 (make scale-cost) runs it")
	}
	shape := scaleOut{campaigns: 6, members: 300, campaignLimit: 20, gatewayLimit: 120}
	bins := t.TempDir()
	dialerBin, fsimBin := build(t, bins, "cmd/dialerd", false), build(t, bins, "cmd/fsim", false)
	var b strings.Builder
	b.WriteString("\n| dialers | calls | wall | dialers' CPU per call | commands the masters ran per call (inside scripts too) | the masters' CPU per call (INFO cpu) | the most |\n|---|---|---|---|---|---|---|\n")
	for n := 1; n <= 3; n++ {
		t.Run(fmt.Sprintf("dialers=%d", n), func(t *testing.T) {
			cl, err := storetest.NewCluster()
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Stop()
			r := newRun(t, size{name: "scale-cost", members: shape.members, stall: time.Minute}, 1)
			r.scenario = scaleOutWorld
			r.redisURL = cl.URL()
			r.dialerBin, r.fsimBin = dialerBin, fsimBin
			r.startProcesses("")
			dialers := append([]*dialerd{r.d}, r.moreDialers(n-1)...)
			apis := []string{r.api}
			for _, d := range dialers[1:] {
				apis = append(apis, d.api)
			}
			before := commandStats(t, cl)
			cpuBefore := r.dialersCPU(dialers)
			start := time.Now()
			camps := r.scaleOutCampaigns(shape, apis)
			r.waitFor("every campaign to finish", 10*time.Minute, func() bool {
				for _, c := range camps {
					r.camp = c
					if !r.campaignFinished() {
						return false
					}
				}
				return true
			})
			wall := time.Since(start)
			cpu := r.dialersCPU(dialers) - cpuBefore
			after := commandStats(t, cl)
			for _, d := range dialers {
				_ = d.stop()
			}
			r.fs.stop()
			calls := 0
			for _, c := range r.ledger().Calls {
				if !isAgentLeg(c) {
					calls++
				}
			}
			total, usec, scripts := 0, 0, 0
			type kv struct {
				cmd string
				n   int
			}
			var per []kv
			for cmd, k := range after {
				d := k - before[cmd]
				if d <= 0 || strings.Contains(cmd, "info") || strings.Contains(cmd, "cluster") || strings.HasSuffix(cmd, "ping") {
					continue // the harness's and the clients' housekeeping
				}
				switch {
				case cmd == cpuStat:
					usec += d
				default:
					total += d
					if cmd == "evalsha" || cmd == "eval" {
						scripts += d
					}
					per = append(per, kv{cmd, d})
				}
			}
			sort.Slice(per, func(i, j int) bool { return per[i].n > per[j].n })
			var top []string
			for _, p := range per[:min(6, len(per))] {
				top = append(top, fmt.Sprintf("%s %.1f", p.cmd, float64(p.n)/float64(calls)))
			}
			fmt.Fprintf(&b, "| %d | %d | %v | %.2f ms | %.1f, %.1f of them scripts | %.0f µs | %s |\n", n, calls, wall.Round(time.Second),
				1000*cpu/float64(calls), float64(total)/float64(calls), float64(scripts)/float64(calls), float64(usec)/float64(calls), strings.Join(top, ", "))
		})
	}
	t.Log(b.String())
}

// cpuStat is commandStats's key for the masters' CPU (INFO cpu,
// used_cpu_sys plus used_cpu_user), in microseconds.
const cpuStat = "(cpu)"

// commandStats sums INFO commandstats over the cluster's masters (the
// replicas only apply what their masters send): each command's calls,
// those a script makes included, and the masters' CPU under cpuStat.
func commandStats(t *testing.T, cl *storetest.Cluster) map[string]int {
	t.Helper()
	out := map[string]int{}
	re := regexp.MustCompile(`(?m)^cmdstat_([^:]+):calls=(\d+)`)
	cpu := regexp.MustCompile(`(?m)^used_cpu_(?:sys|user):([\d.]+)`)
	var mu sync.Mutex
	for _, addr := range cl.Addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		info, err := c.Info(context.Background(), "replication", "commandstats", "cpu").Result()
		c.Close()
		if err != nil {
			t.Fatalf("info %s: %v", addr, err)
		}
		if !strings.Contains(info, "role:master") {
			continue
		}
		mu.Lock()
		for _, m := range re.FindAllStringSubmatch(info, -1) {
			k, _ := strconv.Atoi(m[2])
			out[m[1]] += k
		}
		for _, m := range cpu.FindAllStringSubmatch(info, -1) {
			sec, _ := strconv.ParseFloat(m[1], 64)
			out[cpuStat] += int(sec * 1e6)
		}
		mu.Unlock()
	}
	return out
}

// dialersCPU sums the dialers' process_cpu_seconds_total.
func (r *run) dialersCPU(dialers []*dialerd) float64 {
	saved := r.api
	defer func() { r.api = saved }()
	total := 0.0
	re := regexp.MustCompile(`(?m)^process_cpu_seconds_total (\S+)$`)
	for _, d := range dialers {
		r.api = d.api
		if d.api == "" {
			r.api = saved
		}
		_, body := r.call("GET", "/metrics", nil)
		if m := re.FindSubmatch(body); m != nil {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			total += v
		}
	}
	return total
}
