package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func sampleCampaign() *store.Campaign {
	return &store.Campaign{
		Name: "broadcast", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 10, MaxTryCount: 3, IntervalTryCount: 60},
		Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
			{GwName: "gw", DialString: "$1", GwProto: "sip", Limit: 5, Enabled: true},
		}}},
		Broadcast: store.Broadcast{File: "/msg.wav"},
	}
}

func newCampaign(t *testing.T, s *store.Store, strategy string) *store.Campaign {
	t.Helper()
	c := sampleCampaign()
	c.MembersStrategy = strategy
	if err := s.CreateCampaign(context.Background(), c, t0); err != nil {
		t.Fatal(err)
	}
	return c
}

func member(priority int, numbers ...string) *store.Member {
	m := &store.Member{Name: "m", Priority: priority}
	for i, n := range numbers {
		m.Communications = append(m.Communications, store.Communication{Number: n, Priority: i})
	}
	return m
}

func insert(t *testing.T, s *store.Store, c *store.Campaign, ms ...*store.Member) []string {
	t.Helper()
	res, err := s.InsertMembers(context.Background(), c, ms, t0)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("member %d: %v", i, r.Err)
		}
		ids[i] = r.ID
	}
	return ids
}

func TestCampaignLifecycle(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cal := &store.Calendar{Name: "WorksDay", Timezone: "Europe/Kyiv", Week: []store.WorkRange{{Day: 1, StartTime: 540, EndTime: 1080}}}
		if err := s.CreateCalendar(ctx, cal, t0); err != nil {
			t.Fatal(err)
		}
		c := sampleCampaign()
		c.Calendar = store.CalendarRef{ID: cal.ID}
		if err := s.CreateCampaign(ctx, c, t0); err != nil {
			t.Fatal(err)
		}
		if len(c.ID) != 24 || c.State != store.StateIdle || len(c.Causes.Retry) == 0 {
			t.Fatalf("created %+v", c)
		}
		got, err := s.GetCampaign(ctx, c.ID)
		if err != nil || got.Name != "broadcast" || got.Parameters.OriginateTimeout != 60 {
			t.Fatalf("get: %+v %v", got, err)
		}
		up, err := s.UpdateCampaign(ctx, c.ID, t0.Add(time.Minute), func(c *store.Campaign) error {
			c.Name = "renamed"
			return nil
		})
		if err != nil || up.Name != "renamed" || up.CreatedAt != c.CreatedAt || up.UpdatedAt == c.UpdatedAt {
			t.Fatalf("update: %+v %v", up, err)
		}
		if _, err := s.SetCampaignState(ctx, c.ID, store.StateRunning, t0); err != nil {
			t.Fatal(err)
		}
		list, total, err := s.ListCampaigns(ctx, 0, 10)
		if err != nil || total != 1 || list[0].State != store.StateRunning {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if err := s.DeleteCalendar(ctx, cal.ID); !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), c.ID) {
			t.Fatalf("deleting a calendar in use: %v", err)
		}
		insert(t, s, c, member(0, "+380911234567"))
		if err := s.DeleteCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCampaign(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if keys := storetest.Keys(t, s, "dialer:{"+c.ID+"}*"); len(keys) != 0 {
			t.Fatalf("keys left behind: %v", keys)
		}
	})
}

func TestCampaignValidationNamesEveryField(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		c := sampleCampaign()
		c.Type = "Robocall"
		c.Parameters.Limit = 0
		c.Parameters.TargetPredictiveSilentCalls = 5
		c.Parameters.MaxPredictiveSilentCalls = 3
		c.Resources[0].DialledNumber = "^(\\d+"
		c.Resources[0].Destinations[0].DialString = "0$2"
		c.Calendar.ID = "missing"
		c.Causes = store.CauseTable{Error: []string{"USER_BUSY"}, Retry: []string{"user_busy", "NOT_A_CAUSE"}}
		c.Communications.Types = []store.CommType{{Code: "1", Ranges: []store.TimeRange{{StartTime: 1000, EndTime: 900}}}}
		err := s.CreateCampaign(context.Background(), c, t0)
		var ve *store.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("error %v", err)
		}
		for _, field := range []string{"type", "parameters.limit", "parameters.targetPredictiveSilentCalls", "resources[0].dialledNumber", "calendar.id", "causes.retry[0]", "causes.retry[1]", "communications.types[0].ranges[0].endTime"} {
			if !strings.Contains(err.Error(), field+":") {
				t.Errorf("no error for %s in %v", field, err)
			}
		}
	})
}

func TestInsertReportsEachMember(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "380911111111"))
		res, err := s.InsertMembers(context.Background(), c, []*store.Member{
			member(0, "380922222222", "380922222223"),
			member(0, "380911111111"),                 // taken by an earlier call
			member(0, "bad-number!"),                  // invalid
			member(0, "380933333333", "380922222223"), // taken earlier in this call
			member(5, "+38 (093) 444-44-44"),          // normalised
			{Name: "no numbers"},
		}, t0)
		if err != nil {
			t.Fatal(err)
		}
		var dup *store.DuplicateNumberError
		switch {
		case res[0].Err != nil || res[0].ID == "":
			t.Fatalf("item 0: %+v", res[0])
		case !errors.As(res[1].Err, &dup) || dup.Number != "380911111111":
			t.Fatalf("item 1: %v", res[1].Err)
		case !errors.Is(res[2].Err, store.ErrInvalid) || !strings.Contains(res[2].Err.Error(), "communications[0].number"):
			t.Fatalf("item 2: %v", res[2].Err)
		case !errors.As(res[3].Err, &dup) || dup.Number != "380922222223" || dup.Member != res[0].ID:
			t.Fatalf("item 3: %v", res[3].Err)
		case res[4].Err != nil:
			t.Fatalf("item 4: %v", res[4].Err)
		case !errors.Is(res[5].Err, store.ErrInvalid):
			t.Fatalf("item 5: %v", res[5].Err)
		}
		id, err := s.MemberIDByNumber(context.Background(), c.ID, "+380934444444")
		if err != nil || id != res[4].ID {
			t.Fatalf("number index: %q %v", id, err)
		}
		m, state, err := s.GetMember(context.Background(), c.ID, res[4].ID)
		if err != nil || state != store.MemberReady || m.Priority != 5 || m.V != 1 {
			t.Fatalf("member %+v %s %v", m, state, err)
		}
		if counts, _ := s.MemberCounts(context.Background(), c.ID); counts[store.MemberReady] != 3 {
			t.Fatalf("counts %v", counts)
		}
	})
}

func claimIDs(t *testing.T, s *store.Store, c *store.Campaign, n int, at time.Time) []string {
	t.Helper()
	got, err := s.ClaimMembers(context.Background(), c.ID, n, at, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(got))
	for i, g := range got {
		ids[i] = g.Member.ID
	}
	return ids
}

// retry puts a claimed member back as the engine does after an attempt.
func retry(t *testing.T, s *store.Store, c *store.Campaign, cl store.Claimed, next time.Time, now time.Time) {
	t.Helper()
	m := cl.Member
	m.Attempts++
	m.Round++
	m.NextTryAt = next.UnixMilli()
	err := s.WriteMember(context.Background(), c.ID, &store.Write{Member: m, ExpectV: m.V, Token: cl.Token, Placement: store.PlaceMember(c.MembersStrategy, m, now)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClaimOrder(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		for _, strategy := range []string{store.MembersNextTries, store.MembersStrict} {
			t.Run(strategy, func(t *testing.T) {
				c := newCampaign(t, s, strategy)
				ids := insert(t, s, c, member(0, "1001"), member(10, "1002"), member(0, "1003"), member(10, "1004"))
				// by priority, then insertion
				first := claimIDs(t, s, c, 1, t0)
				if first[0] != ids[1] {
					t.Fatalf("first claim %v, want %s", first, ids[1])
				}
				// The priority-10 member is retried and due again in 10 s.
				cl, _ := s.ClaimMembers(context.Background(), c.ID, 0, t0, t0) // nothing
				if len(cl) != 0 {
					t.Fatal("claimed 0 got members")
				}
				m, _, _ := s.GetMember(context.Background(), c.ID, ids[1])
				retry(t, s, c, store.Claimed{Member: m, Token: leaseToken(t, s, c, ids[1])}, t0.Add(10*time.Second), t0)
				later := claimIDs(t, s, c, 10, t0.Add(20*time.Second))
				var want []string
				if strategy == store.MembersNextTries {
					// priority first, then the next try time: the fresh
					// member (due since insertion) before the retry
					want = []string{ids[3], ids[1], ids[0], ids[2]}
				} else {
					// strict: the whole list first, then the retry
					want = []string{ids[3], ids[0], ids[2], ids[1]}
				}
				if strings.Join(later, ",") != strings.Join(want, ",") {
					t.Fatalf("claimed %v, want %v", later, want)
				}
			})
		}
	})
}

// leaseToken reads a member's lease token the way a test can: by claiming
// and knowing. Here the first claim's token is recovered from a reclaim.
func leaseToken(t *testing.T, s *store.Store, c *store.Campaign, id string) string {
	t.Helper()
	got, err := s.TakeLapsedLeases(context.Background(), c.ID, 100, t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.Member.ID == id {
			return g.Token
		}
	}
	t.Fatalf("member %s was not leased", id)
	return ""
}

func TestWaitingMembersBecomeReady(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		c := newCampaign(t, s, "")
		ids := insert(t, s, c, member(0, "2001"))
		got, _ := s.ClaimMembers(context.Background(), c.ID, 1, t0, t0.Add(time.Minute))
		retry(t, s, c, got[0], t0.Add(time.Hour), t0)
		if _, st, _ := s.GetMember(context.Background(), c.ID, ids[0]); st != store.MemberWaiting {
			t.Fatalf("state %s", st)
		}
		if ids := claimIDs(t, s, c, 5, t0.Add(59*time.Minute)); len(ids) != 0 {
			t.Fatalf("claimed before due: %v", ids)
		}
		if got := claimIDs(t, s, c, 5, t0.Add(time.Hour)); len(got) != 1 || got[0] != ids[0] {
			t.Fatalf("claimed %v when due", got)
		}
	})
}

func TestWriteChecksLeaseVersionAndNumbers(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		ids := insert(t, s, c, member(0, "3001"), member(0, "3002"))
		got, _ := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Minute))
		cl := got[0]
		m := cl.Member
		// a REST edit of a leased member must keep it where it is
		edit := *m
		edit.Name = "edited"
		err := s.WriteMember(ctx, c.ID, &store.Write{Member: &edit, ExpectV: m.V, Placement: store.PlaceMember("", &edit, t0)})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "being called") {
			t.Fatalf("moving a leased member: %v", err)
		}
		if err := s.WriteMember(ctx, c.ID, &store.Write{Member: &edit, ExpectV: m.V, Placement: store.Placement{Place: "keep"}}); err != nil {
			t.Fatal(err)
		}
		// the dialer's write, made from the old version, is refused
		m.Attempts = 1
		err = s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: 1, Token: cl.Token, Placement: store.PlaceMember("", m, t0)})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale version: %v", err)
		}
		// a wrong token is refused
		err = s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: 2, Token: "nope", Placement: store.PlaceMember("", m, t0)})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("wrong token: %v", err)
		}
		// a number another member has is refused, nothing written
		m.Communications = append(m.Communications, store.Communication{Number: "3002"})
		err = s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: 2, Token: cl.Token, Placement: store.PlaceMember("", m, t0), AddNumbers: []string{"3002"}})
		var dup *store.DuplicateNumberError
		if !errors.As(err, &dup) || dup.Member != ids[1] {
			t.Fatalf("taken number: %v", err)
		}
		if cur, st, _ := s.GetMember(ctx, c.ID, ids[0]); cur.V != 2 || st != store.MemberLeased {
			t.Fatalf("after a refused write: v%d %s", cur.V, st)
		}
		// the right write: new number, released to waiting, attempt closed
		m.Communications[1].Number = "3003"
		m.NextTryAt = t0.Add(time.Hour).UnixMilli()
		if err := s.OpenAttempt(ctx, &store.Attempt{ID: "a1", Campaign: c.ID, Member: m.ID}); err != nil {
			t.Fatal(err)
		}
		// an agent found after the answer is journaled while the attempt is open
		withAgent := &store.Attempt{ID: "a1", Campaign: c.ID, Member: m.ID, Agent: "7", AgentLeg: "leg-7"}
		if ok, err := s.UpdateAttempt(ctx, withAgent); !ok || err != nil {
			t.Fatalf("update of an open attempt: %v %v", ok, err)
		}
		if open, _ := s.OpenAttempts(ctx, c.ID); len(open) != 1 || open[0].AgentLeg != "leg-7" {
			t.Fatalf("journal after the update: %+v", open)
		}
		err = s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: 2, Token: cl.Token, Placement: store.PlaceMember("", m, t0),
			AddNumbers: []string{"3003"}, Attempt: "a1",
			Record: &store.CallRecord{Attempt: "a1", Member: m.ID, Cause: "USER_BUSY", Outcome: "retry"},
			Stats:  map[string]int64{"placed": 1}, Window: store.WindowFields("calls", t0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := s.MemberIDByNumber(ctx, c.ID, "3003"); id != ids[0] {
			t.Fatalf("new number owned by %q", id)
		}
		if open, _ := s.OpenAttempts(ctx, c.ID); len(open) != 0 {
			t.Fatalf("journal %v", open)
		}
		if ok, err := s.UpdateAttempt(ctx, withAgent); ok || err != nil {
			t.Fatalf("update of a closed attempt: %v %v", ok, err)
		}
		if open, _ := s.OpenAttempts(ctx, c.ID); len(open) != 0 {
			t.Fatalf("a closed attempt journaled again: %v", open)
		}
		recs, _, err := s.History(ctx, c.ID, "", 10)
		if err != nil || len(recs) != 1 || recs[0].Cause != "USER_BUSY" {
			t.Fatalf("history %v %v", recs, err)
		}
		st, err := s.CampaignStats(ctx, c.ID, t0.Add(time.Minute))
		if err != nil || st.Counters["placed"] != 1 || st.Windows["calls"].Hour != 1 || st.Members[store.MemberWaiting] != 1 {
			t.Fatalf("stats %+v %v", st, err)
		}
		// delete frees its numbers
		cur, _, _ := s.GetMember(ctx, c.ID, ids[0])
		if err := s.WriteMember(ctx, c.ID, &store.Write{Member: cur, Placement: store.Placement{Place: "delete"}, DelNumbers: []string{"3001", "3003"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MemberIDByNumber(ctx, c.ID, "3001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("number of a deleted member: %v", err)
		}
	})
}

// TestConcurrentClaimersNeverShareAMember: 8 claimers drain 10,000 members
// at once; every member is claimed exactly once.
func TestConcurrentClaimersNeverShareAMember(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		const n = 10000
		c := newCampaign(t, s, "")
		ms := make([]*store.Member, n)
		for i := range ms {
			ms[i] = member(i%7, fmt.Sprintf("38050%07d", i))
		}
		insert(t, s, c, ms...)
		seen := drain(t, s, c.ID, 8, 37)
		if len(seen) != n {
			t.Fatalf("%d members claimed, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("member %s claimed %d times", id, k)
			}
		}
	})
}

// drain runs claimers in parallel, each claiming batch members at a time
// until none is left, and counts how often each member was claimed.
func drain(tb testing.TB, s *store.Store, campaign string, claimers, batch int) map[string]int {
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			for {
				got, err := s.ClaimMembers(context.Background(), campaign, batch, t0, t0.Add(time.Hour))
				if err != nil {
					tb.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, g := range got {
					seen[g.Member.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen
}

// TestLapsedLeaseIsHandedBack: a claimer dies holding members; after the
// lease runs out another takes them, and the dead one's token no longer
// writes.
func TestLapsedLeaseIsHandedBack(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "4001"), member(0, "4002"), member(0, "4003"))
		dead, _ := s.ClaimMembers(ctx, c.ID, 2, t0, t0.Add(30*time.Second))
		alive, _ := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(30*time.Second))
		// the live claimer renews, the dead one cannot
		if n, err := s.RenewLeases(ctx, c.ID, alive[0].Token, []string{alive[0].Member.ID}, t0.Add(90*time.Second)); err != nil || n != 1 {
			t.Fatalf("renew: %d %v", n, err)
		}
		if got, _ := s.TakeLapsedLeases(ctx, c.ID, 10, t0.Add(29*time.Second), t0.Add(time.Minute)); len(got) != 0 {
			t.Fatalf("took %d leases before they lapsed", len(got))
		}
		got, err := s.TakeLapsedLeases(ctx, c.ID, 10, t0.Add(31*time.Second), t0.Add(2*time.Minute))
		if err != nil || len(got) != 2 {
			t.Fatalf("took %v %v", got, err)
		}
		ids := []string{got[0].Member.ID, got[1].Member.ID}
		sort.Strings(ids)
		want := []string{dead[0].Member.ID, dead[1].Member.ID}
		sort.Strings(want)
		if strings.Join(ids, ",") != strings.Join(want, ",") || got[0].Prior != dead[0].Token {
			t.Fatalf("took %v (prior %s), want %v (token %s)", ids, got[0].Prior, want, dead[0].Token)
		}
		m := dead[0].Member
		err = s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: m.V, Token: dead[0].Token, Placement: store.PlaceMember("", m, t0)})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("the dead claimer's write: %v", err)
		}
	})
}

func TestCallResults(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		ids := insert(t, s, c, member(0, "5001"), member(0, "5002"))
		got, _ := s.ClaimMembers(ctx, c.ID, 2, t0, t0.Add(time.Minute))
		for _, g := range got {
			g.Member.WaitingResult = "attempt-" + g.Member.ID
			g.Member.ResultDeadline = t0.Add(time.Minute).UnixMilli()
			if err := s.WriteMember(ctx, c.ID, &store.Write{Member: g.Member, ExpectV: g.Member.V, Token: g.Token, Placement: store.PlaceMember("", g.Member, t0)}); err != nil {
				t.Fatal(err)
			}
		}
		if due, _ := s.TakeDueResults(ctx, c.ID, 10, t0.Add(59*time.Second), t0.Add(2*time.Minute)); len(due) != 0 {
			t.Fatal("a result wait ended early")
		}
		due, err := s.TakeDueResults(ctx, c.ID, 10, t0.Add(time.Minute), t0.Add(2*time.Minute))
		if err != nil || len(due) != 2 || due[0].Member.ID != ids[0] || due[1].Member.ID != ids[1] {
			t.Fatalf("due results %v %v", due, err)
		}
	})
}

func TestNamedLeasesAndGatewaySlots(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a1 := store.Runner{Instance: "dialer-a", Token: "a1"}
		a2 := store.Runner{Instance: "dialer-a", Token: "a2"} // its successor on the same dialer
		b := store.Runner{Instance: "dialer-b", Token: "b1"}
		for i, step := range []struct {
			what string
			do   func() (bool, error)
			want bool
		}{
			{"a1 takes it", func() (bool, error) { return s.AcquireRunner(ctx, "c1", a1, t0, t0.Add(time.Minute)) }, true},
			{"b cannot while it is held", func() (bool, error) {
				return s.AcquireRunner(ctx, "c1", b, t0.Add(30*time.Second), t0.Add(90*time.Second))
			}, false},
			{"a1 renews", func() (bool, error) {
				return s.RenewRunner(ctx, "c1", a1, t0.Add(30*time.Second), t0.Add(2*time.Minute))
			}, true},
			{"b cannot renew what it does not hold", func() (bool, error) {
				return s.RenewRunner(ctx, "c1", b, t0.Add(31*time.Second), t0.Add(2*time.Minute))
			}, false},
			{"a2, same dialer, takes it over at once", func() (bool, error) {
				return s.AcquireRunner(ctx, "c1", a2, t0.Add(40*time.Second), t0.Add(2*time.Minute))
			}, true},
			{"a1, exiting, can no longer renew", func() (bool, error) {
				return s.RenewRunner(ctx, "c1", a1, t0.Add(41*time.Second), t0.Add(3*time.Minute))
			}, false},
			{"nor release its successor's lease", func() (bool, error) { return true, s.ReleaseRunner(ctx, "c1", a1) }, true},
			{"b still cannot take it", func() (bool, error) {
				return s.AcquireRunner(ctx, "c1", b, t0.Add(50*time.Second), t0.Add(3*time.Minute))
			}, false},
			{"b takes it once it lapsed", func() (bool, error) {
				return s.AcquireRunner(ctx, "c1", b, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
			}, true},
			{"a2 released by b's release? no: b holds it", func() (bool, error) {
				return s.RenewRunner(ctx, "c1", a2, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
			}, false},
			{"b releases", func() (bool, error) { return true, s.ReleaseRunner(ctx, "c1", b) }, true},
			{"then anyone takes it", func() (bool, error) {
				return s.AcquireRunner(ctx, "c1", a2, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
			}, true},
		} {
			got, err := step.do()
			if err != nil || got != step.want {
				t.Fatalf("step %d, %s: %v %v", i, step.what, got, err)
			}
		}
		for i, want := range []bool{true, true, false} {
			got, err := s.AcquireSlot(ctx, "gw", fmt.Sprint("a", i), 2, t0, t0.Add(time.Minute))
			if err != nil || got != want {
				t.Fatalf("slot %d: %v %v", i, got, err)
			}
		}
		_ = s.ReleaseSlot(ctx, "gw", "a0")
		if got, _ := s.AcquireSlot(ctx, "gw", "a2", 2, t0, t0.Add(time.Minute)); !got {
			t.Fatal("no slot after a release")
		}
		// a slot nobody renews lapses
		if got, _ := s.AcquireSlot(ctx, "gw", "a3", 2, t0.Add(2*time.Minute), t0.Add(3*time.Minute)); !got {
			t.Fatal("lapsed slots still counted")
		}
		// a call whose slot lapsed during an outage is counted again when
		// it renews: the gateway is full
		if err := s.RenewSlot(ctx, "gw", "a1", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AcquireSlot(ctx, "gw", "a4", 2, t0.Add(2*time.Minute), t0.Add(3*time.Minute)); got {
			t.Fatal("a renewed slot was not counted")
		}
	})
}

// TestScriptsSurviveAFlushedScriptCache: a Redis restart loses the loaded
// scripts; single calls and pipelines load them again.
func TestScriptsSurviveAFlushedScriptCache(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "6001"))
		if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		insert(t, s, c, member(0, "6002"))
		if err := s.Client().ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if ids := claimIDs(t, s, c, 5, t0); len(ids) != 2 {
			t.Fatalf("claimed %v", ids)
		}
	})
}

func TestCalendarValidation(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		bad := &store.Calendar{Name: "x", Timezone: "Mars/Base", StartDate: "2026-13-01", Week: []store.WorkRange{{Day: 8, StartTime: 600, EndTime: 500}}}
		err := s.CreateCalendar(ctx, bad, t0)
		for _, f := range []string{"timezone", "startDate", "week[0].day", "week[0].endTime"} {
			if err == nil || !strings.Contains(err.Error(), f+":") {
				t.Errorf("no error for %s: %v", f, err)
			}
		}
	})
}

// TestScriptsAreSafeToResend: a reply lost on the network makes go-redis
// send the same command again, which then runs twice. Inserting, claiming,
// taking lapsed leases and writing a member must come out as if it had run
// once: no member reported a duplicate of itself, no batch of members left
// leased to nobody, no counter added twice.
func TestScriptsAreSafeToResend(t *testing.T) {
	ctx := context.Background()
	srv := storetest.StartRedis(t)
	proxy := storetest.StartLossyProxy(t, strings.TrimPrefix(srv.URL, "redis://"))
	s, err := store.Open(ctx, store.Config{URL: "redis://" + proxy.Addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := newCampaign(t, s, "")
	lost := 0
	lose := func() {
		proxy.LoseReplyTo("evalsha")
		lost++
	}
	check := func(what string) {
		t.Helper()
		if proxy.Lost() != lost {
			t.Fatalf("%s: %d replies lost, want %d (the test proves nothing)", what, proxy.Lost(), lost)
		}
	}
	insert(t, s, c, member(0, "7000")) // the scripts are loaded: the next EVALSHA is the call itself
	lose()
	insert(t, s, c, member(0, "7001"), member(0, "7002"), member(0, "7003"))
	check("insert")
	if counts, _ := s.MemberCounts(ctx, c.ID); counts[store.MemberReady] != 4 {
		t.Fatalf("after a resent insert: %v", counts)
	}
	if st, _ := s.CampaignStats(ctx, c.ID, t0); st.Counters["members"] != 4 {
		t.Fatalf("member counter %d after a resent insert", st.Counters["members"])
	}

	if _, err := s.ClaimMembers(ctx, "no-such-campaign", 1, t0, t0); err != nil { // loads the claim script
		t.Fatal(err)
	}
	lose()
	got, err := s.ClaimMembers(ctx, c.ID, 2, t0, t0.Add(time.Minute))
	check("claim")
	if err != nil || len(got) != 2 {
		t.Fatalf("claim through a lost reply: %d, %v", len(got), err)
	}
	if counts, _ := s.MemberCounts(ctx, c.ID); counts[store.MemberLeased] != 2 || counts[store.MemberReady] != 2 {
		t.Fatalf("a resent claim stranded members: %v", counts)
	}

	ghost := &store.Member{ID: "none", Communications: []store.Communication{{Number: "1"}}}
	if err := s.WriteMember(ctx, "no-such-campaign", &store.Write{Member: ghost, ExpectV: 1, Placement: store.Placement{Place: "keep"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err) // (it loads the write script)
	}
	lose()
	m := got[0].Member
	next := *m
	next.Attempts = 1
	w := &store.Write{Member: &next, ExpectV: m.V, Token: got[0].Token, Placement: store.PlaceMember("", &next, t0),
		Stats: map[string]int64{"attempts": 1}}
	if err := s.WriteMember(ctx, c.ID, w); err != nil {
		t.Fatalf("a resent write: %v", err)
	}
	check("write")
	if st, _ := s.CampaignStats(ctx, c.ID, t0); st.Counters["attempts"] != 1 {
		t.Fatalf("a resent write counted %d attempts", st.Counters["attempts"])
	}
}

// A claim or take run again under the same request token answers the
// members of its first run and leases nothing more.
func TestClaimAndTakeAnswerTheSameWhenRunTwice(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "8001"), member(0, "8002"), member(0, "8003"))
		first, err := s.ClaimAs(ctx, c.ID, 2, t0, t0.Add(time.Minute), "tok-1")
		if err != nil || len(first) != 2 {
			t.Fatal(len(first), err)
		}
		again, err := s.ClaimAs(ctx, c.ID, 2, t0, t0.Add(time.Minute), "tok-1")
		if err != nil || len(again) != 2 || again[0].Member.ID != first[0].Member.ID || again[1].Member.ID != first[1].Member.ID {
			t.Fatalf("claim run twice: %v, %v", again, err)
		}
		if counts, _ := s.MemberCounts(ctx, c.ID); counts[store.MemberLeased] != 2 || counts[store.MemberReady] != 1 {
			t.Fatalf("counts %v", counts)
		}
		lapsed, err := s.TakeLapsedAs(ctx, c.ID, 10, t0.Add(2*time.Minute), t0.Add(3*time.Minute), "tok-2")
		if err != nil || len(lapsed) != 2 || lapsed[0].Prior != "tok-1" {
			t.Fatalf("take %v, %v", lapsed, err)
		}
		again, err = s.TakeLapsedAs(ctx, c.ID, 10, t0.Add(2*time.Minute), t0.Add(3*time.Minute), "tok-2")
		if err != nil || len(again) != 2 || again[0].Prior != "tok-1" || again[0].Member.ID != lapsed[0].Member.ID {
			t.Fatalf("take run twice: %v, %v", again, err)
		}
	})
}

// TestClaimMemberByID takes one member by id from each place it may wait
// (click-to-call dials a member on demand), and refuses one in a call.
func TestClaimMemberByID(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, store.MembersNextTries)
		ids := insert(t, s, c, member(0, "2001"), member(0, "2002"), member(0, "2003"))
		// ids[1] waits for a retry, ids[2] is done.
		for _, id := range ids[1:] {
			m, _, _ := s.GetMember(ctx, c.ID, id)
			cl, err := s.ClaimMember(ctx, c.ID, id, t0.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			place := store.Placement{Place: store.MemberWaiting, Score: float64(t0.Add(time.Hour).UnixMilli())}
			if id == ids[2] {
				m.EndCause = "SUCCESS"
				place = store.Placement{Place: store.MemberDone, Score: float64(t0.UnixMilli())}
			}
			if err := s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: m.V, Token: cl.Token, Placement: place}); err != nil {
				t.Fatal(err)
			}
		}
		for i, id := range ids {
			cl, err := s.ClaimMember(ctx, c.ID, id, t0.Add(time.Minute))
			if err != nil || cl.Member.ID != id || cl.Token == "" {
				t.Fatalf("member %d: %+v %v", i, cl, err)
			}
			if _, state, _ := s.GetMember(ctx, c.ID, id); state != store.MemberLeased {
				t.Fatalf("member %d is %s after its claim", i, state)
			}
			if _, err := s.ClaimMember(ctx, c.ID, id, t0.Add(time.Minute)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("member %d claimed twice: %v", i, err)
			}
			m := cl.Member
			m.EndCause = ""
			if err := s.WriteMember(ctx, c.ID, &store.Write{Member: m, ExpectV: m.V, Token: cl.Token, Placement: store.Placement{Place: store.MemberDone}}); err != nil {
				t.Fatalf("member %d: the claim's token does not write it: %v", i, err)
			}
		}
		if counts, _ := s.MemberCounts(ctx, c.ID); counts[store.MemberDone] != 3 || counts[store.MemberReady]+counts[store.MemberWaiting]+counts[store.MemberLeased] != 0 {
			t.Fatalf("counts %v", counts)
		}
		if _, err := s.ClaimMember(ctx, c.ID, "nobody", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown member: %v", err)
		}
	})
}

// TestRedisURLForms: redis.url names one node (its options kept), a
// cluster reached through one of its addresses (cluster=true), or a
// master through its sentinels (master_name); each works end to end, and
// a bad form is refused naming what is wrong.
// reloadsEverySecond checks a cluster client reloads its slot map every
// second: go-redis's 60 s left a dialer asking a dead master for up to a
// minute after a replica took its place (TestChaosFailover).
func reloadsEverySecond(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client %T, want a cluster client", c)
	}
	if got := cc.Options().ClusterStateReloadInterval; got != time.Second {
		t.Errorf("the cluster client reloads its slot map every %v, want 1s", got)
	}
}

func TestRedisURLForms(t *testing.T) {
	ctx := context.Background()
	single := storetest.StartRedis(t)
	cluster := storetest.StartCluster(t)
	sentinel := storetest.StartSentinel(t)
	for _, tc := range []struct {
		name, url string
		check     func(t *testing.T, c redis.UniversalClient)
	}{
		{"one node, its timeout kept", single.URL + "?read_timeout=2s", func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.Client).Options(); o.ReadTimeout != 2*time.Second || o.WriteTimeout != 5*time.Second {
				t.Errorf("timeouts read %v write %v, want 2s (the URL's) and 5s (the store's)", o.ReadTimeout, o.WriteTimeout)
			}
		}},
		{"a cluster through one address", "redis://" + cluster.Addrs[0] + "?cluster=true", func(t *testing.T, c redis.UniversalClient) {
			reloadsEverySecond(t, c)
		}},
		{"a cluster through its addresses", "", func(t *testing.T, c redis.UniversalClient) {
			reloadsEverySecond(t, c)
		}},
		{"sentinels", "redis://" + sentinel.Sentinels[0] + "?master_name=" + storetest.SentinelMaster + "&addr=" + sentinel.Sentinels[1], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := store.Config{URL: tc.url}
			if tc.url == "" {
				cfg.Addrs = cluster.Addrs
			}
			s, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.check != nil {
				tc.check(t, s.Client())
			}
			c := sampleCampaign()
			if err := s.CreateCampaign(ctx, c, t0); err != nil {
				t.Fatal(err)
			}
			ids := insert(t, s, c, member(0, "+380501234567"))
			if got := claimIDs(t, s, c, 1, t0); len(got) != 1 || got[0] != ids[0] {
				t.Fatalf("claimed %v, want %v", got, ids)
			}
		})
	}
	if _, err := store.Open(ctx, store.Config{URL: single.URL + "?cluster=maybe"}); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("a bad cluster flag: %v", err)
	}
}

// MemberCounts sees one moment: a member moving between sets (claimed,
// released) is counted once in every read, never in none. The engine ends
// a campaign whose counts add up to nothing left.
func TestMemberCountsAreOneMoment(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		insert(t, s, c, member(0, "8000"))
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Minute))
				if err != nil || len(got) != 1 {
					t.Errorf("claim: %d, %v", len(got), err)
					return
				}
				m := got[0].Member
				w := &store.Write{Member: m, ExpectV: m.V, Token: got[0].Token, Placement: store.Placement{Place: store.MemberReady}}
				if err := s.WriteMember(ctx, c.ID, w); err != nil {
					t.Errorf("release: %v", err)
					return
				}
			}
		})
		for i := range 2000 {
			counts, err := s.MemberCounts(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := counts[store.MemberReady] + counts[store.MemberLeased]; n != 1 {
				t.Errorf("read %d: the member counted %d times: %v", i, n, counts)
				break
			}
		}
		close(done)
		wg.Wait()
	})
}
