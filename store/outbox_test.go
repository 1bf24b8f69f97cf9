package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

func events(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(`{"id":"` + n + `"}`)
	}
	return out
}

func bodies(es []store.OutboxEntry) string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(e.Body[len(`{"id":"`) : len(e.Body)-2])
	}
	return b.String()
}

func readAll(t *testing.T, s *store.Store, campaign, after string) []store.OutboxEntry {
	t.Helper()
	es, err := s.ReadOutbox(context.Background(), campaign, after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestOutboxTrimsWhatEveryHookFinished: entries are read in the order
// they were appended; they stay until every hook that takes the campaign
// has finished them; a hook no longer listed lets go of them, and with no
// hook at all everything goes.
func TestOutboxTrimsWhatEveryHookFinished(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		if err := s.AppendOutbox(ctx, c.ID, events("e1", "e2", "e3")...); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendOutbox(ctx, c.ID, events("e4", "e5")...); err != nil {
			t.Fatal(err)
		}
		all := readAll(t, s, c.ID, "0-0")
		if got := bodies(all); got != "e1 e2 e3 e4 e5" {
			t.Fatalf("read %q", got)
		}
		if got := bodies(readAll(t, s, c.ID, all[2].ID)); got != "e4 e5" {
			t.Fatalf("read after e3: %q", got)
		}
		trim := func(hooks ...string) int64 {
			t.Helper()
			n, err := s.TrimOutbox(ctx, c.ID, hooks)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// h1 and h2 take the campaign; h2 has not started yet: nothing goes
		a := store.Runner{Instance: "a", Token: "t1"}
		p, ok, err := s.AcquireOutboxLane(ctx, c.ID, "h1", a, t0, t0.Add(time.Minute))
		if err != nil || !ok || p.Cursor != "0-0" || len(p.Done) != 0 {
			t.Fatalf("a new lane: %+v %v %v", p, ok, err)
		}
		if ok, err := s.SaveOutboxProgress(ctx, c.ID, "h1", a, store.OutboxProgress{Cursor: all[3].ID}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if n := trim("h1", "h2"); n != 0 {
			t.Fatalf("trimmed %d before h2 started", n)
		}
		if _, ok, _ := s.AcquireOutboxLane(ctx, c.ID, "h2", a, t0, t0.Add(time.Minute)); !ok {
			t.Fatal("h2's lane")
		}
		// h2 finished e1, e2 and (out of order) e4
		done := store.OutboxProgress{Cursor: all[1].ID, Done: []string{all[3].ID}}
		if ok, _ := s.SaveOutboxProgress(ctx, c.ID, "h2", a, done); !ok {
			t.Fatal("h2's progress")
		}
		if got, err := s.GetOutboxProgress(ctx, c.ID, "h2"); err != nil || got.String() != done.String() {
			t.Fatalf("h2's progress reads %v, %v", got, err)
		}
		if n := trim("h1", "h2"); n != 2 {
			t.Fatalf("trimmed %d, want e1 and e2", n)
		}
		if got := bodies(readAll(t, s, c.ID, "0-0")); got != "e3 e4 e5" {
			t.Fatalf("left %q", got)
		}
		// h2 is deleted: h1 alone holds the outbox, h2's lane is forgotten
		if n := trim("h1"); n != 2 {
			t.Fatalf("trimmed %d, want e3 and e4", n)
		}
		if _, err := s.GetOutboxProgress(ctx, c.ID, "h2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a deleted hook's progress: %v", err)
		}
		if ok, _ := s.RenewOutboxLane(ctx, c.ID, "h2", a, t0, t0.Add(time.Minute)); ok {
			t.Fatal("a forgotten lane was renewed")
		}
		if ok, _ := s.SaveOutboxProgress(ctx, c.ID, "h2", a, done); ok {
			t.Fatal("a forgotten lane saved its progress")
		}
		// no hook takes the campaign any more
		if n := trim(); n != 1 {
			t.Fatalf("trimmed %d, want e5", n)
		}
		if n, _ := s.OutboxLen(ctx, c.ID); n != 0 {
			t.Fatalf("%d entries left", n)
		}
		if n := trim(); n != 0 {
			t.Fatalf("an empty outbox trimmed %d", n)
		}
	})
}

// TestOutboxLanes: one holder per lane, with the runner lease's rules: a
// lapsed lease is taken over, the same instance takes its own back at
// once, and a holder that lost it can neither renew, record progress nor
// release its successor's.
func TestOutboxLanes(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a1 := store.Runner{Instance: "a", Token: "a1"}
		a2 := store.Runner{Instance: "a", Token: "a2"}
		b := store.Runner{Instance: "b", Token: "b1"}
		acquire := func(r store.Runner, at time.Duration) func() (bool, error) {
			return func() (bool, error) {
				_, ok, err := s.AcquireOutboxLane(ctx, "c1", "h", r, t0.Add(at), t0.Add(at+time.Minute))
				return ok, err
			}
		}
		renew := func(r store.Runner, at time.Duration) func() (bool, error) {
			return func() (bool, error) { return s.RenewOutboxLane(ctx, "c1", "h", r, t0.Add(at), t0.Add(at+time.Minute)) }
		}
		save := func(r store.Runner, cursor string) func() (bool, error) {
			return func() (bool, error) {
				return s.SaveOutboxProgress(ctx, "c1", "h", r, store.OutboxProgress{Cursor: cursor})
			}
		}
		steps := []struct {
			what string
			do   func() (bool, error)
			want bool
		}{
			{"a1 takes it", acquire(a1, 0), true},
			{"b cannot while it is held", acquire(b, 30*time.Second), false},
			{"a1 records progress", save(a1, "5-0"), true},
			{"b cannot record progress", save(b, "9-0"), false},
			{"a1 renews", renew(a1, 30*time.Second), true},
			{"b cannot renew", renew(b, 31*time.Second), false},
			{"a2, on the same dialer, takes it at once", acquire(a2, 40*time.Second), true},
			{"a1 cannot renew", renew(a1, 41*time.Second), false},
			{"nor record progress", save(a1, "7-0"), false},
			{"nor release a2's lease", func() (bool, error) { return true, s.ReleaseOutboxLane(ctx, "c1", "h", a1) }, true},
			{"b still cannot", acquire(b, 50*time.Second), false},
			{"b takes it once lapsed", acquire(b, 3*time.Minute), true},
			{"a2 cannot renew", renew(a2, 3*time.Minute), false},
			{"b releases", func() (bool, error) { return true, s.ReleaseOutboxLane(ctx, "c1", "h", b) }, true},
			{"a2 takes it back", acquire(a2, 3*time.Minute), true},
		}
		for _, st := range steps {
			got, err := st.do()
			if err != nil || got != st.want {
				t.Fatalf("%s: got %v, %v", st.what, got, err)
			}
		}
		if p, err := s.GetOutboxProgress(ctx, "c1", "h"); err != nil || p.Cursor != "5-0" {
			t.Fatalf("progress %v, %v: only the holder's counts", p, err)
		}
		p, ok, err := s.AcquireOutboxLane(ctx, "c1", "h", a2, t0.Add(4*time.Minute), t0.Add(5*time.Minute))
		if err != nil || !ok || p.Cursor != "5-0" {
			t.Fatalf("acquiring answers the progress: %v %v %v", p, ok, err)
		}
	})
}

// TestOutboxEventsGoWithTheMemberWrite: a write's events are in the
// outbox if and only if the write applied, once even if it ran twice.
func TestOutboxEventsGoWithTheMemberWrite(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "4001"))
		got, err := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Minute))
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		m := got[0].Member
		next := *m
		next.Attempts, next.EndCause = 1, "NORMAL_CLEARING"
		refused := []*store.Write{
			{Member: &next, ExpectV: m.V + 5, Token: got[0].Token, Placement: store.PlaceMember("", &next, t0), Outbox: events("stale")},
			{Member: &next, ExpectV: m.V, Token: "not-the-lease", Placement: store.PlaceMember("", &next, t0), Outbox: events("lost")},
		}
		for _, w := range refused {
			if err := s.WriteMember(ctx, c.ID, w); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("write %+v: %v", w, err)
			}
		}
		if n, _ := s.OutboxLen(ctx, c.ID); n != 0 {
			t.Fatalf("refused writes left %d events", n)
		}
		w := &store.Write{Member: &next, ExpectV: m.V, Token: got[0].Token, Placement: store.PlaceMember("", &next, t0),
			Stats: map[string]int64{"calls": 1}, Window: store.WindowFields("calls", t0, 1), Outbox: events("ended", "member_end")}
		for range 2 { // the second run finds itself written
			if err := s.WriteMember(ctx, c.ID, w); err != nil {
				t.Fatal(err)
			}
		}
		if got := bodies(readAll(t, s, c.ID, "0-0")); got != "ended member_end" {
			t.Fatalf("outbox %q", got)
		}
		if st, _ := s.CampaignStats(ctx, c.ID, t0); st.Counters["calls"] != 1 || st.Windows["calls"].Hour != 1 {
			t.Fatalf("the counters after the outbox: %+v", st)
		}
		// a write without events appends none
		cur, _, _ := s.GetMember(ctx, c.ID, m.ID)
		cur.Name = "renamed"
		if err := s.WriteMember(ctx, c.ID, &store.Write{Member: cur, ExpectV: cur.V, Placement: store.Placement{Place: "keep"}}); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.OutboxLen(ctx, c.ID); n != 2 {
			t.Fatalf("%d events", n)
		}
	})
}

// TestOutboxAppendsAreSafeToResend: a reply lost on the way back makes
// go-redis send the script again; the events are appended once.
func TestOutboxAppendsAreSafeToResend(t *testing.T) {
	ctx := context.Background()
	srv := storetest.StartRedis(t)
	proxy := storetest.StartLossyProxy(t, strings.TrimPrefix(srv.URL, "redis://"))
	s, err := store.Open(ctx, store.Config{URL: "redis://" + proxy.Addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := newCampaign(t, s, "")
	insert(t, s, c, member(0, "5001"))
	if err := s.AppendOutbox(ctx, c.ID, events("loads-the-script")...); err != nil {
		t.Fatal(err)
	}
	proxy.LoseReplyTo("evalsha")
	if err := s.AppendOutbox(ctx, c.ID, events("a", "b")...); err != nil {
		t.Fatalf("an append through a lost reply: %v", err)
	}
	if proxy.Lost() != 1 {
		t.Fatalf("%d replies lost: the test proves nothing", proxy.Lost())
	}
	got, _ := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Minute))
	m := got[0].Member
	next := *m
	next.EndCause = "NORMAL_CLEARING"
	proxy.LoseReplyTo("evalsha")
	w := &store.Write{Member: &next, ExpectV: m.V, Token: got[0].Token, Placement: store.PlaceMember("", &next, t0), Outbox: events("ended")}
	if err := s.WriteMember(ctx, c.ID, w); err != nil {
		t.Fatalf("a write through a lost reply: %v", err)
	}
	if proxy.Lost() != 2 {
		t.Fatalf("%d replies lost: the test proves nothing", proxy.Lost())
	}
	if got := bodies(readAll(t, s, c.ID, "0-0")); got != "loads-the-script a b ended" {
		t.Fatalf("outbox %q", got)
	}
}

// TestOutboxOfADeletedCampaign: a deleted campaign's outbox is still
// looked at until its last event is finished, then forgotten with no key
// left behind.
func TestOutboxOfADeletedCampaign(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c, other := newCampaign(t, s, ""), newCampaign(t, s, "")
		list := func() string {
			t.Helper()
			ids, err := s.OutboxCampaigns(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s listed twice in %v", id, ids)
				}
				seen[id] = true
			}
			return fmt.Sprint(seen[c.ID], seen[other.ID], len(ids))
		}
		if got := list(); got != "true true 2" {
			t.Fatalf("listed %s", got)
		}
		if err := s.AppendOutbox(ctx, c.ID, events("last")...); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.AcquireOutboxLane(ctx, c.ID, "h", store.Runner{Instance: "a", Token: "t"}, t0, t0.Add(time.Minute)); !ok {
			t.Fatal("lane")
		}
		if dropped, err := s.DropOutbox(ctx, c.ID); err != nil || dropped {
			t.Fatalf("dropped the outbox of a campaign that exists: %v %v", dropped, err)
		}
		if err := s.DeleteCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if got := list(); got != "true true 2" {
			t.Fatalf("after the delete, listed %s", got)
		}
		if dropped, err := s.DropOutbox(ctx, c.ID); err != nil || dropped {
			t.Fatalf("dropped an outbox with an event in it: %v %v", dropped, err)
		}
		if _, err := s.TrimOutbox(ctx, c.ID, nil); err != nil {
			t.Fatal(err)
		}
		if dropped, err := s.DropOutbox(ctx, c.ID); err != nil || !dropped {
			t.Fatalf("the empty outbox of a deleted campaign: %v %v", dropped, err)
		}
		if got := list(); got != "false true 1" {
			t.Fatalf("after the drop, listed %s", got)
		}
		if keys := storetest.Keys(t, s, "dialer:{"+c.ID+"}*"); len(keys) != 0 {
			t.Fatalf("keys left behind: %v", keys)
		}
	})
}
