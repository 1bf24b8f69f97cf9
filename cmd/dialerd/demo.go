package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/sim"
	"github.com/fsdialer/fsdialer/store"
)

// runDemo runs the dialer on its embedded defaults: an in-process Redis,
// the simulator behind a loopback event socket, and a voice broadcast
// campaign, on one clock.
func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dialerd demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "REST API and metrics address")
	scale := fs.Float64("time-scale", 1, "run this many times faster than real time (engine and simulator together)")
	members := fs.Int("members", 3000, "members of the demo campaign")
	seed := fs.Uint64("seed", 1, "the simulator's seed")
	every := fs.Duration("report", 3*time.Second, "real time between progress lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scale <= 0 || *members < 1 || *members > 1000000 {
		return fmt.Errorf("demo: -time-scale must be above 0 and -members from 1 to 1,000,000")
	}
	cfg, err := loadConfig("")
	if err != nil {
		return err
	}
	cfg.Redis.URL = "embedded"
	cfg.HTTP.Listen = *listen
	if len(cfg.API.Tokens) == 0 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		cfg.API.Tokens = []string{hex.EncodeToString(b)}
	}
	var clk clock.Clock = clock.Real{}
	if *scale != 1 {
		clk = clock.NewScaled(*scale)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	sc := sim.DefaultScenario()
	sc.Seed = *seed
	sw := sim.New(sc, clk, sim.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go sw.Serve(l)
	defer sw.Close()
	cfg.FreeSWITCH.Nodes = []Node{{Name: "sim", Address: l.Addr().String(), Password: "ClueCon"}}

	d, err := newDaemon(ctx, cfg, clk, log)
	if err != nil {
		return err
	}
	c, err := seedDemo(ctx, d, *members)
	if err != nil {
		return fmt.Errorf("demo campaign: %w", err)
	}
	fmt.Fprintf(out, "fsdialer demo: %d members, campaign %s, simulator on %s, time x%g\n", *members, c.ID, l.Addr(), *scale)
	fmt.Fprintf(out, "  REST API  http://%s/api/v2/dialer   (X-Access-Token: %s)\n", *listen, cfg.API.Tokens[0])
	fmt.Fprintf(out, "  metrics   http://%s/metrics\n", *listen)
	fmt.Fprintf(out, "  try       curl -H 'X-Access-Token: %s' http://%s/api/v2/dialer/%s/stats\n", cfg.API.Tokens[0], *listen, c.ID)
	go report(ctx, d, c, *members, *every, out)
	return d.run(ctx)
}

// seedDemo creates and starts the demo campaign.
func seedDemo(ctx context.Context, d *daemon, n int) (*store.Campaign, error) {
	c := &store.Campaign{
		Name: "Demo voice broadcast", Description: "members of the simulator's default world", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 100, MinBillSec: 5, OriginateTimeout: 30, MaxTryCount: 3, IntervalTryCount: 120},
		Resources: []store.Resource{{DialledNumber: `^\+?(\d+)$`, Destinations: []store.Destination{
			{GwName: "subscribers", DialString: "$1", GwProto: "sip", Limit: 300, Enabled: true, CallerIDNumber: "380440000000"},
		}}},
		Broadcast: store.Broadcast{File: "/usr/share/freeswitch/sounds/demo-message.wav"},
	}
	if err := d.store.CreateCampaign(ctx, c, d.clock.Now()); err != nil {
		return nil, err
	}
	const batch = 10000
	for base := 0; base < n; base += batch {
		var ms []*store.Member
		for i := base; i < min(base+batch, n); i++ {
			m := &store.Member{Name: fmt.Sprintf("Demo member %d", i+1),
				Communications: []store.Communication{{Number: fmt.Sprintf("+38050%07d", i), Priority: 2}}}
			if i%3 == 0 {
				m.Communications = append(m.Communications, store.Communication{Number: fmt.Sprintf("+38067%07d", i), Priority: 1})
			}
			ms = append(ms, m)
		}
		if _, err := d.store.InsertMembers(ctx, c, ms, d.clock.Now()); err != nil {
			return nil, err
		}
	}
	return d.engine.StartCampaign(ctx, c.ID)
}

// report prints a progress line every interval.
func report(ctx context.Context, d *daemon, c *store.Campaign, total int, every time.Duration, out io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	start := d.clock.Now()
	var lastPlaced int64
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.clock.Now()
		for _, p := range d.engine.Progress() {
			if p.Campaign != c.ID {
				continue
			}
			rate := float64(p.Placed-lastPlaced) / now.Sub(lastAt).Seconds()
			lastPlaced, lastAt = p.Placed, now
			fmt.Fprintf(out, "demo %s  placed %d  answered %d  succeeded %d  retried %d  finished %d/%d  in flight %d  %.1f calls/s\n",
				fmtElapsed(now.Sub(start)), p.Placed, p.Answered, p.Succeeded, p.Retried, p.Finished, total, p.InFlight, rate)
		}
	}
}

func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("+%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
