package store_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// fillMembers inserts n members with two numbers each, in calls of 100,000
// (the bulk API's maximum), and returns the insert rate.
func fillMembers(b *testing.B, s *store.Store, c *store.Campaign, n int) float64 {
	const perCall = 100000
	start := time.Now()
	for base := 0; base < n; base += perCall {
		ms := make([]*store.Member, 0, perCall)
		for i := base; i < min(base+perCall, n); i++ {
			ms = append(ms, &store.Member{
				Name:     "Member " + strconv.Itoa(i),
				Priority: i % 10,
				Communications: []store.Communication{
					{Number: fmt.Sprintf("38091%07d", i), Priority: 1, Type: "1"},
					{Number: fmt.Sprintf("38092%07d", i), Priority: 2, Type: "2"},
				},
			})
		}
		res, err := s.InsertMembers(context.Background(), c, ms, t0)
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				b.Fatalf("member %d: %v", base+i, r.Err)
			}
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

func usedMemory(b *testing.B, s *store.Store) int64 {
	info, err := s.Client().Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}

// BenchmarkMillionMembers inserts 1,000,000 members with two numbers each
// into a real redis-server, reports the insert rate and the Redis memory
// per member (INFO used_memory), then times claims of 50 at that size.
// Run with -benchtime 1x: one iteration is the whole scenario.
func BenchmarkMillionMembers(b *testing.B) {
	const n = 1000000
	for it := 0; it < b.N; it++ {
		s := storetest.Open(b)
		c := sampleCampaign()
		if err := s.CreateCampaign(context.Background(), c, t0); err != nil {
			b.Fatal(err)
		}
		before := usedMemory(b, s)
		rate := fillMembers(b, s, c, n)
		perMember := float64(usedMemory(b, s)-before) / n
		b.ReportMetric(rate, "inserts/s")
		b.ReportMetric(perMember, "redis-bytes/member")

		const claims = 5000 // 250,000 members: the queue stays above 750,000
		lat := make([]time.Duration, claims)
		for i := range lat {
			start := time.Now()
			got, err := s.ClaimMembers(context.Background(), c.ID, 50, t0, t0.Add(time.Hour))
			lat[i] = time.Since(start)
			if err != nil || len(got) != 50 {
				b.Fatalf("claim %d: %d members, %v", i, len(got), err)
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[claims/2].Microseconds()), "claim50-p50-µs")
		b.ReportMetric(float64(lat[claims*99/100].Microseconds()), "claim50-p99-µs")
	}
}

// BenchmarkConcurrentClaimers: 8 claimers drain 100,000 members in claims
// of 50; reports the claim rate and fails on any member claimed twice.
func BenchmarkConcurrentClaimers(b *testing.B) {
	const n = 100000
	for it := 0; it < b.N; it++ {
		s := storetest.Open(b)
		c := sampleCampaign()
		if err := s.CreateCampaign(context.Background(), c, t0); err != nil {
			b.Fatal(err)
		}
		fillMembers(b, s, c, n)
		start := time.Now()
		seen := drain(b, s, c.ID, 8, 50)
		elapsed := time.Since(start)
		doubles := 0
		for _, k := range seen {
			doubles += k - 1
		}
		if doubles != 0 || len(seen) != n {
			b.Fatalf("%d double claims, %d of %d members claimed", doubles, len(seen), n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "members-claimed/s")
		b.ReportMetric(float64(doubles), "double-claims")
	}
}

// BenchmarkAgentReservation: 1,000 available agents, 8 dialers' worth of
// goroutines reserving an agent for a call and releasing it, as fast as
// they can, on a real redis-server. It reports the latency of one
// reservation (p50, p99) and the reservations per second; two reservations
// of one agent at once would fail the run.
func BenchmarkAgentReservation(b *testing.B) {
	const agents, workers, perWorker = 1000, 8, 2000
	for it := 0; it < b.N; it++ {
		s := storetest.Open(b)
		ctx := context.Background()
		for i := 0; i < agents; i++ {
			id := strconv.Itoa(1000 + i)
			if _, err := s.PutAgent(ctx, &store.Agent{ID: id}, t0); err != nil {
				b.Fatal(err)
			}
			if err := s.SetAgentStatus(ctx, id, store.AgentAvailable, t0); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([][]time.Duration, workers)
		holding := make([]int32, agents)
		errs := make(chan error, workers)
		b.ResetTimer()
		start := time.Now()
		for w := 0; w < workers; w++ {
			go func() {
				for n := 0; n < perWorker; n++ {
					i := (w*7919 + n*104729) % agents
					id := strconv.Itoa(1000 + i)
					attempt := fmt.Sprint("w", w, "-", n)
					t := time.Now()
					_, err := s.ReserveAgent(ctx, id, store.AgentReservation{Attempt: attempt, Campaign: "c", Owner: fmt.Sprint("d", w), Until: t0.Add(time.Hour)}, t0)
					lat[w] = append(lat[w], time.Since(t))
					if err != nil {
						continue // held by another worker: the reservation said no, as it must
					}
					if held := atomic.AddInt32(&holding[i], 1); held != 1 {
						errs <- fmt.Errorf("agent %s reserved %d times at once", id, held)
						return
					}
					atomic.AddInt32(&holding[i], -1)
					if err := s.AgentEvent(ctx, id, attempt, store.AgentRelease, t0); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for w := 0; w < workers; w++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "reservations/s")
	}
}

// BenchmarkDurableWrites is one call's writes that must survive a
// failover, on a real Sentinel set and Cluster, with WAIT for one replica
// and without, side by side: an agent reserved, a member claimed, the
// attempt journaled, the agent released and the member's result written
// (three durable writes: the reservation, the journal, the result; the
// claim and the release are plain). ns/op is per call; p50 and p99 of the
// whole call are reported too. Run with -benchtime Nx (N members are
// inserted first).
func BenchmarkDurableWrites(b *testing.B) {
	for _, backend := range []struct {
		name  string
		start func(b *testing.B, wait int) *store.Store
	}{
		{"sentinel", func(b *testing.B, wait int) *store.Store {
			set := storetest.StartSentinel(b)
			return openBench(b, store.Config{Addrs: set.Sentinels, MasterName: storetest.SentinelMaster, WaitReplicas: wait})
		}},
		{"cluster", func(b *testing.B, wait int) *store.Store {
			return openBench(b, store.Config{Addrs: storetest.StartCluster(b).Addrs, WaitReplicas: wait})
		}},
	} {
		for _, wait := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/wait=%d", backend.name, wait), func(b *testing.B) {
				s := backend.start(b, wait)
				ctx := context.Background()
				c := sampleCampaign()
				if err := s.CreateCampaign(ctx, c, t0); err != nil {
					b.Fatal(err)
				}
				agent := "bench-" + c.ID
				if _, err := s.PutAgent(ctx, &store.Agent{ID: agent, Name: "Bench"}, t0); err != nil {
					b.Fatal(err)
				}
				if err := s.SetAgentStatus(ctx, agent, store.AgentAvailable, t0); err != nil {
					b.Fatal(err)
				}
				fillMembers(b, s, c, b.N)
				took := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					attempt := fmt.Sprintf("a%d", i)
					if _, err := s.ReserveAgent(ctx, agent, store.AgentReservation{Attempt: attempt, Campaign: c.ID, Owner: "d1", Until: t0.Add(time.Hour)}, t0); err != nil {
						b.Fatal(err)
					}
					got, err := s.ClaimMembers(ctx, c.ID, 1, t0, t0.Add(time.Hour))
					if err != nil || len(got) != 1 {
						b.Fatalf("claim: %v %v", got, err)
					}
					cl := got[0]
					if err := s.OpenAttempt(ctx, &store.Attempt{ID: attempt, Campaign: c.ID, Member: cl.Member.ID, Token: cl.Token, StartedAt: t0.UnixMilli()}); err != nil {
						b.Fatal(err)
					}
					if err := s.AgentEvent(ctx, agent, attempt, store.AgentRelease, t0); err != nil {
						b.Fatal(err)
					}
					err = s.WriteMember(ctx, c.ID, &store.Write{Member: cl.Member, ExpectV: cl.Member.V, Token: cl.Token, Attempt: attempt, Placement: store.Placement{Place: store.MemberDone}})
					if err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
				b.StopTimer()
				sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms/call")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms/call")
				r := s.Replication()
				b.ReportMetric(float64(r.Waits)/float64(b.N), "waits/call")
				if r.Unreplicated > 0 {
					b.Errorf("%d durable writes were not acknowledged by a replica", r.Unreplicated)
				}
			})
		}
	}
}

func openBench(b *testing.B, cfg store.Config) *store.Store {
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
