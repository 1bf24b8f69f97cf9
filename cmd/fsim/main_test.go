package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/sim"
)

// TestLedgerFileWhileRunning: with -ledger, what the switch received and
// did is in the file while fsim still runs, as a test that killed the
// dialer would read it.
func TestLedgerFileWhileRunning(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	scenario := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(scenario, []byte("gateways: [{name: gw}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-scenario", scenario, "-ledger", ledger}, w, io.Discard)
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	conn, err := esl.Dial(ctx, addr, esl.Config{Password: "ClueCon"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if reply, _ := conn.API(ctx, "originate {dialer_attempt_id=a1,origination_uuid=a1}sofia/gateway/nosuch/380501234567 &park()"); reply != "-ERR INVALID_GATEWAY\n" {
		t.Fatalf("originate: %q", reply)
	}
	var l sim.Ledger
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f, err := os.Open(ledger)
		if err != nil {
			t.Fatal(err)
		}
		l, err = sim.ReadLedger(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Calls) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(l.Calls) != 1 || l.Calls[0].UUID != "a1" || l.Calls[0].HangupCause != "INVALID_GATEWAY" {
		t.Fatalf("calls %+v", l.Calls)
	}
	if len(l.Commands) != 2 || l.Commands[0].Line != "auth ClueCon" || !strings.HasPrefix(l.Commands[1].Line, "api originate {dialer_attempt_id=a1,") {
		t.Fatalf("commands %+v", l.Commands)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
