package dialer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/tcpproxy"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// debugLogger, when a test sets it, shows the engine's log.
var debugLogger *slog.Logger

// Monday 2026-11-23 10:00 UTC.
var epoch = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// world is the engine against a real redis-server and the simulator over
// real TCP ESL, on one fake clock.
type world struct {
	t      *testing.T
	clk    *clock.Fake
	redis  *storetest.Server
	st     *store.Store
	sw     *sim.Switch
	addr   string          // the switch's event socket
	proxy  *tcpproxy.Proxy // the dialers' way to it: the network, cut at will
	obs    *observer
	eng    *dialer.Engine
	stop   context.CancelFunc
	exited chan struct{}
	cfg    func(*dialer.Config)
	step   time.Duration // of runUntil
}

func newWorld(t *testing.T, scenario string) *world {
	t.Helper()
	return newWorldAt(t, scenario, epoch)
}

func newWorldAt(t *testing.T, scenario string, start time.Time) *world {
	t.Helper()
	sc, err := sim.ParseScenario([]byte(scenario))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, clk: clock.NewFake(start), step: 250 * time.Millisecond}
	w.redis = storetest.StartRedis(t)
	w.st = storetest.OpenOn(t, w.redis, 500*time.Millisecond)
	w.sw = sim.New(sc, w.clk, sim.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = l.Addr().String()
	go w.sw.Serve(l)
	t.Cleanup(func() { w.sw.Close() })
	if w.proxy, err = tcpproxy.New(w.addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.proxy.Close)
	w.obs = newObserver(t, w.addr, w.clk)
	return w
}

// startEngine starts a dialer: its own ESL client to the switch, its engine.
func (w *world) startEngine() {
	w.t.Helper()
	w.eng, w.stop, w.exited = w.newEngine(nil)
	w.t.Cleanup(w.stopEngine)
}

// newEngine starts a dialer of its own, configured by w.cfg and then edit;
// stop ends it and exited is closed when it has.
func (w *world) newEngine(edit func(*dialer.Config)) (eng *dialer.Engine, stop context.CancelFunc, exited chan struct{}) {
	w.t.Helper()
	client := esl.NewClient(esl.ClientConfig{
		Config:     esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name:       "fs1",
		Address:    w.proxy.Addr(),
		Events:     dialer.Events(),
		MinBackoff: 5 * time.Millisecond,
		OnState:    func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
	})
	pool := esl.NewPool(esl.NewNode(client, 0))
	cfg := dialer.Config{Store: w.st, Switches: dialer.PoolSwitches(pool), Clock: w.clk, Instance: "test-dialer", Region: "UA", Logger: debugLogger}
	if w.cfg != nil {
		w.cfg(&cfg)
	}
	if edit != nil {
		edit(&cfg)
	}
	eng = dialer.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	exited = make(chan struct{})
	go pool.Run(ctx)
	go func() { eng.Run(ctx); close(exited) }()
	wait, stopWait := context.WithTimeout(ctx, 5*time.Second)
	defer stopWait()
	if err := client.WaitState(wait, esl.Connected); err != nil {
		w.t.Fatal(err)
	}
	return eng, cancel, exited
}

// stopEngine kills the dialer as a crash would: calls stay where they are.
func (w *world) stopEngine() {
	if w.stop == nil {
		return
	}
	w.stop()
	<-w.exited
	w.stop = nil
}

func (w *world) campaign(edit func(c *store.Campaign)) *store.Campaign {
	w.t.Helper()
	c := &store.Campaign{
		Name: "broadcast", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 10, MaxTryCount: 3, IntervalTryCount: 60, MinBillSec: 5, OriginateTimeout: 30},
		Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
		Broadcast:  store.Broadcast{File: "/msg.wav"},
	}
	if edit != nil {
		edit(c)
	}
	if err := w.st.CreateCampaign(context.Background(), c, w.clk.Now()); err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) add(c *store.Campaign, ms ...*store.Member) []string {
	w.t.Helper()
	res, err := w.st.InsertMembers(context.Background(), c, ms, w.clk.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			w.t.Fatalf("member %d: %v", i, r.Err)
		}
		ids[i] = r.ID
	}
	return ids
}

func mem(numbers ...string) *store.Member {
	m := &store.Member{Name: "member"}
	for i, n := range numbers {
		m.Communications = append(m.Communications, store.Communication{Number: n, Priority: len(numbers) - i})
	}
	return m
}

func (w *world) start(c *store.Campaign) {
	w.t.Helper()
	if _, err := w.eng.StartCampaign(context.Background(), c.ID); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) member(c *store.Campaign, id string) (*store.Member, string) {
	w.t.Helper()
	m, st, err := w.st.GetMember(context.Background(), c.ID, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return m, st
}

// ended reports whether every listed member has an end cause.
func (w *world) ended(c *store.Campaign, ids ...string) func() bool {
	return func() bool {
		for _, id := range ids {
			if m, _ := w.member(c, id); m.EndCause == "" {
				return false
			}
		}
		return true
	}
}

// runUntil moves the clock in steps until cond holds, failing after max of
// simulated time. Each step gives the goroutines a moment of real time.
func (w *world) runUntil(what string, max time.Duration, cond func() bool) {
	w.t.Helper()
	for spent := time.Duration(0); spent <= max; spent += w.step {
		if cond() {
			return
		}
		w.clk.Advance(w.step)
		time.Sleep(3 * time.Millisecond)
	}
	w.t.Fatalf("after %v of simulated time: %s is not so", max, what)
}

// waitReal waits in real time, the clock standing still, until cond holds:
// for what the dialer does at its own pace, as waiting out store timeouts.
func (w *world) waitReal(what string, max time.Duration, cond func() bool) {
	w.t.Helper()
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	w.t.Fatalf("after %v: %s is not so", max, what)
}

// observer records what the switch did, from a connection of its own.
type observer struct {
	mu     sync.Mutex
	clk    *clock.Fake
	events []observed
	// live channels per member and per gateway, and the most at once
	live       map[string]int
	maxPerMemb int
	liveGw     map[string]int
	maxPerGw   map[string]int
	uuids      map[string]observed // live channels
}

type observed struct {
	name, uuid, member, campaign, dest, channel, callerID, record, gateway string
	at                                                                     time.Time
}

func newObserver(t *testing.T, addr string, clk *clock.Fake) *observer {
	o := &observer{clk: clk, live: map[string]int{}, liveGw: map[string]int{}, maxPerGw: map[string]int{}, uuids: map[string]observed{}}
	var client *esl.Client
	client = esl.NewClient(esl.ClientConfig{
		Config:     esl.Config{Password: "ClueCon", OnEvent: o.onEvent},
		Address:    addr,
		Events:     []string{"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_DESTROY", "RECORD_START"},
		MinBackoff: 5 * time.Millisecond,
		OnState: func(_ string, s esl.State, _ error) {
			if s == esl.Connected {
				go o.resync(client)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go client.Run(ctx)
	wait, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if err := client.WaitState(wait, esl.Connected); err != nil {
		t.Fatal(err)
	}
	return o
}

// resync drops the channels that ended while the observer was away.
func (o *observer) resync(c *esl.Client) {
	out, err := c.API(context.Background(), "show channels as json")
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for uuid, e := range o.uuids {
		if !strings.Contains(out, uuid) {
			o.gone(uuid, e)
		}
	}
}

func (o *observer) gone(uuid string, e observed) {
	delete(o.uuids, uuid)
	o.live[e.member]--
	o.liveGw[e.gateway]--
}

func (o *observer) onEvent(ev *esl.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := observed{name: ev.Name(), uuid: ev.UniqueID(), member: ev.Var("dialer_member_id"), campaign: ev.Var("dialer_campaign_id"),
		dest: ev.Get("Caller-Destination-Number"), channel: ev.Get("Channel-Name"), callerID: ev.Var("origination_caller_id_number"),
		record: ev.Get("Record-File-Path"), gateway: ev.Var("sip_gateway_name"), at: o.clk.Now()}
	// When the switch fired it (its clock is the test's), not when it
	// arrived: on a loaded machine the clock runs ahead of the delivery.
	if us, err := strconv.ParseInt(ev.Get("Event-Date-Timestamp"), 10, 64); err == nil {
		e.at = time.UnixMicro(us)
	}
	o.events = append(o.events, e)
	switch e.name {
	case "CHANNEL_CREATE":
		o.uuids[e.uuid] = e
		o.live[e.member]++
		o.maxPerMemb = max(o.maxPerMemb, o.live[e.member])
		o.liveGw[e.gateway]++
		o.maxPerGw[e.gateway] = max(o.maxPerGw[e.gateway], o.liveGw[e.gateway])
	case "CHANNEL_DESTROY":
		if c, ok := o.uuids[e.uuid]; ok {
			o.gone(e.uuid, c)
		}
	}
}

// calls returns the CHANNEL_CREATEs, optionally of one member.
func (o *observer) calls(member string) []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []observed
	for _, e := range o.events {
		if e.name == "CHANNEL_CREATE" && (member == "" || e.member == member) {
			out = append(out, e)
		}
	}
	return out
}

func (o *observer) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.events {
		if e.name == name {
			n++
		}
	}
	return n
}

func (o *observer) maxConcurrentOnGateway(gw string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxPerGw[gw]
}

func (o *observer) maxConcurrentPerMember() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxPerMemb
}

func dests(calls []observed) string {
	var b []string
	for _, c := range calls {
		b = append(b, c.dest)
	}
	return strings.Join(b, ",")
}

func history(w *world, c *store.Campaign) map[string][]store.CallRecord {
	w.t.Helper()
	recs, _, err := w.st.History(context.Background(), c.ID, "", 10000)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string][]store.CallRecord{}
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		out[recs[i].Member] = append(out[recs[i].Member], recs[i])
	}
	return out
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var _ = fmt.Sprint

// calls returns the calls of one campaign, in order.
func (o *observer) campaignCalls(campaign string) []observed {
	var out []observed
	for _, c := range o.calls("") {
		if c.campaign == campaign {
			out = append(out, c)
		}
	}
	return out
}
