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

// The writes that must survive a failover are on a replica by the time
// they return (WAIT on the connection that made them), on Sentinel and on
// Cluster, where each campaign's and the agents' slot may have a master of
// its own; a single node does not wait, having no replica to wait for.
func TestDurableWritesAreOnAReplica(t *testing.T) {
	for _, tc := range []struct {
		backend  string
		open     func(testing.TB) *store.Store
		replicas int // waited for
	}{
		{"sentinel", storetest.OpenSentinel, 1},
		{"cluster", storetest.OpenCluster, 1},
		{"redis-server", func(t testing.TB) *store.Store {
			s, err := store.Open(context.Background(), store.Config{URL: storetest.RedisURL(t), WaitReplicas: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, 0},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			ctx := context.Background()
			s := tc.open(t)
			if got := s.Replication().Replicas; got != tc.replicas {
				t.Fatalf("waits for %d replicas, want %d", got, tc.replicas)
			}
			c := newCampaign(t, s, "")
			insert(t, s, c, member(0, "7001"))
			putAgent(t, s, &store.Agent{ID: "a1", Name: "Iryna"})
			if err := s.SetAgentStatus(ctx, "a1", store.AgentAvailable, t0); err != nil {
				t.Fatal(err)
			}
			got, err := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Minute))
			if err != nil || len(got) != 1 {
				t.Fatalf("claim: %v %v", got, err)
			}
			cl := got[0]
			journal := "dialer:{" + c.ID + "}:journal"
			for _, step := range []struct {
				what       string
				do         func() error
				key, field string
				want       string // "" : any value
			}{
				{"the agent's reservation", func() error {
					_, err := s.ReserveAgent(ctx, "a1", store.AgentReservation{Attempt: "att1", Campaign: c.ID, Owner: "d1", Until: t0.Add(time.Minute)}, t0)
					return err
				}, "dialer:{agents}:live:a1", "attempt", "att1"},
				{"the journal before the originate", func() error {
					return s.OpenAttempt(ctx, &store.Attempt{ID: "att1", Campaign: c.ID, Member: cl.Member.ID, StartedAt: t0.UnixMilli()})
				}, journal, "att1", ""},
				{"the journal's agent", func() error {
					_, err := s.UpdateAttempts(ctx, c.ID, []*store.Attempt{{ID: "att1", Campaign: c.ID, Member: cl.Member.ID, Agent: "a1", StartedAt: t0.UnixMilli()}})
					return err
				}, journal, "att1", ""},
				{"the member's result", func() error {
					return s.WriteMember(ctx, c.ID, &store.Write{Member: cl.Member, ExpectV: cl.Member.V, Token: cl.Token, Attempt: "att1", Placement: store.Placement{Place: store.MemberDone}})
				}, "dialer:{" + c.ID + "}:members", cl.Member.ID, ""},
			} {
				if err := step.do(); err != nil {
					t.Fatalf("%s: %v", step.what, err)
				}
				if tc.replicas == 0 {
					continue
				}
				v, ok := storetest.ReplicaHGet(t, s, step.key, step.field)
				if !ok || step.want != "" && v != step.want {
					t.Errorf("%s: the replica has %s %s = %q (%v), want %q", step.what, step.key, step.field, v, ok, step.want)
				}
			}
			r := s.Replication()
			if tc.replicas > 0 && (r.Waits < 4 || r.Unreplicated != 0) {
				t.Errorf("replication %+v: want a WAIT per durable write, each acknowledged", r)
			}
			if tc.replicas == 0 && r.Waits != 0 {
				t.Errorf("replication %+v: a single node waited", r)
			}
		})
	}
}

// A durable write that the replica does not acknowledge in time while it
// is online (paused: it lags) fails with ErrNotReplicated, an
// ErrUnavailable: it may be lost in a failover and must not be acted on.
// One written while the master has no replica (killed) stands, and is
// counted, and the writes after it do not wait; once the replica is back
// and in sync, they wait again and are on it when they return.
func TestWritesTheReplicasDidNotAcknowledge(t *testing.T) {
	set, err := storetest.NewSentinel()
	if err != nil {
		t.Fatal(err)
	}
	defer set.Stop()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{Addrs: set.Sentinels, MasterName: storetest.SentinelMaster, WaitReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newCampaign(t, s, "")
	open := func(id string) error {
		return s.OpenAttempt(ctx, &store.Attempt{ID: id, Campaign: c.ID, Member: "m", StartedAt: t0.UnixMilli()})
	}
	for i, step := range []struct {
		what string
		do   func() error
		err  error // want from the write
		want store.ReplicationStats
	}{
		{"in sync", nil, nil, store.ReplicationStats{Replicas: 1, Waits: 1}},
		{"paused: it lags", func() error { return set.Pause(set.Replica) }, store.ErrNotReplicated, store.ReplicationStats{Replicas: 1, Waits: 2, Lagging: 1}},
		{"killed: the master has none", func() error { return set.Kill(set.Replica) }, nil, store.ReplicationStats{Replicas: 1, Waits: 3, Lagging: 1, Unreplicated: 1}},
		{"still none: no wait", nil, nil, store.ReplicationStats{Replicas: 1, Waits: 3, Lagging: 1, Unreplicated: 2}},
	} {
		if step.do != nil {
			if err := step.do(); err != nil {
				t.Fatal(err)
			}
		}
		if step.what == "killed: the master has none" {
			// the master sees the replica gone once its connection closes
			for {
				info, _ := s.Client().Info(ctx, "replication").Result()
				if strings.Contains(info, "connected_slaves:0") {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		id := fmt.Sprintf("a%d", i)
		err := open(id)
		if !errors.Is(err, step.err) || (step.err == nil) != (err == nil) {
			t.Fatalf("%s: open attempt: %v, want %v", step.what, err, step.err)
		}
		if step.err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v is not an ErrUnavailable", step.what, err)
		}
		if got := s.Replication(); got != step.want {
			t.Errorf("%s: %+v, want %+v", step.what, got, step.want)
		}
	}
	if err := set.Restart(set.Replica); err != nil {
		t.Fatal(err)
	}
	// Back in sync; the master is asked again once its hold-off passed.
	for i := 0; ; i++ {
		before := s.Replication().Waits
		if err := open(fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
		if s.Replication().Waits > before {
			if _, ok := storetest.ReplicaHGet(t, s, "dialer:{"+c.ID+"}:journal", fmt.Sprintf("b%d", i)); !ok {
				t.Error("a write acknowledged after the replica came back is not on it")
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
