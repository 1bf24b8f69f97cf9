package esl

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
)

// probedSwitch answers api status as FreeSWITCH does, or, hung, never, and
// counts the probes; other commands go to the switch it wraps.
type probedSwitch struct {
	Handler
	hung    bool
	release chan struct{} // closed when the test ends: a hung handler returns
	probes  atomic.Int64
}

func (s *probedSwitch) API(ctx context.Context, cmd, args string) (string, func()) {
	if cmd != "status" {
		return s.Handler.API(ctx, cmd, args)
	}
	s.probes.Add(1)
	if s.hung {
		<-s.release
		return "", nil
	}
	return "UP 0 years, 0 days, 0 hours, 1 minute, 2 seconds, 3 milliseconds, 4 microseconds\n" +
		"FreeSWITCH (Version 1.10.12-release 64bit) is ready\n" +
		"0 session(s) since startup\n0 session(s) - peak 0, last 5min 0\n" +
		"0 session(s) per Sec out of max 30, peak 0, last 5min 0\n1000 session(s) max\nmin idle cpu 0.00/99.00\n" +
		"Current Stack Size/Max 240K/8192K\n", nil
}

func startProbedSwitch(t *testing.T, hung bool) (*testSwitch, *probedSwitch, string) {
	t.Helper()
	ps := &probedSwitch{hung: hung, release: make(chan struct{})}
	ts, addr := startTestSwitch(t, "ClueCon", func(s *Server) { ps.Handler, s.Handler = s.Handler, ps })
	t.Cleanup(func() { close(ps.release) }) // before the server closes
	return ts, ps, addr
}

// waitUntil polls cond until it holds; the deadline is for a hung test,
// not a slow machine.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

func (r *logRecorder) count(msg string) int {
	n := 0
	for _, l := range r.snapshot() {
		if l.msg == msg {
			n++
		}
	}
	return n
}

// TestIdleProbe drives the watchdog on a fake clock: a connection that
// reads anything is left alone, a quiet one is probed and kept while the
// switch answers, and one whose switch stops answering is closed, its
// error saying so.
func TestIdleProbe(t *testing.T) {
	const idle, timeout = 10 * time.Second, 5 * time.Second
	type env struct {
		clk    *clock.Fake
		ts     *testSwitch
		ps     *probedSwitch
		c      *Conn
		logs   *logRecorder
		events chan string
	}
	// answered advances the clock by a second at a time for d, and lets
	// every probe sent meanwhile be answered before time goes on.
	answered := func(t *testing.T, e *env, d time.Duration) {
		for spent := time.Duration(0); spent < d; spent += time.Second {
			e.clk.Advance(time.Second)
			if n := e.logs.count("esl: quiet connection, probing"); n > 0 {
				waitUntil(t, "the probe's answer", func() bool { return e.logs.count("esl: probe answered") == n })
			}
		}
	}
	for _, tc := range []struct {
		name      string
		hung      bool
		idleProbe time.Duration
		drive     func(t *testing.T, e *env)
		probes    func(n int64) bool
		closed    bool
	}{
		{
			name: "busy: events flowing, never probed",
			drive: func(t *testing.T, e *env) {
				for i := range 30 { // 3 minutes, an event every 6 s
					e.ts.srv.Publish(e.ts.event("CHANNEL_STATE").Add("Unique-ID", "u-"+strconv.Itoa(i)).Event())
					select {
					case <-e.events:
					case <-time.After(30 * time.Second):
						t.Fatal("event not delivered")
					}
					e.clk.Advance(idle * 6 / 10)
				}
			},
			probes: func(n int64) bool { return n == 0 },
		},
		{
			name:   "quiet and healthy: probed every IdleProbe, kept",
			drive:  func(t *testing.T, e *env) { answered(t, e, 60*time.Second) },
			probes: func(n int64) bool { return n == 6 }, // at 10, 20, ... 60 s
		},
		{
			name:      "quiet, probing off",
			idleProbe: -1,
			drive:     func(t *testing.T, e *env) { e.clk.Advance(time.Hour) },
			probes:    func(n int64) bool { return n == 0 },
		},
		{
			name: "hung: the probe is never answered",
			hung: true,
			drive: func(t *testing.T, e *env) {
				e.clk.Advance(idle)
				waitUntil(t, "the probe", func() bool { return e.ps.probes.Load() == 1 })
				e.clk.Advance(timeout - time.Millisecond)
				if err := e.c.Err(); err != nil {
					t.Fatalf("closed before ProbeTimeout: %v", err)
				}
				e.clk.Advance(time.Millisecond)
			},
			probes: func(n int64) bool { return n == 1 },
			closed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{clk: clock.NewFake(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)), logs: &logRecorder{}, events: make(chan string, 1)}
			var addr string
			e.ts, e.ps, addr = startProbedSwitch(t, tc.hung)
			if tc.idleProbe == 0 {
				tc.idleProbe = idle
			}
			e.c = dialTest(t, addr, Config{Clock: e.clk, IdleProbe: tc.idleProbe, ProbeTimeout: timeout, Logger: slog.New(e.logs),
				OnEvent: func(ev *Event) {
					if ev.Name() == "CHANNEL_STATE" {
						e.events <- ev.UniqueID()
					}
				}})
			if err := e.c.Subscribe(context.Background(), "plain", "CHANNEL_STATE"); err != nil {
				t.Fatal(err)
			}
			tc.drive(t, e)
			if n := e.ps.probes.Load(); !tc.probes(n) {
				t.Errorf("%d probes", n)
			}
			if !tc.closed {
				if err := e.c.Err(); err != nil {
					t.Fatalf("closed: %v", err)
				}
				if out, err := e.c.API(context.Background(), "echo still-here"); err != nil || out != "still-here" {
					t.Fatalf("after the probes: %q, %v", out, err)
				}
				return
			}
			select {
			case <-e.c.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("the connection did not end")
			}
			err := e.c.Err()
			if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnresponsive) || !strings.Contains(err.Error(), "api status unanswered after 5s") {
				t.Fatalf("error %v; want ErrClosed and ErrUnresponsive saying what went unanswered", err)
			}
			if _, err := e.c.API(context.Background(), "echo x"); !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrUnresponsive) {
				t.Fatalf("a command after the close: %v", err)
			}
		})
	}
}

// freezer is a TCP proxy that can stop forwarding, in both directions,
// without closing anything: a hung switch or a network black hole as the
// client sees it.
type freezer struct {
	l      net.Listener
	target string

	mu       sync.Mutex
	thawed   chan struct{} // closed while forwarding
	conns    []net.Conn
	accepted int
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezer{l: l, target: target, thawed: make(chan struct{})}
	close(p.thawed)
	go p.serve()
	t.Cleanup(func() {
		p.thaw()
		l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *freezer) addr() string { return p.l.Addr().String() }

func (p *freezer) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.accepted++
		p.mu.Unlock()
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst; while frozen it holds what it read and reads no
// more, so the kernel's buffers fill as with a peer that stopped.
func (p *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			thawed := p.thawed
			p.mu.Unlock()
			<-thawed
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezer) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.thawed = make(chan struct{})
}

func (p *freezer) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

func (p *freezer) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// TestSilentSwitchIsDisconnected: a switch behind a network that stops
// forwarding (the TCP connection stays open, nothing comes back) is found
// out by the idle probe on the real clock: a command in flight fails, the
// client reports the loss, the pool places no call on the node, and once
// the network is back the client is connected again on a new connection.
func TestSilentSwitchIsDisconnected(t *testing.T) {
	_, ps, addr := startProbedSwitch(t, false)
	proxy := startFreezer(t, addr)
	states := newStateLog()
	cl := NewClient(ClientConfig{
		Config: Config{Password: "ClueCon", IdleProbe: 50 * time.Millisecond, ProbeTimeout: 2 * time.Second,
			DialTimeout: time.Second},
		Name: "fs1", Address: proxy.addr(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnState: states.record,
	})
	node := NewNode(cl, 10)
	pool := NewPool(node)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { pool.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	wait, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := cl.WaitState(wait, Connected); err != nil {
		t.Fatal(err)
	}
	// Quiet and healthy first: probed and kept.
	waitUntil(t, "three answered probes", func() bool { return ps.probes.Load() >= 3 })
	if st, err := cl.State(); st != Connected || proxy.connections() != 1 {
		t.Fatalf("a healthy quiet connection was not kept: %s, %v, %d connections", st, err, proxy.connections())
	}

	from := len(states.snapshot())
	proxy.freeze()
	if _, err := cl.API(ctx, "echo lost"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnresponsive) {
		t.Fatalf("a command sent into the silence: %v; want it failed by the close", err)
	}
	states.waitFor(t, "the loss", func(cs []stateChange) bool {
		for _, c := range cs[from:] {
			if c.state == Disconnected {
				return true
			}
		}
		return false
	})
	if loss := states.snapshot()[from]; loss.state != Disconnected || !strings.Contains(loss.err, ErrUnresponsive.Error()) {
		t.Fatalf("state change %+v; want Disconnected with %q", loss, ErrUnresponsive)
	}
	if _, err := pool.Acquire(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("the pool placed a call on a silent node: %v", err)
	}

	proxy.thaw()
	if err := cl.WaitState(wait, Connected); err != nil {
		t.Fatal(err)
	}
	if out, err := cl.API(ctx, "echo back"); err != nil || out != "back" {
		t.Fatalf("after the network came back: %q, %v", out, err)
	}
	if proxy.connections() < 2 {
		t.Fatalf("%d connections through the proxy; want a new one", proxy.connections())
	}
	if n, err := pool.Acquire(); err != nil || n != node {
		t.Fatalf("the pool after the reconnect: %v, %v", n, err)
	}
}
