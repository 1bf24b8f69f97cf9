package sim

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"

	"github.com/fsdialer/fsdialer/clock"
)

// TestConformanceWithESLGo lets github.com/percipia/eslgo v1.5.2, a client
// written by others, talk to the simulator: authenticate, run api and
// bgapi originate, and receive plain events. It proves the simulator speaks
// ESL as third-party clients expect, not just as our own client does.
func TestConformanceWithESLGo(t *testing.T) {
	clk := clock.NewFake(testEpoch)
	sw := New(mustScenario(t, captureScenario), clk, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	defer sw.Close()

	opts := eslgo.DefaultInboundOptions
	opts.Password = "ClueCon"
	opts.Logger = eslgo.NilLogger{}
	conn, err := opts.Dial(l.Addr().String())
	if err != nil {
		t.Fatalf("eslgo could not connect and authenticate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var mu sync.Mutex
	seen := map[string][]*eslgo.Event{}
	conn.RegisterEventListener(eslgo.EventListenAll, func(e *eslgo.Event) {
		mu.Lock()
		seen[e.GetName()] = append(seen[e.GetName()], e)
		mu.Unlock()
	})
	if err := conn.EnableEvents(ctx); err != nil {
		t.Fatalf("event plain all: %v", err)
	}

	resp, err := conn.SendCommand(ctx, command.API{Command: "status"})
	if err != nil || !strings.HasPrefix(string(resp.Body), "UP ") {
		t.Fatalf("api status: %v %q", err, resp)
	}

	const uuid = "66666666-0000-4000-8000-000000000001"
	resp, err = conn.SendCommand(ctx, command.API{
		Command:    "originate",
		Arguments:  "{origination_uuid=" + uuid + ",ignore_early_media=true}sofia/gateway/subscribers/380911234567 &park()",
		Background: true,
	})
	if err != nil || !resp.IsOk() || resp.GetHeader("Job-UUID") == "" {
		t.Fatalf("bgapi originate: %v %#v", err, resp)
	}
	jobID := resp.GetHeader("Job-UUID")

	waitFor := func(name string) *eslgo.Event {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			evs := seen[name]
			mu.Unlock()
			if len(evs) > 0 {
				return evs[0]
			}
		}
		t.Fatalf("eslgo never received %s", name)
		return nil
	}
	if e := waitFor("CHANNEL_CREATE"); e.GetHeader("Unique-ID") != uuid {
		t.Fatalf("CHANNEL_CREATE for %q", e.GetHeader("Unique-ID"))
	}
	clk.Advance(time.Second)
	job := waitFor("BACKGROUND_JOB")
	if job.GetHeader("Job-UUID") != jobID || strings.TrimSpace(string(job.Body)) != "+OK "+uuid {
		t.Fatalf("BACKGROUND_JOB %s body %q", job.GetHeader("Job-UUID"), job.Body)
	}
	waitFor("CHANNEL_ANSWER")
	waitFor("CHANNEL_PARK")
	if _, err := conn.SendCommand(ctx, command.API{Command: "uuid_kill", Arguments: uuid}); err != nil {
		t.Fatal(err)
	}
	waitFor("CHANNEL_HANGUP_COMPLETE")
	// eslgo v1.5.2 races with itself inside Close (see docs/esl-protocol.md);
	// leave its connection to the switch's shutdown instead.
}
