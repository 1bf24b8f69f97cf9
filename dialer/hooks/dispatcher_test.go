package hooks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// TestSlowThenDownThenBack is the test: the receiver is slow (one
// request sleeps past the timeout), then answers 503, then is gone
// (connections refused), then back. Every event arrives, each member's in
// the order written, every duplicate the same event with the same id,
// every request signed; nothing is dropped and the outbox ends empty.
func TestSlowThenDownThenBack(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.Real{}
	camp := campaign(t, st)
	rc := newReceiver()
	rc.slow = time.Second // the timeout is 0.3 s
	rc.mode = "slow once"
	srv := startServer(t, rc)
	h := hook(t, st, clk, srv.url(), nil)
	reg := prometheus.NewRegistry()
	start(t, hooks.Config{Store: st, Clock: clk, Instance: "a", Registerer: reg})
	failed := func() float64 { return metric(t, reg, "dialer_hooks_failed_total", "hook", h.ID) }

	written := calls(t, st, clk, camp, "slow", 8)
	eventually(t, "the slow request timed out", func() bool { return failed() >= 1 })
	eventually(t, "the events after it arrived", func() bool { return rc.acceptedAll(written) })

	rc.setMode("503")
	more := calls(t, st, clk, camp, "503", 8)
	eventually(t, "tries answered 503", func() bool { return failed() >= 10 })

	srv.down()
	before := failed()
	more = append(more, calls(t, st, clk, camp, "down", 8)...)
	eventually(t, "tries refused", func() bool { return failed() >= before+10 })

	rc.setMode("ok")
	srv.up()
	written = append(written, more...)
	eventually(t, "every event arrived", func() bool { return rc.acceptedAll(written) })
	checkOrder(t, rc, written)

	if n := metric(t, reg, "dialer_hooks_dropped_total"); n != 0 {
		t.Errorf("%v events dropped", n)
	}
	if n := metric(t, reg, "dialer_hooks_sent_total", "hook", h.ID); n < float64(len(written)) {
		t.Errorf("sent %v, want at least %d", n, len(written))
	}
	seen, _, _ := rc.snapshot()
	tries := map[string]int{}
	for _, d := range seen {
		tries[d.ev.ID]++
	}
	retried := 0
	for _, n := range tries {
		if n > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no event was sent twice: the receiver's trouble was not seen")
	}
	eventually(t, "the outbox is trimmed", func() bool {
		n, err := st.OutboxLen(context.Background(), camp)
		return err == nil && n == 0
	})
	eventually(t, "nothing is pending", func() bool { return metric(t, reg, "dialer_hooks_oldest_pending_seconds", "hook", h.ID) == 0 })
}

// TestGivingUp: an event the receiver never takes is dropped past the
// hook's deadline, or once its retries are spent, and counted by reason;
// the member's next event is delivered, the outbox does not keep either.
func TestGivingUp(t *testing.T) {
	st := storetest.Open(t)
	one := 1
	cases := []struct {
		name   string
		edit   func(h *store.Hook)
		reason string
	}{
		{"deadline", func(h *store.Hook) { h.Deadline = 0.5 }, hooks.DropDeadline},
		{"retries", func(h *store.Hook) { h.Retries = &one }, hooks.DropRetries},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.Real{}
			camp := campaign(t, st)
			rc := newReceiver()
			rc.mode = "503"
			srv := startServer(t, rc)
			h := hook(t, st, clk, srv.url(), tc.edit)
			reg := prometheus.NewRegistry()
			_, stop := start(t, hooks.Config{Store: st, Clock: clk, Instance: "a", Registerer: reg})
			defer stop()
			c := hooks.Call{Campaign: camp, Member: "m1", Attempt: "a1"}
			lost := hooks.NewOffering(c, hooks.Agent{ID: "1"}, clk.Now())
			if err := hooks.Append(context.Background(), st, camp, lost); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the event is dropped", func() bool {
				return metric(t, reg, "dialer_hooks_dropped_total", "hook", h.ID, "reason", tc.reason) == 1
			})
			rc.setMode("ok")
			kept := hooks.NewMissed(c, hooks.Agent{ID: "1"}, clk.Now())
			if err := hooks.Append(context.Background(), st, camp, kept); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the next event arrived", func() bool { return rc.acceptedAll([]hooks.Event{kept}) })
			_, accepted, _ := rc.snapshot()
			if len(accepted) != 1 {
				t.Errorf("accepted %d requests, want only the second event", len(accepted))
			}
			if tc.reason == hooks.DropRetries {
				if n := metric(t, reg, "dialer_hooks_failed_total", "hook", h.ID); n != 2 {
					t.Errorf("%v failed tries, want 2 (the first and its one retry)", n)
				}
			}
			eventually(t, "the outbox is trimmed", func() bool {
				n, err := st.OutboxLen(context.Background(), camp)
				return err == nil && n == 0
			})
		})
	}
}

// TestDeadlineOnTheFakeClock: the deadline, the backoff and the request
// timeout run on the dispatcher's clock: with time standing still the
// event is retried a bounded number of times and never dropped; moved past
// the deadline, it is dropped.
func TestDeadlineOnTheFakeClock(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.NewFake(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	camp := campaign(t, st)
	rc := newReceiver()
	rc.mode = "503"
	srv := startServer(t, rc)
	h := hook(t, st, clk, srv.url(), func(h *store.Hook) { h.Delay, h.Deadline = 1, 60 })
	reg := prometheus.NewRegistry()
	start(t, hooks.Config{Store: st, Clock: clk, Instance: "a", Registerer: reg, MaxBackoff: 10 * time.Second,
		Poll: time.Second, Refresh: time.Second, LeaseTTL: 30 * time.Second})
	ev := hooks.NewOffering(hooks.Call{Campaign: camp, Member: "m1"}, hooks.Agent{ID: "1"}, clk.Now())
	if err := hooks.Append(context.Background(), st, camp, ev); err != nil {
		t.Fatal(err)
	}
	failed := func() float64 { return metric(t, reg, "dialer_hooks_failed_total", "hook", h.ID) }
	advance := func(what string, cond func() bool) {
		t.Helper()
		eventually(t, what, func() bool {
			if cond() {
				return true
			}
			clk.Advance(100 * time.Millisecond)
			return false
		})
	}
	advance("the first try", func() bool { return failed() >= 1 })
	// Time stands still: the backoff (at least 0.5 s) holds the next try.
	settled := failed()
	for range 50 {
		time.Sleep(2 * time.Millisecond)
		if failed() != settled {
			t.Fatalf("tried again (%v, %v) without the clock moving", settled, failed())
		}
	}
	advance("the deadline", func() bool {
		return metric(t, reg, "dialer_hooks_dropped_total", "hook", h.ID, "reason", hooks.DropDeadline) == 1
	})
	// 60 s of 1 s doubling up to 10 s with jitter: between 6 and 60 tries.
	if n := failed(); n < 6 || n > 60 {
		t.Errorf("%v tries in 60 s", n)
	}
}

// TestRestartResumes: a dispatcher stopped with events undelivered leaves
// its progress in Redis; a new one (another instance) resumes from it and
// delivers everything. One that died holding a lane's lease is replaced
// once the lease lapses, not before.
func TestRestartResumes(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.Real{}
	camp := campaign(t, st)
	rc := newReceiver()
	srv := startServer(t, rc)
	h := hook(t, st, clk, srv.url(), nil)
	_, stopA := start(t, hooks.Config{Store: st, Clock: clk, Instance: "a"})
	first := calls(t, st, clk, camp, "first", 5)
	eventually(t, "the first calls arrived", func() bool { return rc.acceptedAll(first) })
	rc.setMode("503")
	second := calls(t, st, clk, camp, "second", 5)
	eventually(t, "the second calls were tried", func() bool {
		seen, _, _ := rc.snapshot()
		return len(seen) > len(first)
	})
	stopA()
	p, err := st.GetOutboxProgress(context.Background(), camp, h.ID)
	if err != nil || p.Cursor == "0-0" {
		t.Fatalf("A's progress: %v, %v", p, err)
	}

	// A dialer that died holding the lane: its lease lapses in a second.
	ghostUntil := clk.Now().Add(time.Second)
	if _, ok, err := st.AcquireOutboxLane(context.Background(), camp, h.ID, store.Runner{Instance: "ghost", Token: "g"}, clk.Now(), ghostUntil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	rc.setMode("ok")
	start(t, hooks.Config{Store: st, Clock: clk, Instance: "b"})
	all := append(first, second...)
	eventually(t, "every event arrived", func() bool { return rc.acceptedAll(all) })
	checkOrder(t, rc, all)
	_, accepted, _ := rc.snapshot()
	for _, d := range accepted {
		if d.from == "b" && d.arrived.Before(ghostUntil) {
			t.Errorf("b sent %s at %v, while the ghost's lease ran until %v", d.ev.ID, d.arrived, ghostUntil)
		}
	}
}

// TestTwoDispatchersNeverOverlap: two dialers share one Redis and the
// lanes of three campaigns to two hooks, the receivers slow and sometimes
// failing; then one stops and the other takes its lanes. No event is ever
// sent to one hook by both at once, and every event arrives.
func TestTwoDispatchersNeverOverlap(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.Real{}
	rcs := []*receiver{newReceiver(), newReceiver()}
	var hs []*store.Hook
	for _, rc := range rcs {
		rc.hold = 5 * time.Millisecond
		hs = append(hs, hook(t, st, clk, startServer(t, rc).url(), nil))
	}
	camps := []string{campaign(t, st), campaign(t, st), campaign(t, st)}
	var written []hooks.Event
	write := func(prefix string) {
		for i, c := range camps {
			written = append(written, calls(t, st, clk, c, prefix+string(rune('a'+i)), 4)...)
		}
	}
	_, stopA := start(t, hooks.Config{Store: st, Clock: clk, Instance: "a", LeaseTTL: 500 * time.Millisecond})
	write("one")
	eventually(t, "a delivered", func() bool {
		_, accepted, _ := rcs[0].snapshot()
		return len(accepted) > 0
	})
	start(t, hooks.Config{Store: st, Clock: clk, Instance: "b", LeaseTTL: 500 * time.Millisecond})
	rcs[1].setMode("503")
	write("two")
	time.Sleep(300 * time.Millisecond) // let b take lanes and both retry
	rcs[1].setMode("ok")
	write("three")
	stopA()
	write("four")
	for i, rc := range rcs {
		eventually(t, "every event arrived", func() bool { return rc.acceptedAll(written) })
		checkOrder(t, rc, written)
		seen, _, overlaps := rc.snapshot()
		if len(overlaps) > 0 {
			t.Errorf("hook %d: events sent twice at once: %v", i, overlaps)
		}
		from := map[string]int{}
		for _, d := range seen {
			from[d.from]++
		}
		t.Logf("hook %d: requests by dispatcher %v", i, from)
	}
	from := map[string]bool{}
	for _, rc := range rcs {
		seen, _, _ := rc.snapshot()
		for _, d := range seen {
			from[d.from] = true
		}
	}
	if !from["a"] || !from["b"] {
		t.Errorf("requests came from %v: both dispatchers should have delivered", from)
	}
}

// TestWantsFollowsTheHooks: before the hooks are read the engine is told
// to write every event; then only those an enabled hook takes; a nil
// dispatcher wants nothing.
func TestWantsFollowsTheHooks(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.Real{}
	camp, other := campaign(t, st), campaign(t, st)
	var none *hooks.Dispatcher
	if none.Wants(camp, hooks.Ended) {
		t.Fatal("a nil dispatcher wants events")
	}
	d := hooks.New(hooks.Config{Store: st, Clock: clk})
	if !d.Wants(camp, hooks.Ended) {
		t.Fatal("before reading the hooks, events must be written")
	}
	hook(t, st, clk, "http://127.0.0.1:1/x", func(h *store.Hook) { h.Event, h.Campaign = []string{hooks.Ended}, camp })
	off := false
	hook(t, st, clk, "http://127.0.0.1:1/x", func(h *store.Hook) { h.Event, h.Enabled = []string{hooks.Bridged}, &off })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		hooks.New(hooks.Config{Store: st, Clock: clk}).Run(ctx) // another dialer's, unrelated
		close(done)
	}()
	defer func() { cancel(); <-done }()
	_, stop := start(t, hooks.Config{Store: st, Clock: clk, Instance: "a"})
	defer stop()
	d2, stop2 := start(t, hooks.Config{Store: st, Clock: clk, Instance: "b"})
	defer stop2()
	eventually(t, "the hooks are read", func() bool { return !d2.Wants(other, hooks.Ended) })
	for _, tc := range []struct {
		campaign, event string
		want            bool
	}{
		{camp, hooks.Ended, true},
		{camp, hooks.Offering, false},
		{other, hooks.Ended, false},
		{camp, hooks.Bridged, false}, // the hook that takes it is disabled
	} {
		if got := d2.Wants(tc.campaign, tc.event); got != tc.want {
			t.Errorf("Wants(%s, %s) = %v", tc.campaign, tc.event, got)
		}
	}
}

// TestSignature: the recipe in the package documentation, computed
// independently in fixture_test.go's receiver, agrees with Sign and
// Verify.
func TestSignature(t *testing.T) {
	body := []byte(`{"id":"1","event":"ended"}`)
	sig := hooks.Sign(secret, body)
	if !hooks.Verify(secret, body, sig) {
		t.Fatal("a body does not verify with its own signature")
	}
	for _, bad := range []struct {
		secret string
		body   string
		sig    string
	}{
		{"another secret of 32 bytes......", string(body), sig},
		{secret, `{"id":"1","event":"bridged"}`, sig},
		{secret, string(body), sig[:len(sig)-1]},
		{secret, string(body), ""},
	} {
		if hooks.Verify(bad.secret, []byte(bad.body), bad.sig) {
			t.Errorf("verified %+v", bad)
		}
	}
}

// TestNotifyWakesTheLanes: with an hour between polls, an event appended
// and notified is delivered at once.
func TestNotifyWakesTheLanes(t *testing.T) {
	st := storetest.Open(t)
	clk := clock.Real{}
	camp := campaign(t, st)
	rc := newReceiver()
	hook(t, st, clk, startServer(t, rc).url(), nil)
	d, _ := start(t, hooks.Config{Store: st, Clock: clk, Instance: "a", Poll: time.Hour, LeaseTTL: 3 * time.Hour})
	c := hooks.Call{Campaign: camp, Member: "m1"}
	for i, ev := range []hooks.Event{hooks.NewOffering(c, hooks.Agent{ID: "1"}, clk.Now()), hooks.NewBridged(c, hooks.Agent{ID: "1"}, clk.Now())} {
		if err := hooks.Append(context.Background(), st, camp, ev); err != nil {
			t.Fatal(err)
		}
		d.Notify(camp)
		// The first is read when the lane starts; the second only because
		// of Notify, the lane then waiting for its next poll.
		eventually(t, fmt.Sprintf("event %d arrived", i), func() bool { return rc.acceptedAll([]hooks.Event{ev}) })
	}
}
