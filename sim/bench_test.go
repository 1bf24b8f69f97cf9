package sim

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
)

// helperEnv makes the test binary run a simulator instead of tests, so a
// benchmark can measure a client's memory without the switch's in it.
const helperEnv = "FSIM_TEST_HELPER_SCENARIO"

func TestMain(m *testing.M) {
	if yml := os.Getenv(helperEnv); yml != "" {
		runHelperSwitch(yml)
		return
	}
	os.Exit(m.Run())
}

func runHelperSwitch(yml string) {
	sc, err := ParseScenario([]byte(yml))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sw := New(sc, clock.Real{}, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(l.Addr().String())
	go func() { // the parent closes stdin when it is done
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	_ = sw.Serve(l)
}

// startHelperSwitch runs a simulator in a child process and returns its address.
func startHelperSwitch(b *testing.B, yml string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+yml)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// BenchmarkOriginateRoundTrip measures bgapi originate to BACKGROUND_JOB
// through our client and the simulator over loopback TCP, with the client
// subscribed to every channel event as the dialer is. Subscribers answer at
// once and hang up 50 ms later; 200 originates are in flight at a time.
func BenchmarkOriginateRoundTrip(b *testing.B) {
	sc := mustScenario(b, `
gateways: [{name: gw}]
default: {answer: 1, ring: {mean: 0}, patience: {mean: 0.05}}
`)
	sw := New(sc, clock.Real{}, Options{})
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
	addr := startHelperSwitch(b, `
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
