// Command dialerd runs the dialer: it holds event sockets to FreeSWITCH,
// places the calls of running campaigns, keeps its state in Redis and
// serves the REST API and Prometheus metrics.
//
//	dialerd run  [-config FILE]     the daemon (also the default)
//	dialerd demo [-listen ADDR] [-time-scale N] [-members N]
//	dialerd version
//
// demo needs nothing installed: an in-process Redis, the FreeSWITCH
// simulator on a loopback event socket, and a voice broadcast campaign of a
// few thousand members, all on one clock that can run faster than real time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "dialerd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runDaemon(ctx, args)
	case "demo":
		return runDemo(ctx, args, out)
	case "version":
		fmt.Fprintln(out, "dialerd", version())
		return nil
	}
	return fmt.Errorf("unknown command %q: use run, demo or version", cmd)
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

func runDaemon(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dialerd run", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML); DIALER_* variables override it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if len(cfg.FreeSWITCH.Nodes) == 0 {
		return errors.New("config freeswitch.nodes: no FreeSWITCH node to dial through")
	}
	log := newLogger(cfg, os.Stderr)
	if len(cfg.API.Tokens)+len(cfg.API.ReadTokens) == 0 {
		log.Warn("api.tokens is empty: the REST API is open to anyone who reaches " + cfg.HTTP.Listen)
	}
	d, err := newDaemon(ctx, cfg, clock.Real{}, log)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // checked with the config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// daemon is the wired dialer.
type daemon struct {
	cfg    *Config
	log    *slog.Logger
	clock  clock.Clock
	store  *store.Store
	pool   *esl.Pool
	engine *dialer.Engine
	reg    *prometheus.Registry
	api    http.Handler
}

func newDaemon(ctx context.Context, cfg *Config, clk clock.Clock, log *slog.Logger) (*daemon, error) {
	st, err := store.Open(ctx, store.Config{URL: cfg.Redis.URL, Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB, Timeout: cfg.Redis.Timeout, HistoryLen: cfg.Redis.HistoryLen})
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, clock: clk, store: st, reg: prometheus.NewRegistry()}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := dialer.NewMetrics(d.reg)
	var eng *dialer.Engine
	var nodes []*esl.Node
	for _, n := range cfg.FreeSWITCH.Nodes {
		client := esl.NewClient(esl.ClientConfig{
			Config:  esl.Config{Password: n.Password, Logger: log, OnEvent: func(ev *esl.Event) { eng.HandleEvent(n.Name, ev) }},
			Name:    n.Name,
			Address: n.Address,
			Events:  dialer.Events(),
			OnState: func(node string, s esl.State, err error) {
				log.Info("freeswitch", "node", node, "state", s.String(), "error", err)
				eng.HandleState(node, s, err)
			},
		})
		nodes = append(nodes, esl.NewNode(client, n.Capacity))
	}
	d.pool = esl.NewPool(nodes...)
	eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(d.pool), Clock: clk, Logger: log, Metrics: metrics,
		Instance: cfg.Instance, Tick: cfg.Dialer.Tick, LeaseTTL: cfg.Dialer.LeaseTTL, MaxPerTick: cfg.Dialer.MaxPerTick,
		RecordPath: cfg.Dialer.RecordPath, Region: cfg.Dialer.Region})
	d.engine = eng
	maxBody, _ := parseSize(cfg.HTTP.MaxBody) // checked with the config
	d.api = httpapi.New(httpapi.Config{Engine: eng, Store: st, Clock: clk, Tokens: cfg.API.Tokens, ReadTokens: cfg.API.ReadTokens,
		PublicMetrics: cfg.Metrics.Public && cfg.Metrics.Listen == "", PublicHealth: cfg.API.PublicHealth,
		Gatherer: d.reg, Registerer: d.reg, Ready: d.ready, Logger: log, MaxBody: maxBody})
	return d, nil
}

// ready: Redis answers and at least one switch is connected.
func (d *daemon) ready(ctx context.Context) error {
	if err := d.store.Ping(ctx); err != nil {
		return err
	}
	for _, n := range d.pool.Nodes() {
		if st, _ := n.State(); st == esl.Connected {
			return nil
		}
	}
	return errors.New("no FreeSWITCH node connected")
}

// run binds the HTTP listeners, runs the switches' connections and the
// engine until ctx ends, then stops in order: the listeners first (requests
// in flight finish with the engine still up), then the engine and the
// connections, then the store. Calls in progress go on in FreeSWITCH; the
// next start reconciles them from the journal.
func (d *daemon) run(ctx context.Context) error {
	defer d.store.Close()
	servers := []*http.Server{{Addr: d.cfg.HTTP.Listen, Handler: d.api, ReadHeaderTimeout: 10 * time.Second}}
	if d.cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.api)
		servers = append(servers, &http.Server{Addr: d.cfg.Metrics.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second})
	}
	listeners := make([]net.Listener, len(servers))
	for i, s := range servers {
		l, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range listeners[:i] {
				l.Close()
			}
			return fmt.Errorf("http listen %s: %w", s.Addr, err)
		}
		listeners[i] = l
		d.log.Info("http listening", "address", l.Addr().String())
	}

	runCtx, stopRunning := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunning()
	var running sync.WaitGroup
	failed := make(chan error, 2+len(servers))
	for _, run := range []func(context.Context) error{d.pool.Run, d.engine.Run} {
		running.Go(func() {
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				failed <- err
			}
		})
	}
	for i, s := range servers {
		go func() {
			if err := s.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(shutdown); serr != nil {
			d.log.Warn("http shutdown", "error", serr)
		}
	}
	stopRunning()
	running.Wait()
	return err
}
