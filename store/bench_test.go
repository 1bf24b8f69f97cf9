package store_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
