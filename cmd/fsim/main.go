// Command fsim runs the FreeSWITCH simulator behind a real event socket, so
// that the daemon, fs_cli-like tools or any ESL client can be pointed at it:
//
//	fsim -listen 127.0.0.1:8021 -password ClueCon -scenario scenario.yaml -ledger ledger.jsonl
//
// Without -scenario it runs the demo world (sim.DefaultScenario).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8021", "event socket address")
	password := fs.String("password", "ClueCon", "event socket password")
	scenarioPath := fs.String("scenario", "", "scenario file (YAML or JSON); empty: the demo scenario")
	seed := fs.Uint64("seed", 0, "overrides the scenario's seed when not 0")
	timeScale := fs.Float64("time-scale", 0, "overrides the scenario's time_scale when not 0")
	ledgerPath := fs.String("ledger", "", "append the switch's record (commands received, channels, logs) to this file as JSON lines, as it happens")
	sps := fs.Int("sessions-per-second", 0, "overrides the scenario's sessions_per_second when given (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc := sim.DefaultScenario()
	if *scenarioPath != "" {
		var err error
		if sc, err = sim.LoadScenario(*scenarioPath); err != nil {
			return err
		}
	}
	if *seed != 0 {
		sc.Seed = *seed
	}
	if *timeScale != 0 {
		sc.TimeScale = *timeScale
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "sessions-per-second" {
			sc.SessionsPerSecond = sps
		}
	})
	if n := sc.SessionsPerSecond; n != nil && *n < 0 {
		return fmt.Errorf("-sessions-per-second %d must not be negative", *n)
	}
	var clk clock.Clock = clock.Real{}
	if sc.TimeScale > 0 && sc.TimeScale != 1 {
		clk = clock.NewScaled(sc.TimeScale)
	}
	// fsim runs for as long as it is left running: the record goes to the
	// file only, never piles up in memory.
	opts := sim.Options{Password: *password, DiscardLedger: true}
	if *ledgerPath != "" {
		f, err := os.OpenFile(*ledgerPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.LedgerWriter = f
	}
	return sim.ListenAndServe(ctx, *listen, sc, clk, opts, func(addr string) {
		fmt.Fprintln(stdout, "listening on "+addr) // for scripts: the port when -listen asks for :0
		slog.Info("fsim listening", "address", addr, "seed", sc.Seed, "time_scale", sc.TimeScale, "ledger", *ledgerPath)
	})
}
