package storetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fsdialer/fsdialer/store"
)

// A Redis Cluster of three masters and three replicas, as issue 15's
// operators run it: six redis-server processes with --cluster-enabled,
// joined by redis-cli --cluster create. Starting one takes a few seconds,
// so a test binary starts it once, on the first test that asks, and
// every test flushes it first; Main stops it when the tests end.

// Cluster is a running Redis Cluster.
type Cluster struct {
	Addrs []string // every node, masters first
	*procs
}

// procs are the redis-server processes of a set, in a directory of their
// own; they die with the test binary, however it ends.
type procs struct {
	bin, dir string
	mu       sync.Mutex
	byAddr   map[string]*proc
	order    []*proc
}

// proc is one redis-server of a set: its arguments, so that it can be
// started again on the same port, and its process while it runs.
type proc struct {
	addr string
	args []string
	cmd  *exec.Cmd
	done chan error
}

func newProcs(name string) (*procs, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%s", installHint)
	}
	dir, err := os.MkdirTemp("", "fsdialer-"+name+"-")
	if err != nil {
		return nil, err
	}
	return &procs{bin: bin, dir: dir, byAddr: map[string]*proc{}}, nil
}

// start runs one redis-server with args on a free port and returns its
// address once it answers; a port taken meanwhile by another process is
// given up for another.
func (p *procs) start(args ...string) (string, error) {
	var err error
	for range 5 {
		var port int
		if port, err = anyFreePort(); err != nil {
			return "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		pr := &proc{addr: addr, args: append(args[:len(args):len(args)], "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", p.dir, "--daemonize", "no", "--loglevel", "warning")}
		if err = p.run(pr); err != nil {
			if pr.cmd != nil {
				_ = pr.cmd.Process.Kill() // reaped by run's Wait
			}
			continue
		}
		p.mu.Lock()
		p.byAddr[addr] = pr
		p.order = append(p.order, pr)
		p.mu.Unlock()
		return addr, nil
	}
	return "", err
}

// run starts pr's process and waits until it listens.
func (p *procs) run(pr *proc) error {
	cmd := exec.Command(p.bin, pr.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	p.mu.Lock()
	pr.cmd, pr.done = cmd, done
	p.mu.Unlock()
	if !waitListening(pr.addr, done) {
		return fmt.Errorf("redis-server %v on %s did not start", pr.args[:1], pr.addr)
	}
	return nil
}

// Kill crashes the redis-server at addr (SIGKILL) and waits until it is
// gone: what it had not yet sent its replicas is lost.
func (p *procs) Kill(addr string) error {
	p.mu.Lock()
	pr := p.byAddr[addr]
	p.mu.Unlock()
	if pr == nil || pr.cmd == nil {
		return fmt.Errorf("no redis-server runs at %s", addr)
	}
	_ = pr.cmd.Process.Kill()
	<-pr.done
	p.mu.Lock()
	pr.cmd = nil
	p.mu.Unlock()
	return nil
}

// Pause stops the redis-server at addr (SIGSTOP): it keeps its
// connections and answers nothing, as a replica lagging far behind.
// Resume lets it go on.
func (p *procs) Pause(addr string) error { return p.signal(addr, syscall.SIGSTOP) }

// Resume continues a paused redis-server.
func (p *procs) Resume(addr string) error { return p.signal(addr, syscall.SIGCONT) }

func (p *procs) signal(addr string, sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.byAddr[addr]
	if pr == nil || pr.cmd == nil {
		return fmt.Errorf("no redis-server runs at %s", addr)
	}
	return pr.cmd.Process.Signal(sig)
}

// Restart starts the redis-server at addr again, as it was started (it
// keeps no data: it comes back empty, and a Sentinel or the cluster makes
// it a replica of the master that replaced it).
func (p *procs) Restart(addr string) error {
	p.mu.Lock()
	pr := p.byAddr[addr]
	p.mu.Unlock()
	if pr == nil || pr.cmd != nil {
		return fmt.Errorf("no stopped redis-server at %s", addr)
	}
	return p.run(pr)
}

// Stop kills every process of the set and removes its directory.
func (p *procs) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.order {
		if pr.cmd != nil {
			_ = pr.cmd.Process.Kill()
			<-pr.done
			pr.cmd = nil
		}
	}
	os.RemoveAll(p.dir)
}

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Main runs a package's tests and then stops the shared cluster and
// Sentinel set, if a test started them: call it from TestMain,
// os.Exit(storetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if c := shared.cluster; c != nil {
		c.Stop()
	}
	if s := sharedSentinel.set; s != nil {
		s.Stop()
	}
	return code
}

// OpenCluster returns a store on the shared cluster (started on first
// use; the package's TestMain must call Main), emptied for this test.
func OpenCluster(t testing.TB) *store.Store {
	t.Helper()
	s := open(t, store.Config{Addrs: StartCluster(t).Addrs, WaitReplicas: 1})
	cc, ok := s.Client().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("the store's client is a %T, not a cluster client", s.Client())
	}
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatalf("flush the cluster: %v", err)
	}
	return s
}

// StartCluster returns the shared cluster, started on first use (the
// package's TestMain must call Main).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() { shared.cluster, shared.err = NewCluster() })
	if shared.err != nil {
		t.Fatalf("redis cluster: %v", shared.err)
	}
	return shared.cluster
}

// NewCluster starts a Redis Cluster of its own (three masters, three
// replicas, no persistence), for a test that kills its nodes; the caller
// stops it (Stop).
func NewCluster() (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli is not on the PATH (it comes with redis-server)")
	}
	p, err := newProcs("cluster")
	if err != nil {
		return nil, err
	}
	c := &Cluster{procs: p}
	for i := 0; i < 6; i++ {
		addr, err := c.start("--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i), "--cluster-node-timeout", "2000")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Addrs = append(c.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitReady(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitReady waits until every node says the cluster is ok and sees all
// six nodes, and every replica is in sync with its master.
func (c *Cluster) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		cl := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := cl.ClusterInfo(context.Background()).Result()
			repl, rerr := cl.Info(context.Background(), "replication").Result()
			synced := rerr == nil && (strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
			if err == nil && synced && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:6") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				return fmt.Errorf("node %s: cluster not ready: %v %s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return nil
}

// A Sentinel set, as the operators who want failover without Cluster run
// it: a master, a replica, and three redis-server --sentinel watching the
// master under SentinelMaster. Like the cluster, one per test binary.

// SentinelMaster is the name the sentinels know the master by.
const SentinelMaster = "fsdialer"

// Sentinel is a running Sentinel set.
type Sentinel struct {
	Master, Replica string   // data nodes
	Sentinels       []string // the sentinels' addresses
	*procs
}

var sharedSentinel struct {
	once sync.Once
	set  *Sentinel
	err  error
}

// OpenSentinel returns a store that finds its master through the shared
// Sentinel set (started on first use; the package's TestMain must call
// Main), emptied for this test.
func OpenSentinel(t testing.TB) *store.Store {
	t.Helper()
	s := open(t, store.Config{Addrs: StartSentinel(t).Sentinels, MasterName: SentinelMaster, WaitReplicas: 1})
	if err := s.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatalf("flush the master: %v", err)
	}
	return s
}

// StartSentinel returns the shared Sentinel set, started on first use
// (the package's TestMain must call Main).
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	sharedSentinel.once.Do(func() { sharedSentinel.set, sharedSentinel.err = NewSentinel() })
	if sharedSentinel.err != nil {
		t.Fatalf("redis sentinel: %v", sharedSentinel.err)
	}
	return sharedSentinel.set
}

// NewSentinel starts a Sentinel set of its own (a master, a replica, three
// sentinels; no persistence), for a test that kills its master; the
// caller stops it (Stop).
func NewSentinel() (*Sentinel, error) {
	p, err := newProcs("sentinel")
	if err != nil {
		return nil, err
	}
	set := &Sentinel{procs: p}
	dir, start := p.dir, p.start
	fail := func(err error) (*Sentinel, error) {
		set.Stop()
		return nil, err
	}
	if set.Master, err = start("--save", "", "--appendonly", "no"); err != nil {
		return fail(err)
	}
	host, port, _ := strings.Cut(set.Master, ":")
	if set.Replica, err = start("--save", "", "--appendonly", "no", "--replicaof", host, port); err != nil {
		return fail(err)
	}
	for i := 0; i < 3; i++ {
		conf := fmt.Sprintf("%s/sentinel-%d.conf", dir, i)
		body := fmt.Sprintf("sentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 10000\n",
			SentinelMaster, host, port, SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			return fail(err)
		}
		addr, err := start(conf, "--sentinel")
		if err != nil {
			return fail(err)
		}
		set.Sentinels = append(set.Sentinels, addr)
	}
	// Ready when every sentinel names the master and the replica is in sync.
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range set.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		for {
			got, err := sc.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
			if err == nil && len(got) == 2 && got[0]+":"+got[1] == set.Master {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				return fail(fmt.Errorf("sentinel %s does not know the master: %v %v", addr, got, err))
			}
			time.Sleep(50 * time.Millisecond)
		}
		sc.Close()
	}
	rc := redis.NewClient(&redis.Options{Addr: set.Replica})
	defer rc.Close()
	for {
		info, err := rc.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return set, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("replica %s not in sync: %v", set.Replica, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Keys lists the keys matching pattern on every node that holds data: a
// cluster's KEYS answers for one node only.
func Keys(t testing.TB, s *store.Store, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	cc, ok := s.Client().(*redis.ClusterClient)
	if !ok {
		keys, err := s.Client().Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		k, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// ReplicaHGet reads a hash field on the replicas of the store's master (or
// of the cluster's masters): the value of the first replica that has it,
// and whether one had it. A store on one node without replicas has none.
func ReplicaHGet(t testing.TB, s *store.Store, key, field string) (string, bool) {
	t.Helper()
	ctx := context.Background()
	var addrs []string
	var master redis.Cmdable = s.Client()
	if cc, ok := s.Client().(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("the master of %s: %v", key, err)
		}
		master = c
	}
	info, err := master.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatalf("info replication: %v", err)
	}
	for _, line := range strings.Split(info, "\n") {
		// slave0:ip=127.0.0.1,port=6380,state=online,offset=...,lag=0
		if !strings.HasPrefix(line, "slave") || !strings.Contains(line, "ip=") {
			continue
		}
		var ip, port string
		for _, kv := range strings.Split(strings.TrimSpace(line[strings.Index(line, ":")+1:]), ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ip":
				ip = v
			case "port":
				port = v
			}
		}
		addrs = append(addrs, ip+":"+port)
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
		v, err := readOnlyHGet(ctx, c, key, field)
		c.Close()
		if err == nil {
			return v, true
		}
	}
	return "", false
}

// readOnlyHGet reads a replica, which a cluster's replica answers only
// after READONLY (else it redirects to its master).
func readOnlyHGet(ctx context.Context, c *redis.Client, key, field string) (string, error) {
	conn := c.Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil && !strings.Contains(err.Error(), "cluster support disabled") {
		return "", err
	}
	return conn.HGet(ctx, key, field).Result()
}

// URL is the cluster's redis.url (every node named).
func (c *Cluster) URL() string {
	u := "redis://" + c.Addrs[0] + "?cluster=true"
	for _, a := range c.Addrs[1:] {
		u += "&addr=" + a
	}
	return u
}

// MasterOf returns the address of the node that serves key's slot as
// master now, as the live nodes see it (an empty string while none does:
// its master failed and no replica has been promoted yet).
func (c *Cluster) MasterOf(ctx context.Context, key string) (string, error) {
	var lastErr error
	for _, addr := range c.Addrs {
		cl := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: -1})
		slot, err := cl.ClusterKeySlot(ctx, key).Result()
		var nodes string
		if err == nil {
			nodes, err = cl.ClusterNodes(ctx).Result()
		}
		cl.Close()
		if err != nil {
			lastErr = err
			continue
		}
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, found := strings.Cut(r, "-")
				if !found {
					hi = lo
				}
				a, err1 := strconv.ParseInt(lo, 10, 64)
				b, err2 := strconv.ParseInt(hi, 10, 64)
				if err1 == nil && err2 == nil && a <= slot && slot <= b {
					host, _, _ := strings.Cut(f[1], "@")
					return host, nil
				}
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("no node of the cluster answers: %w", lastErr)
}

// URL is the Sentinel set's redis.url (every sentinel named).
func (s *Sentinel) URL() string {
	u := "redis://" + s.Sentinels[0] + "?master_name=" + SentinelMaster
	for _, a := range s.Sentinels[1:] {
		u += "&addr=" + a
	}
	return u
}

// CurrentMaster returns the master's address as the first sentinel that
// answers names it.
func (s *Sentinel) CurrentMaster(ctx context.Context) (string, error) {
	var lastErr error
	for _, addr := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: -1})
		got, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
		sc.Close()
		if err == nil && len(got) == 2 {
			return got[0] + ":" + got[1], nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel names the master: %w", lastErr)
}
