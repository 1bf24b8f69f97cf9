package dialer_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/sim/simtest"
)

// BenchmarkCallsInFlight holds n calls up at once on one engine (a voice
// broadcast whose message lasts an hour; the simulator in its own process,
// Redis in its own) and reports what holding them costs the dialer: its
// heap in use per call once they are all up, and its CPU per second of
// holding them (the campaign's ticks, lease renewals, the quiet calls'
// checks), over 20 s. Run with -benchtime 1x.
func BenchmarkCallsInFlight(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint("calls=", n), func(b *testing.B) { benchInFlight(b, n) })
	}
}

func benchInFlight(b *testing.B, n int) {
	for it := 0; it < b.N; it++ {
		addr := simtest.StartFsim(b, `
gateways: [{name: gw}]
playback: {mean: 3600}
sessions_per_second: 0
default: {answer: 1, ring: 0, talk: 7200}
`)
		eng, st, ctx, cancel, done := benchEngine(b, addr)
		c := benchBroadcast(b, ctx, st, n, n)
		inFlight := func() int {
			for _, p := range eng.Progress() {
				if p.Campaign == c.ID {
					return p.InFlight
				}
			}
			return 0
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		began := time.Now()
		if _, err := eng.StartCampaign(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Minute); inFlight() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("only %d calls in flight of %d", inFlight(), n)
			}
		}
		up := time.Since(began)
		time.Sleep(2 * time.Second) // the last answers' events
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		start, cpu0 := time.Now(), cpuTime()
		time.Sleep(20 * time.Second)
		cpu, held := cpuTime()-cpu0, time.Since(start)
		b.StopTimer()
		if got := inFlight(); got != n {
			b.Fatalf("%d calls in flight after holding them, want %d", got, n)
		}
		b.ReportMetric(up.Seconds(), "s-to-all-up")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n), "heap-bytes/call")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(cpu.Milliseconds())/held.Seconds(), "cpu-ms/s")
		cancel()
		<-done
	}
}
