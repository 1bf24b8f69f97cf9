package sim

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim/simtest"
)

// BenchmarkOriginateRoundTrip measures bgapi originate to BACKGROUND_JOB
// through our client and the simulator over loopback TCP, with the client
// subscribed to every channel event as the dialer is. Subscribers answer at
// once and hang up 50 ms later; 200 originates are in flight at a time.
func BenchmarkOriginateRoundTrip(b *testing.B) {
	sc := mustScenario(b, `
gateways: [{name: gw}]
default: {answer: 1, ring: {mean: 0}, patience: {mean: 0.05}}
sessions_per_second: 0   # the round trip, not the switch's throttle
`)
	// The ledger is the tests' record, not part of the round trip.
	sw := New(sc, clock.Real{}, Options{DiscardLedger: true})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go sw.Serve(l)
	defer sw.Close()
	var events atomic.Int64
	conn, err := esl.Dial(context.Background(), l.Addr().String(), esl.Config{Password: "ClueCon", OnEvent: func(*esl.Event) { events.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := conn.Subscribe(ctx, "plain", channelEvents...); err != nil {
		b.Fatal(err)
	}
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			job, err := conn.BgAPI(ctx, fmt.Sprintf("originate {ignore_early_media=true,originate_timeout=20}sofia/gateway/gw/3805%07d &park()", i))
			if err == nil {
				_, err = job.Wait(ctx)
			}
			if err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d originates failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "originates/s")
	b.ReportMetric(float64(events.Load())/float64(b.N), "events/originate")
}

// BenchmarkClientMemory10kCalls measures what our client holds with 10,000
// calls in flight (bgapi jobs waiting, their events flowing): the heap
// growth of this process, the switch running in a child process.
func BenchmarkClientMemory10kCalls(b *testing.B) {
	const calls = 10000
	addr := simtest.StartFsim(b, `
gateways: [{name: gw}]
default: {answer: 1, ring: {mean: 3600}}
`)
	for i := 0; i < b.N; i++ {
		var creates atomic.Int64
		all := make(chan struct{})
		conn, err := esl.Dial(context.Background(), addr, esl.Config{Password: "ClueCon", OnEvent: func(e *esl.Event) {
			if e.Name() == "CHANNEL_PROGRESS" && creates.Add(1) == calls {
				close(all)
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := conn.Subscribe(ctx, "plain", channelEvents...); err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		jobs := make([]*esl.Job, 0, calls)
		for j := 0; j < calls; j++ {
			job, err := conn.BgAPI(ctx, fmt.Sprintf("originate {origination_uuid=mem-%d-%d,originate_timeout=7200}sofia/gateway/gw/3806%07d &park()", i, j, j))
			if err != nil {
				b.Fatal(err)
			}
			jobs = append(jobs, job)
		}
		select {
		case <-all:
		case <-time.After(60 * time.Second):
			b.Fatalf("%d of %d calls ringing", creates.Load(), calls)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if conn.RunningJobs() != calls {
			b.Fatalf("%d jobs running, want %d", conn.RunningJobs(), calls)
		}
		perCall := float64(after.HeapInuse-before.HeapInuse) / calls
		b.ReportMetric(perCall, "heap-bytes/call")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap-MiB")
		runtime.KeepAlive(jobs)
		if _, err := conn.API(ctx, "hupall"); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}
