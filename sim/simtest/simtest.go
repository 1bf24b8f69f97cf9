// Package simtest runs the simulator as its own process for benchmarks
// that must measure a client alone (its CPU, its memory).
package simtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// StartFsim builds cmd/fsim, runs it with the scenario (YAML) on a free
// loopback port, with no sessions-per-second limit and any further flags
// (such as -ledger FILE), and returns its event socket address. It stops
// with the test.
func StartFsim(tb testing.TB, scenario string, flags ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "fsim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/fsdialer/fsdialer/cmd/fsim").CombinedOutput(); err != nil {
		tb.Fatalf("build fsim: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(path, []byte(scenario), 0o600); err != nil {
		tb.Fatal(err)
	}
	// A benchmark measures the client: the switch does not throttle it
	// (a real one would past sessions-per-second, 30 by default).
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0", "-scenario", path, "-sessions-per-second", "0"}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	// The simulator's log would interleave with benchmark results; it is
	// shown only when the test fails.
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("fsim's log:\n%s", logs.Bytes())
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			return addr
		}
	}
	tb.Fatal("fsim did not say where it listens")
	return ""
}
