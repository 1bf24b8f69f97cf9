package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

func putAgent(t *testing.T, s *store.Store, a *store.Agent) {
	t.Helper()
	if _, err := s.PutAgent(context.Background(), a, t0); err != nil {
		t.Fatal(err)
	}
}

func live(t *testing.T, s *store.Store, id string) *store.AgentLive {
	t.Helper()
	_, l, err := s.GetAgent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// An agent's day: logged out, available, reserved for a call, offered,
// talking, wrap-up, waiting again; a missed call and its delay; misses in a
// row end in a break; an unregistered phone waits for a status.
func TestAgentLifecycle(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putAgent(t, s, &store.Agent{ID: "100", Name: "Olena", WrapUpTime: 10, NoAnswerDelayTime: 30, MaxNoAnswer: 2})
		res := func(attempt string, at time.Time) error {
			_, err := s.ReserveAgent(ctx, "100", store.AgentReservation{Attempt: attempt, Campaign: "c1", Owner: "d1", Until: at.Add(time.Minute)}, at)
			return err
		}
		type step struct {
			what  string
			at    time.Duration // after t0
			do    func(at time.Time) error
			err   error // want
			shown string
		}
		for i, st := range []step{
			{"a new agent is logged out", 0, func(time.Time) error { return nil }, nil, store.AgentIdle},
			{"not reserved while logged out", 0, func(at time.Time) error { return res("a0", at) }, store.ErrAgentNotReady, store.AgentIdle},
			{"available", 0, func(at time.Time) error { return s.SetAgentStatus(ctx, "100", store.AgentAvailable, at) }, nil, store.AgentWaiting},
			{"reserved", time.Second, func(at time.Time) error { return res("a1", at) }, nil, store.AgentReserved},
			{"not twice", time.Second, func(at time.Time) error { return res("a2", at) }, store.ErrAgentNotReady, store.AgentReserved},
			{"another attempt cannot move it", 2 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a2", store.AgentOffer, at) }, store.ErrLeaseLost, store.AgentReserved},
			{"offered", 2 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a1", store.AgentOffer, at) }, nil, store.AgentOffering},
			{"talking", 5 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a1", store.AgentBridge, at) }, nil, store.AgentInCall},
			{"cannot be deleted in a call", 6 * time.Second, func(at time.Time) error { return s.DeleteAgent(ctx, "100", at) }, store.ErrConflict, store.AgentInCall},
			{"call over: wrap-up", 65 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a1", store.AgentEnd, at, 10, 60) }, nil, store.AgentWrapUp},
			{"not reserved in wrap-up", 70 * time.Second, func(at time.Time) error { return res("a3", at) }, store.ErrAgentNotReady, store.AgentWrapUp},
			{"waiting after it", 75 * time.Second, func(at time.Time) error { return nil }, nil, store.AgentWaiting},
			{"reserved again", 75 * time.Second, func(at time.Time) error { return res("a4", at) }, nil, store.AgentReserved},
			{"missed: a delay", 90 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a4", store.AgentMissed, at, 30, 2) }, nil, store.AgentIdle},
			{"waiting after the delay", 120 * time.Second, func(time.Time) error { return nil }, nil, store.AgentWaiting},
			{"reserved", 120 * time.Second, func(at time.Time) error { return res("a5", at) }, nil, store.AgentReserved},
			{"second miss in a row: a break", 140 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a5", store.AgentMissed, at, 30, 2) }, nil, store.AgentIdle},
			{"back from the break", 300 * time.Second, func(at time.Time) error { return s.SetAgentStatus(ctx, "100", store.AgentAvailable, at) }, nil, store.AgentWaiting},
			{"reserved", 300 * time.Second, func(at time.Time) error { return res("a6", at) }, nil, store.AgentReserved},
			{"its phone is not registered", 301 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "100", "a6", store.AgentUnregistered, at) }, nil, store.AgentIdle},
			{"not offered calls until someone acts", 900 * time.Second, func(at time.Time) error { return res("a7", at) }, store.ErrAgentNotReady, store.AgentIdle},
			{"the agent says it is available", 901 * time.Second, func(at time.Time) error { return s.SetAgentStatus(ctx, "100", store.AgentAvailable, at) }, nil, store.AgentWaiting},
			{"deleted when no call holds it", 902 * time.Second, func(at time.Time) error { return s.DeleteAgent(ctx, "100", at) }, nil, ""},
		} {
			at := t0.Add(st.at)
			err := st.do(at)
			if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
				t.Fatalf("step %d, %s: %v, want %v", i, st.what, err, st.err)
			}
			if st.shown == "" {
				continue
			}
			if got := live(t, s, "100").Shown(at); got != st.shown {
				t.Fatalf("step %d, %s: %s, want %s (%+v)", i, st.what, got, st.shown, live(t, s, "100"))
			}
		}
		if _, _, err := s.GetAgent(ctx, "100"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}

// An agent reached by a session: called once when available, ready only
// while the leg is up, kept between calls, handed over when its keeper
// dies, and ended by a hangup (Logged Out) or a miss (a delay).
func TestAgentSessionLifecycle(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putAgent(t, s, &store.Agent{ID: "300", Reach: store.ReachSession, WrapUpTime: 5, NoAnswerDelayTime: 30, MaxNoAnswer: 3})
		open := func(uuid, owner string, at time.Time) error {
			return s.OpenSession(ctx, "300", store.AgentSession{UUID: uuid, Node: "fs1", Owner: owner, Until: at.Add(time.Minute)}, at)
		}
		res := func(attempt string, at time.Time) error {
			r, err := s.ReserveAgent(ctx, "300", store.AgentReservation{Attempt: attempt, Campaign: "c1", Owner: "d1", Until: at.Add(time.Minute)}, at)
			if err == nil && (r.Session != "s2" || r.SessionNode != "fs1") {
				t.Errorf("reserved on %+v, want the leg s2 of fs1", r)
			}
			return err
		}
		type step struct {
			what  string
			at    time.Duration // after t0
			do    func(at time.Time) error
			err   error // want
			check func(l *store.AgentLive, at time.Time) bool
		}
		wants := func(l *store.AgentLive, at time.Time) bool { return l.WantsSession(at) && !l.Ready(at) }
		ready := func(l *store.AgentLive, at time.Time) bool { return l.Ready(at) && !l.WantsSession(at) }
		neither := func(l *store.AgentLive, at time.Time) bool { return !l.Ready(at) && !l.WantsSession(at) }
		for i, st := range []step{
			{"logged out: no session wanted", 0, func(time.Time) error { return nil }, nil, neither},
			{"not opened while logged out", 0, func(at time.Time) error { return open("s0", "d1", at) }, store.ErrAgentNotReady, neither},
			{"available: a session is wanted, no call yet", 0, func(at time.Time) error { return s.SetAgentStatus(ctx, "300", store.AgentAvailable, at) }, nil, wants},
			{"not reserved without a session", 0, func(at time.Time) error { return res("a0", at) }, store.ErrAgentNotReady, wants},
			{"missed session call: a delay", time.Second, func(at time.Time) error {
				if err := open("s1", "d1", at); err != nil {
					return err
				}
				return s.EndSession(ctx, "300", "s1", store.AgentMissed, at, 30, 3)
			}, nil, neither},
			{"after the delay it is wanted again", 31 * time.Second, func(time.Time) error { return nil }, nil, wants},
			{"one dialer opens it", 31 * time.Second, func(at time.Time) error { return open("s2", "d1", at) }, nil, neither},
			{"not a second", 31 * time.Second, func(at time.Time) error { return open("s3", "d2", at) }, store.ErrAgentNotReady, neither},
			{"not another leg's answer", 33 * time.Second, func(at time.Time) error { return s.SessionUp(ctx, "300", "s3", at) }, store.ErrLeaseLost, neither},
			{"answered: ready", 33 * time.Second, func(at time.Time) error { return s.SessionUp(ctx, "300", "s2", at) }, nil, ready},
			{"reserved", 34 * time.Second, func(at time.Time) error { return res("a1", at) }, nil, neither},
			{"talk, wrap-up", 60 * time.Second, func(at time.Time) error { return s.AgentEvent(ctx, "300", "a1", store.AgentEnd, at, 5, 20) }, nil, neither},
			{"ready after it, on the same leg", 66 * time.Second, func(time.Time) error { return nil }, nil, ready},
			{"its keeper lapses: another takes it over", 200 * time.Second, func(at time.Time) error {
				return s.AdoptSession(ctx, "300", "s2", "d2", at.Add(time.Minute), at)
			}, nil, ready},
			{"not while the new keeper holds it", 201 * time.Second, func(at time.Time) error {
				return s.AdoptSession(ctx, "300", "s2", "d1", at.Add(time.Minute), at)
			}, store.ErrConflict, ready},
			{"the agent hangs up: logged out", 210 * time.Second, func(at time.Time) error {
				return s.EndSession(ctx, "300", "s2", store.SessionHungUp, at, 0, 0)
			}, nil, neither},
			{"back: available, a session wanted", 300 * time.Second, func(at time.Time) error { return s.SetAgentStatus(ctx, "300", store.AgentAvailable, at) }, nil, wants},
		} {
			at := t0.Add(st.at)
			err := st.do(at)
			if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
				t.Fatalf("step %d, %s: %v, want %v", i, st.what, err, st.err)
			}
			if l := live(t, s, "300"); !st.check(l, at) {
				t.Fatalf("step %d, %s: %+v", i, st.what, l)
			}
		}
		if l := live(t, s, "300"); l.Reason != "" || l.Status != store.AgentAvailable || l.Session != "" || l.NoAnswerCount != 0 {
			t.Errorf("after all: %+v", l)
		}
		// The keeper renews its sessions, not another's.
		now := t0.Add(400 * time.Second)
		if err := open("s4", "d1", now); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RenewSessions(ctx, "d2", []string{"300"}, now.Add(time.Hour)); n != 0 || err != nil {
			t.Fatalf("renewed by another: %d, %v", n, err)
		}
		if n, err := s.RenewSessions(ctx, "d1", []string{"300"}, now.Add(time.Hour)); n != 1 || err != nil {
			t.Fatalf("renewed by its keeper: %d, %v", n, err)
		}
		if l := live(t, s, "300"); l.SessionLapsed(now.Add(59*time.Minute)) || !l.SessionLapsed(now.Add(time.Hour)) {
			t.Errorf("lapses at %d", l.SessionUntil)
		}
	})
}

// Counters and break status as the seeds' engine shows them.
func TestAgentCounters(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putAgent(t, s, &store.Agent{ID: "7"})
		if err := s.SetAgentStatus(ctx, "7", store.AgentAvailable, t0); err != nil {
			t.Fatal(err)
		}
		// Each call counts once: told of its bridge twice (a resend), or
		// never (its dialer died just after the bridge: the end counts it).
		for i, bridges := range []int{1, 2, 0, 0} {
			at := t0.Add(time.Duration(i) * time.Minute)
			id := fmt.Sprint("a", i)
			if _, err := s.ReserveAgent(ctx, "7", store.AgentReservation{Attempt: id, Owner: "d", Until: at.Add(time.Minute)}, at); err != nil {
				t.Fatal(err)
			}
			for range bridges {
				_ = s.AgentEvent(ctx, "7", id, store.AgentBridge, at)
			}
			_ = s.AgentEvent(ctx, "7", id, store.AgentEnd, at.Add(20*time.Second), 0, 20)
		}
		l := live(t, s, "7")
		if l.CallsAnswered != 4 || l.TalkTime != 80 || l.LastBridgeStart != t0.Add(3*time.Minute).Unix() || l.LastBridgeEnd != t0.Add(200*time.Second).Unix() || l.Attempt != "" {
			t.Fatalf("counters %+v", l)
		}
		if err := s.SetAgentStatus(ctx, "7", "Sleeping", t0); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad status: %v", err)
		}
		if _, err := s.PutAgent(ctx, &store.Agent{ID: "8", Contact: "user/8,user/9"}, t0); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a contact dialing two phones: %v", err)
		}
	})
}

// One agent, one call: dialers racing for an agent get it once; a
// reservation its dialer stops renewing lapses; renewing keeps it.
func TestAgentReservationIsExclusive(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putAgent(t, s, &store.Agent{ID: "9"})
		_ = s.SetAgentStatus(ctx, "9", store.AgentAvailable, t0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.ReserveAgent(ctx, "9", store.AgentReservation{Attempt: fmt.Sprint("a", i), Owner: fmt.Sprint("d", i%3), Until: t0.Add(30 * time.Second)}, t0)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d reservations of one agent", won)
		}
		owner := live(t, s, "9").Owner
		if n, err := s.RenewAgents(ctx, owner, []string{"9"}, t0.Add(90*time.Second)); err != nil || n != 1 {
			t.Fatalf("renew: %d %v", n, err)
		}
		if n, _ := s.RenewAgents(ctx, "someone-else", []string{"9"}, t0.Add(time.Hour)); n != 0 {
			t.Fatal("another dialer renewed a reservation it does not hold")
		}
		if _, err := s.ReserveAgent(ctx, "9", store.AgentReservation{Attempt: "late", Owner: "d9", Until: t0.Add(2 * time.Minute)}, t0.Add(60*time.Second)); err == nil {
			t.Fatal("a renewed reservation was taken")
		}
		if _, err := s.ReserveAgent(ctx, "9", store.AgentReservation{Attempt: "later", Owner: "d9", Until: t0.Add(3 * time.Minute)}, t0.Add(91*time.Second)); err != nil {
			t.Fatalf("a lapsed reservation (its dialer died) was not freed: %v", err)
		}
	})
}

// A batch of reservations is each reservation on its own: two bids for
// one agent give it to the first, a bid for an agent on break is refused,
// and the others stand.
func TestReserveAgentsInOneRoundTrip(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, id := range []string{"1", "2", "3"} {
			putAgent(t, s, &store.Agent{ID: id})
			_ = s.SetAgentStatus(ctx, id, store.AgentAvailable, t0)
		}
		_ = s.SetAgentStatus(ctx, "3", store.AgentOnBreak, t0)
		bid := func(agent, attempt string) store.AgentBid {
			return store.AgentBid{Agent: agent, AgentReservation: store.AgentReservation{Attempt: attempt, Owner: "d", Until: t0.Add(time.Minute)}}
		}
		res, err := s.ReserveAgents(ctx, []store.AgentBid{bid("1", "a"), bid("1", "b"), bid("2", "c"), bid("3", "d"), bid("404", "e")}, t0)
		if err != nil || len(res) != 5 {
			t.Fatalf("%v %v", res, err)
		}
		for i, want := range []error{nil, store.ErrAgentNotReady, nil, store.ErrAgentNotReady, store.ErrNotFound} {
			if got := res[i].Err; want == nil && got != nil || want != nil && !errors.Is(got, want) {
				t.Errorf("bid %d: %v, want %v", i, got, want)
			}
		}
		if l := live(t, s, "1"); l.Attempt != "a" {
			t.Errorf("agent 1 holds %q, want the first bid's", l.Attempt)
		}
	})
}

// A reader of the changes sees every agent that changed, and is told when
// it fell too far behind.
func TestAgentChanges(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cur, err := s.AgentCursorNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		putAgent(t, s, &store.Agent{ID: "1"})
		putAgent(t, s, &store.Agent{ID: "2"})
		_ = s.SetAgentStatus(ctx, "1", store.AgentAvailable, t0)
		ids, next, missed, err := s.AgentChanges(ctx, cur)
		if err != nil || missed || fmt.Sprint(ids) != "[1 2]" || next.Seq != 3 {
			t.Fatalf("changes %v %+v %v %v", ids, next, missed, err)
		}
		if ids, _, _, _ := s.AgentChanges(ctx, next); len(ids) != 0 {
			t.Fatalf("nothing changed, yet %v", ids)
		}
		if _, _, missed, _ := s.AgentChanges(ctx, store.AgentCursor{ID: "0-1", Seq: 0}); missed {
			t.Fatal("a reader from the start missed nothing")
		}
		if err := s.Client().XTrimMaxLen(ctx, "dialer:{agents}:changes", 1).Err(); err != nil {
			t.Fatal(err)
		}
		if _, _, missed, _ := s.AgentChanges(ctx, cur); !missed {
			t.Fatal("trimmed changes went unnoticed")
		}
	})
}

// A renewal is a change: the dialers' views learn the new expiry, or they
// would take a reservation or a session still held for lapsed.
func TestRenewalsAreChanges(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putAgent(t, s, &store.Agent{ID: "1"})
		putAgent(t, s, &store.Agent{ID: "2", Reach: store.ReachSession})
		for _, id := range []string{"1", "2"} {
			if err := s.SetAgentStatus(ctx, id, store.AgentAvailable, t0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.ReserveAgent(ctx, "1", store.AgentReservation{Attempt: "a", Owner: "d", Until: t0.Add(time.Minute)}, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.OpenSession(ctx, "2", store.AgentSession{UUID: "s", Node: "fs1", Owner: "d", Until: t0.Add(time.Minute)}, t0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			id    string
			renew func() (int, error)
		}{
			{"1", func() (int, error) { return s.RenewAgents(ctx, "d", []string{"1"}, t0.Add(time.Hour)) }},
			{"2", func() (int, error) { return s.RenewSessions(ctx, "d", []string{"2"}, t0.Add(time.Hour)) }},
		} {
			cursor, err := s.AgentCursorNow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := tc.renew(); n != 1 || err != nil {
				t.Fatalf("renew %s: %d, %v", tc.id, n, err)
			}
			ids, _, _, err := s.AgentChanges(ctx, cursor)
			if err != nil || len(ids) != 1 || ids[0] != tc.id {
				t.Fatalf("changes after renewing %s: %v, %v", tc.id, ids, err)
			}
		}
	})
}

// An offer is shown to its agent, answered once (a second answer is a
// conflict), and dropped when its attempt is over; a newer offer stays.
func TestPreviewOffers(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.GetOffer(ctx, "7"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no offer yet: %v", err)
		}
		if _, err := s.DecideOffer(ctx, "7", store.PreviewAccept, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("answer without an offer: %v", err)
		}
		o := &store.Offer{Agent: "7", Campaign: "c", Attempt: "a1", Member: "m", Number: "+380501234567", OnTimeout: store.PreviewSkip}
		if err := s.PutOffer(ctx, o); err != nil {
			t.Fatal(err)
		}
		got, err := s.DecideOffer(ctx, "7", store.PreviewSkip, "wrong person")
		if err != nil || got.Decision != store.PreviewSkip || got.Reason != "wrong person" || got.Number != o.Number {
			t.Fatalf("skip: %+v %v", got, err)
		}
		if _, err := s.DecideOffer(ctx, "7", store.PreviewAccept, ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second answer: %v", err)
		}
		if d, r, err := s.OfferDecision(ctx, "a1"); d != store.PreviewSkip || r != "wrong person" || err != nil {
			t.Fatalf("decision %q %q %v", d, r, err)
		}
		newer := &store.Offer{Agent: "7", Campaign: "c", Attempt: "a2", Member: "m2"}
		if err := s.PutOffer(ctx, newer); err != nil {
			t.Fatal(err)
		}
		if err := s.DropOffer(ctx, "7", "a1"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetOffer(ctx, "7"); err != nil || got.Attempt != "a2" || got.Decision != "" {
			t.Fatalf("the newer offer: %+v %v", got, err)
		}
		if d, _, _ := s.OfferDecision(ctx, "a1"); d != "" {
			t.Fatalf("a dropped offer's answer stays: %q", d)
		}
		if err := s.DropOffer(ctx, "7", "a2"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetOffer(ctx, "7"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after the drop: %v", err)
		}
	})
}
