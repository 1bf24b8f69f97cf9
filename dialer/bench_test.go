package dialer_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim/simtest"
	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngineThroughput drives a voice broadcast through the engine on
// the real clock: subscribers answer at once and the message lasts 1 s.
// The simulator runs in its own process and Redis in its own, so this
// process's CPU is the engine's (with its ESL and Redis clients). It
// reports the sustained originates per second between the 2,000th and the
// 12,000th call, and the engine's CPU per 1,000 calls. Run with
// -benchtime 1x.
func BenchmarkEngineThroughput(b *testing.B) {
	const (
		members = 16000
		from    = 2000
		to      = 12000
	)
	for it := 0; it < b.N; it++ {
		addr := simtest.StartFsim(b, `
gateways: [{name: gw}]
playback: {mean: 1}
default: {answer: 1, ring: 0, talk: 3600}
`)
		st := storetest.Open(b)
		var eng *dialer.Engine
		client := esl.NewClient(esl.ClientConfig{
			Config: esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
			Name:   "fs1", Address: addr, Events: dialer.Events(),
			OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
		})
		pool := esl.NewPool(esl.NewNode(client, 0))
		eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(pool), Clock: clock.Real{}, Instance: "bench",
			CallsPerSecond: -1}) // the engine, not the pace, is measured
		ctx, cancel := context.WithCancel(context.Background())
		go pool.Run(ctx)
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		wait, stop := context.WithTimeout(ctx, 10*time.Second)
		if err := client.WaitState(wait, esl.Connected); err != nil {
			b.Fatal(err)
		}
		stop()
		c := &store.Campaign{Name: "bench", Type: store.TypeBroadcast,
			Parameters: store.Parameters{Limit: 2000, MinBillSec: 1, OriginateTimeout: 30},
			Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
			Broadcast:  store.Broadcast{File: "/m.wav"}}
		if err := st.CreateCampaign(ctx, c, time.Now()); err != nil {
			b.Fatal(err)
		}
		var ms []*store.Member
		for i := 0; i < members; i++ {
			ms = append(ms, &store.Member{Communications: []store.Communication{{Number: fmt.Sprintf("+38050%07d", i)}}})
		}
		if _, err := st.InsertMembers(ctx, c, ms, time.Now()); err != nil {
			b.Fatal(err)
		}
		placed := func() int64 {
			for _, p := range eng.Progress() {
				if p.Campaign == c.ID {
					return p.Placed
				}
			}
			return 0
		}
		b.ResetTimer()
		if _, err := eng.StartCampaign(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		waitFor := func(n int64) {
			for deadline := time.Now().Add(3 * time.Minute); placed() < n; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("only %d calls placed", placed())
				}
			}
		}
		waitFor(from)
		start, cpu0 := time.Now(), cpuTime()
		waitFor(to)
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		calls := float64(to - from)
		b.ReportMetric(calls/elapsed.Seconds(), "originates/s")
		b.ReportMetric(float64(cpu.Milliseconds())/calls*1000, "cpu-ms/1000calls")
		var inFlight int
		for _, p := range eng.Progress() {
			inFlight = p.InFlight
		}
		b.ReportMetric(float64(inFlight), "in-flight-at-end")
		cancel()
		<-done
	}
}
