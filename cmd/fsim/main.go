// Command fsim runs the FreeSWITCH simulator behind a real event socket, so
// that the daemon, fs_cli-like tools or any ESL client can be pointed at it:
//
//	fsim -listen 127.0.0.1:8021 -password ClueCon -scenario scenario.yaml
//
// Without -scenario it runs the demo world (sim.DefaultScenario).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fsim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("fsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8021", "event socket address")
	password := fs.String("password", "ClueCon", "event socket password")
	scenarioPath := fs.String("scenario", "", "scenario file (YAML or JSON); empty: the demo scenario")
	seed := fs.Uint64("seed", 0, "overrides the scenario's seed when not 0")
	timeScale := fs.Float64("time-scale", 0, "overrides the scenario's time_scale when not 0")
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
	var clk clock.Clock = clock.Real{}
	if sc.TimeScale > 0 && sc.TimeScale != 1 {
		clk = clock.NewScaled(sc.TimeScale)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sim.ListenAndServe(ctx, *listen, sc, clk, sim.Options{Password: *password}, func(addr string) {
		fmt.Println("listening on " + addr) // for scripts: the port when -listen asks for :0
		slog.Info("fsim listening", "address", addr, "seed", sc.Seed, "time_scale", sc.TimeScale)
	})
}
