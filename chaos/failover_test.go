package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// failoverSizeOf is the size of a failover run: a progressive campaign
// with TestChaosAgents's 20 agents, and how many masters are killed.
// The short run (make test) kills the master of the campaign's slot once;
// the full one (make chaos-cluster) kills it, brings it back as a
// replica, then kills the master of the agents' slot (on a Sentinel set
// the same node: the master promoted by the first failover).
func failoverSizeOf(name string) (size, int, bool) {
	switch name {
	case "", "short":
		return size{name: "short", members: 100, limit: 40, deadline: 4 * time.Minute, channelsPerMember: 1.5, stall: time.Minute}, 1, true
	case "full":
		return size{name: "full", members: 1000, limit: 40, deadline: 20 * time.Minute, channelsPerMember: 1.5, stall: time.Minute}, 2, true
	}
	return size{}, 0, false
}

// failoverLease is the dialer's lease_ttl in the failover runs. A
// failover takes a few seconds of real time (the sentinels' and the
// cluster's 2 s timeouts, then an election): at the run's time scale that
// is a minute or two of the dialer's clock, past its default 60 s leases.
// In production a failover takes a fraction of a lease; an outage that
// outlasts one is TestChaos's (full) fault, not this test's. So the
// leases here are five times longer.
const failoverLease = 5 * time.Minute

// haRedis is a replicated Redis the test can fail over: a Sentinel set or
// a cluster.
type haRedis interface {
	url() string
	master(ctx context.Context, key string) (string, error) // "" while none serves key
	kill(addr string) error
	restart(addr string) error
}

type sentinelSet struct{ *storetest.Sentinel }

func (s sentinelSet) url() string { return s.URL() }
func (s sentinelSet) master(ctx context.Context, _ string) (string, error) {
	return s.CurrentMaster(ctx)
}
func (s sentinelSet) kill(addr string) error    { return s.Kill(addr) }
func (s sentinelSet) restart(addr string) error { return s.Restart(addr) }

type cluster struct{ *storetest.Cluster }

func (c cluster) url() string { return c.URL() }
func (c cluster) master(ctx context.Context, key string) (string, error) {
	return c.MasterOf(ctx, key)
}
func (c cluster) kill(addr string) error    { return c.Kill(addr) }
func (c cluster) restart(addr string) error { return c.Restart(addr) }

// TestChaosFailover runs a progressive campaign with 20 agents through
// the real dialerd and fsim over ESL, on a Sentinel set (a master, a
// replica, three sentinels) and on a Redis Cluster (three masters, three
// replicas), and kills (SIGKILL) the master of the campaign's slot while
// calls are in flight. It measures how long the promotion takes and how
// long after it the dialer places calls again, asks the API all along
// (it must answer, 200 or 503, never hang), brings the killed node back
// (it rejoins as a replica), and at the end holds the dialer's records
// and the switch's ledger to VerifyAgents: no member lost, no number with
// two live calls, no agent in two calls, no completed call dialed again,
// every call recorded once with the switch's cause.
func TestChaosFailover(t *testing.T) {
	sz, kills, ok := failoverSizeOf(os.Getenv(envSize))
	if !ok {
		t.Fatalf("%s=%q: want short or full", envSize, os.Getenv(envSize))
	}
	seed := runSeed(t, sz.name == "full")
	bins := t.TempDir()
	dialerBin, fsimBin := build(t, bins, "cmd/dialerd", raceBuild), build(t, bins, "cmd/fsim", false)
	for _, backend := range []string{"sentinel", "cluster"} {
		t.Run(backend, func(t *testing.T) {
			t.Logf("chaos failover run %s on %s, seed %d (replay: %s=%s %s=%d)", sz.name, backend, seed, envSize, sz.name, envSeed, seed)
			var ha haRedis
			switch backend {
			case "sentinel":
				s, err := storetest.NewSentinel()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Stop)
				ha = sentinelSet{s}
			case "cluster":
				c, err := storetest.NewCluster()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Stop)
				ha = cluster{c}
			}
			chaosFailover(t, ha, sz, kills, seed, dialerBin, fsimBin)
		})
	}
}

// failover is what one master's death cost.
type failover struct {
	key                  string // the slot whose master was killed
	killed, promoted     string // the old master, the new one
	kill                 time.Time
	toPromotion          time.Duration // kill to a new master named
	toResume             time.Duration // kill to the first channel the switch made after the promotion
	toRejoin             time.Duration // the killed node's restart to its being a replica in sync
	api                  apiCounts
	channelsAtKill, left int // channels made before the kill; members not yet done then
}

func chaosFailover(t *testing.T, ha haRedis, sz size, kills int, seed uint64, dialerBin, fsimBin string) {
	began := time.Now()
	r := newRun(t, sz, seed)
	r.dialerBin, r.fsimBin = dialerBin, fsimBin
	r.scenario = agentsScenario()
	r.redisURL = ha.url()
	r.dialerConfig = fmt.Sprintf(", lease_ttl: %s", failoverLease)
	r.startProcesses("")
	r.agentCampaign(store.TypeProgressive, ringAgents, sessionAgents)
	chaosStart := time.Now()
	ctx := context.Background()

	keys := []string{"dialer:{" + r.camp + "}:members", "dialer:{agents}:doc"}
	var fos []failover
	for k := 0; k < kills; k++ {
		// the k-th kill at (k+1)/(kills+1) of the campaign's channels
		at := int(float64(sz.members) * sz.channelsPerMember * float64(k+1) / float64(kills+2))
		r.waitChannels(at)
		fo := failover{key: keys[k%len(keys)], channelsAtKill: r.tail.channels()}
		old, err := ha.master(ctx, fo.key)
		if err != nil || old == "" {
			t.Fatalf("the master of %s: %q %v", fo.key, old, err)
		}
		fo.killed = old
		probe := r.probeAPI()
		fo.kill = time.Now()
		if err := ha.kill(old); err != nil {
			t.Fatal(err)
		}
		r.restarts++
		for {
			m, err := ha.master(ctx, fo.key)
			if err == nil && m != "" && m != old {
				fo.promoted, fo.toPromotion = m, time.Since(fo.kill)
				break
			}
			if time.Since(fo.kill) > time.Minute {
				r.stalled(fmt.Sprintf("no replica of %s promoted a minute after its master %s was killed (%v)", fo.key, old, err))
			}
			time.Sleep(20 * time.Millisecond)
		}
		base := r.tail.channels()
		for r.tail.channels() == base {
			if time.Since(fo.kill) > 2*time.Minute {
				r.stalled(fmt.Sprintf("no call placed %v after the promotion of %s", time.Since(fo.kill)-fo.toPromotion, fo.promoted))
			}
			time.Sleep(10 * time.Millisecond)
		}
		fo.toResume = time.Since(fo.kill)
		r.windows = append(r.windows, window{kind: "redis", start: fo.kill, end: time.Now()})
		time.Sleep(time.Second) // the API's answers once dialing is back, too
		fo.api = probe.stop()
		// systemd starts the killed node again: it comes back empty and
		// rejoins as a replica of the master that replaced it
		restarted := time.Now()
		if err := ha.restart(old); err != nil {
			t.Fatal(err)
		}
		r.waitFor("the killed node to rejoin as a replica in sync", time.Minute, func() bool { return replicaInSync(old) })
		fo.toRejoin = time.Since(restarted)
		fos = append(fos, fo)
	}
	r.waitFor("the campaign to finish", sz.deadline, r.campaignFinished)
	durable := r.durableWrites()
	r.settle()
	took := time.Since(chaosStart)

	rec := r.recorded()
	rec.Agents = true
	run := r.agentRun()
	r.fs.stop()
	led := r.ledger()
	rep := VerifyAgents(led, rec, run)
	ends := r.fromLogs()
	r.agentReport(led, rep, run, ends, seed, took, time.Since(began))
	r.failoverReport(fos, durable)
	r.checkEnd(len(rec.Members), sz.members, rep.Problems())
	if e, ok := r.d.ended(); ok {
		t.Errorf("dialerd ended by itself: incarnation %d: %v", e.n, e.err)
	}
	if r.d.n != 1 {
		t.Errorf("dialerd ran as %d processes: a failover must not end it", r.d.n)
	}
	for _, fo := range fos {
		if fo.api.hung > 0 || fo.api.other > 0 {
			t.Errorf("failover of %s: the API left %d requests unanswered (10 s) and answered %d with neither 200 nor 503: %s",
				fo.killed, fo.api.hung, fo.api.other, strings.Join(fo.api.samples, "; "))
		}
	}
	if ends.races > 0 || ends.panics > 0 {
		t.Errorf("dialerd logged %d data races and %d panics (see %s)", ends.races, ends.panics, r.dir)
	}
	if t.Failed() && os.Getenv(envDir) == "" {
		t.Logf("the run's files are gone with the test; keep them with %s=DIR", envDir)
	}
}

// waitChannels waits until the switch has made n channels.
func (r *run) waitChannels(n int) {
	r.t.Helper()
	start := time.Now()
	for r.tail.channels() < n {
		if time.Since(start) > r.size.stall {
			r.stalled(fmt.Sprintf("%d channels after %v, waiting for %d", r.tail.channels(), time.Since(start).Round(time.Second), n))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replicaInSync reports whether the redis-server at addr is a replica
// whose link to its master is up.
func replicaInSync(addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
}

// apiCounts is what the API answered while a master was down.
type apiCounts struct {
	ok, unavailable, other, hung int
	slowest                      time.Duration
	samples                      []string // the first odd answers
}

// apiProbe asks the API for the campaign (which reads Redis) every
// 100 ms, giving each request 10 s.
type apiProbe struct {
	apiCounts
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
}

func (r *run) probeAPI() *apiProbe {
	p := &apiProbe{done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			req, _ := http.NewRequest("GET", "http://"+r.api+"/api/v2/dialer/"+r.camp, nil)
			req.Header.Set("X-Access-Token", token)
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			p.mu.Lock()
			p.slowest = max(p.slowest, took)
			switch {
			case err != nil:
				p.hung++
				if len(p.samples) < 5 {
					p.samples = append(p.samples, err.Error())
				}
			case resp.StatusCode == 200:
				p.ok++
			case resp.StatusCode == 503:
				p.unavailable++
			default:
				p.other++
				if len(p.samples) < 5 {
					p.samples = append(p.samples, resp.Status)
				}
			}
			p.mu.Unlock()
			if resp != nil {
				resp.Body.Close()
			}
		}
	}()
	return p
}

// stop ends the probe and returns its counts.
func (p *apiProbe) stop() apiCounts {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.apiCounts
}

// durableWrites reads dialerd's counts of WAITs, of the durable writes
// made while their master had no replica (after a promotion, until the
// killed node rejoins) and of those refused because the replica lagged.
func (r *run) durableWrites() string {
	code, body := r.call("GET", "/metrics", nil)
	if code != 200 {
		return fmt.Sprintf("/metrics answered %d", code)
	}
	val := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			return "?"
		}
		return string(m[1])
	}
	return fmt.Sprintf("%s WAITs; %s writes made while their master had no replica; %s refused (the replica lagged) and made again",
		val("dialer_redis_waits_total"), val("dialer_redis_unreplicated_writes_total"), val("dialer_redis_lagging_writes_total"))
}

// failoverReport prints what each failover cost, as docs/chaos.md keeps it.
func (r *run) failoverReport(fos []failover, durable string) {
	var b strings.Builder
	b.WriteString("\n| failover | killed → promoted | promotion | kill → first call placed | API while down: 200 / 503 / other / unanswered, slowest | killed node back in sync after its restart |\n|---|---|---|---|---|---|\n")
	for i, fo := range fos {
		fmt.Fprintf(&b, "| %d: master of %s at %d channels | %s → %s | %v | %v (%v after the promotion) | %d / %d / %d / %d, %v | %v |\n",
			i+1, fo.key, fo.channelsAtKill, fo.killed, fo.promoted, fo.toPromotion.Round(time.Millisecond),
			fo.toResume.Round(time.Millisecond), (fo.toResume - fo.toPromotion).Round(time.Millisecond),
			fo.api.ok, fo.api.unavailable, fo.api.other, fo.api.hung, fo.api.slowest.Round(time.Millisecond), fo.toRejoin.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "durable writes: %s\n", durable)
	r.t.Log(b.String())
	f, err := os.OpenFile(filepath.Join(r.dir, "report.md"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err == nil {
		_, _ = f.WriteString(b.String())
		f.Close()
	}
}
