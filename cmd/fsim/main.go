// Command fsim runs the FreeSWITCH simulator behind a real event socket, so
// that the daemon, fs_cli-like tools or any ESL client can be pointed at it:
//
//	fsim -listen 127.0.0.1:8021 -password ClueCon -scenario scenario.yaml -ledger ledger.jsonl
//
// Without -scenario it runs the demo world (sim.DefaultScenario).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage: the command line was wrong and the usage has been printed.
var errUsage = errors.New("usage")

// exitCode is 0 for success and an asked-for help, 2 for a wrong command
// line (as flag and the shells do), 1 for any other error, which it prints.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "fsim:", err)
	return 1
}

const synopsis = `fsim is a simulated FreeSWITCH behind a real event socket (mod_event_socket):
it answers api and bgapi commands (originate, uuid_*, show, status ...) and
fires the events FreeSWITCH 1.10 fires, with call outcomes drawn from a
scenario, so that dialerd or any ESL client can be tested without a switch.

Usage: fsim [flags]

Without -scenario it runs the demo world. It prints "listening on ADDRESS"
once the socket is open, and runs until interrupted (SIGINT or SIGTERM).
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8021", "event socket `address`")
	password := fs.String("password", "ClueCon", "event socket password")
	scenarioPath := fs.String("scenario", "", "scenario `file` (YAML or JSON); empty: the demo scenario")
	seed := fs.Uint64("seed", 0, "overrides the scenario's seed when not 0")
	timeScale := fs.Float64("time-scale", 0, "overrides the scenario's time_scale when not 0")
	ledgerPath := fs.String("ledger", "", "append the switch's record (commands received, channels, logs) to this `file` as JSON lines, as it happens")
	sps := fs.Int("sessions-per-second", 0, "overrides the scenario's sessions_per_second when given (0: no limit)")
	if err := parse(fs, args, stdout, stderr); err != nil {
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

// parse parses the flags. Asked for help, it prints the usage on stdout
// (it is the answer, and goes through a pager) and returns flag.ErrHelp;
// given a wrong flag or an argument, it prints what is wrong and the usage
// on stderr and returns errUsage.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var msg strings.Builder
	fs.SetOutput(&msg)
	fs.Usage = func() {} // printed below, on the stream that fits
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout, fs)
		return flag.ErrHelp
	case err != nil:
		fmt.Fprintf(stderr, "fsim: %s\n\n", strings.TrimSpace(msg.String()))
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "fsim: unexpected argument %q\n\n", fs.Arg(0))
	default:
		return nil
	}
	usage(stderr, fs)
	return errUsage
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, synopsis, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}
