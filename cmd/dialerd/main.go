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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts an orderly stop; a second one, should that
	// stop hang, ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// errUsage: the command line was wrong and the usage has been printed.
var errUsage = errors.New("usage")

// exitCode is 0 for success, an asked-for help and a stop by signal, 2 for
// a wrong command line (as flag and the shells do), 1 for any other error,
// which it prints.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "dialerd:", err)
	return 1
}

const overview = `dialerd places the calls of outbound campaigns through FreeSWITCH, keeps
its state in Redis and serves a REST API and Prometheus metrics.

Usage:
  dialerd [run] [-config FILE]   the daemon (run is the default command)
  dialerd demo [flags]           try it with nothing installed: an in-process
                                 Redis, the FreeSWITCH simulator, a demo campaign
  dialerd version                print the version
  dialerd help [COMMAND]         this text, or a command's flags

"dialerd help run" and "dialerd help demo" list their flags.
`

// command is a subcommand: its usage (for help) and what it does.
type command struct {
	usage func(w io.Writer)
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func lookup(name string) (command, bool) {
	switch name {
	case "run":
		return command{usage: func(w io.Writer) { fs, _ := runFlagSet(); usageOf(w, fs, runSynopsis) }, run: runDaemon}, true
	case "demo":
		return command{usage: func(w io.Writer) { fs, _ := demoFlagSet(); usageOf(w, fs, demoSynopsis) }, run: runDemo}, true
	case "version":
		return command{usage: func(w io.Writer) { fmt.Fprint(w, versionSynopsis) }, run: runVersion}, true
	}
	return command{}, false
}

// run runs the command line; help goes to stdout, mistakes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// Flags without a command are run's; asked for help, say what
		// else there is too.
		if len(args) > 0 && isHelpFlag(args[0]) {
			fmt.Fprint(stdout, overview+"\n")
			c, _ := lookup("run")
			c.usage(stdout)
			return flag.ErrHelp
		}
		return runDaemon(ctx, args, stdout, stderr)
	}
	name, args := args[0], args[1:]
	if name == "help" {
		return help(args, stdout, stderr)
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "dialerd: unknown command %q\n\n%s", name, overview)
		return errUsage
	}
	return c.run(ctx, args, stdout, stderr)
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// help prints the overview, or a command's usage.
func help(args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, overview)
		return nil
	case len(args) > 1:
		fmt.Fprintf(stderr, "dialerd help: one command at a time\n\n%s", overview)
		return errUsage
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "dialerd help: unknown command %q\n\n%s", args[0], overview)
		return errUsage
	}
	c.usage(stdout)
	return nil
}

func usageOf(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprint(w, synopsis)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parse parses a command's flags. Asked for help, it prints the usage on
// stdout and returns flag.ErrHelp; given a wrong flag or an argument, it
// prints what is wrong and the usage on stderr and returns errUsage.
func parse(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) error {
	var msg strings.Builder
	fs.SetOutput(&msg)
	fs.Usage = func() {} // printed below, on the stream that fits
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usageOf(stdout, fs, synopsis)
		return flag.ErrHelp
	case err != nil:
		fmt.Fprintf(stderr, "%s: %s\n\n", fs.Name(), strings.TrimSpace(msg.String()))
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n\n", fs.Name(), fs.Arg(0))
	default:
		return nil
	}
	usageOf(stderr, fs, synopsis)
	return errUsage
}

const versionSynopsis = "Usage: dialerd version\n\nPrints the version and commit.\n"

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dialerd version", flag.ContinueOnError)
	if err := parse(fs, versionSynopsis, args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "dialerd", version())
	return nil
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

const runSynopsis = `Usage: dialerd run [-config FILE]

Runs the dialer: event sockets to the FreeSWITCH nodes, the campaigns in
Redis, the REST API and /metrics. Every configuration key, its default and
its DIALER_* environment variable are in deploy/dialerd.yaml.
`

type runFlags struct {
	config string
}

func runFlagSet() (*flag.FlagSet, *runFlags) {
	f := &runFlags{}
	fs := flag.NewFlagSet("dialerd run", flag.ContinueOnError)
	fs.StringVar(&f.config, "config", "", "configuration `file` (YAML); DIALER_* environment variables override it")
	return fs, f
}

func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := runFlagSet()
	if err := parse(fs, runSynopsis, args, stdout, stderr); err != nil {
		return err
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	if len(cfg.FreeSWITCH.Nodes) == 0 {
		return errors.New("config freeswitch.nodes: no FreeSWITCH node to dial through: give -config FILE " +
			"(deploy/dialerd.yaml is a sample) or set DIALER_FREESWITCH_ADDRESS; to try dialerd without FreeSWITCH or Redis, run dialerd demo")
	}
	if err := cfg.checkOpenAPI(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// The listeners first: a taken port is told before anything else
	// starts (or is printed).
	ls, err := openListeners(cfg, runListenHint)
	if err != nil {
		return err
	}
	log.Info("dialerd starting", "version", version(), "api", ls[0].Addr().String())
	if len(cfg.API.Tokens)+len(cfg.API.ReadTokens) == 0 {
		log.Warn("api.tokens is empty: the REST API is open to anyone who reaches " + ls[0].Addr().String())
	}
	if cfg.Dialer.TimeScale != 1 {
		log.Warn("dialer.time_scale: the dialer's clock runs faster than real time; for tests only", "time_scale", cfg.Dialer.TimeScale, "time_origin", cfg.Dialer.TimeOrigin)
	}
	d, err := newDaemon(ctx, cfg, daemonClock(cfg), log)
	if err != nil {
		closeAll(ls)
		if ctx.Err() != nil {
			log.Info("dialerd: stopped before it started", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	err = d.run(ctx, ls)
	if err == nil {
		log.Info("dialerd: stopped, goodbye")
	}
	return err
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
	hooks  *hooks.Dispatcher // nil: webhooks off
	reg    *prometheus.Registry
	api    http.Handler
	// metrics serves /metrics on metrics.listen, when that is set.
	metrics http.Handler
}

func newDaemon(ctx context.Context, cfg *Config, clk clock.Clock, log *slog.Logger) (*daemon, error) {
	st, err := store.Open(ctx, store.Config{URL: cfg.Redis.URL, Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB, Timeout: cfg.Redis.Timeout, HistoryLen: cfg.Redis.HistoryLen,
		WaitReplicas: cfg.Redis.WaitReplicas, WaitTimeout: cfg.Redis.WaitTimeout})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("cannot reach Redis at %s: %w; start it, or set redis.url (DIALER_REDIS_URL) to one that runs (dialerd demo needs none)", cfg.redisWhere(), err)
	}
	d := &daemon{cfg: cfg, log: log, clock: clk, store: st, reg: prometheus.NewRegistry()}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dialer_redis_waits_total",
			Help: "WAIT commands sent after the writes that must survive a failover (redis.wait_replicas)."},
			func() float64 { return float64(st.Replication().Waits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dialer_redis_unreplicated_writes_total",
			Help: "Writes that must survive a failover made while their master had fewer replicas than redis.wait_replicas: they stand on the master alone."},
			func() float64 { return float64(st.Replication().Unreplicated) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dialer_redis_lagging_writes_total",
			Help: "Writes that must survive a failover that the replicas did not acknowledge within redis.wait_timeout: refused, and made again."},
			func() float64 { return float64(st.Replication().Lagging) }))
	metrics := dialer.NewMetrics(d.reg)
	var eng *dialer.Engine
	var nodes []*esl.Node
	for _, n := range cfg.FreeSWITCH.Nodes {
		// The client logs its connection's ups and downs itself, once per
		// change rather than once per attempt.
		client := esl.NewClient(esl.ClientConfig{
			Config:  esl.Config{Password: n.Password, Logger: log, OnEvent: func(ev *esl.Event) { eng.HandleEvent(n.Name, ev) }},
			Name:    n.Name,
			Address: n.Address,
			Events:  dialer.Events(),
			OnState: func(node string, s esl.State, err error) { eng.HandleState(node, s, err) },
		})
		nodes = append(nodes, esl.NewNode(client, n.Capacity))
	}
	d.pool = esl.NewPool(nodes...)
	base := dialer.Config{Store: st, Switches: dialer.PoolSwitches(d.pool), Clock: clk, Logger: log, Metrics: metrics}
	if cfg.Hooks.Enabled {
		d.hooks = hooks.New(hooks.Config{Store: st, Clock: clk, Instance: cfg.Instance, Logger: log, Registerer: d.reg,
			Poll: cfg.Hooks.Poll, Refresh: cfg.Hooks.Refresh, LeaseTTL: cfg.Hooks.LeaseTTL, Parallel: cfg.Hooks.Parallel})
		base.Hooks = d.hooks
	}
	eng = dialer.New(engineConfig(cfg, base))
	d.engine = eng
	maxBody, _ := parseSize(cfg.HTTP.MaxBody) // checked with the config
	api := httpapi.Config{Engine: eng, Store: st, Clock: clk, Tokens: cfg.API.Tokens, ReadTokens: cfg.API.ReadTokens,
		PublicMetrics: cfg.Metrics.Public && cfg.Metrics.Listen == "", PublicHealth: cfg.API.PublicHealth,
		Gatherer: d.reg, Registerer: d.reg, Ready: d.ready, Logger: log, MaxBody: maxBody}
	d.api = httpapi.New(api)
	if cfg.Metrics.Listen != "" {
		// metrics.public is about this listener: a scrape port opened to
		// Prometheus must not open the API's /metrics as well. A handler
		// of its own keeps the API's token rules (and answers) for it;
		// without a Registerer, so the request series are not registered
		// twice and scrapes are not counted as API requests.
		m := api
		m.PublicMetrics, m.Registerer = cfg.Metrics.Public, nil
		d.metrics = httpapi.New(m)
	}
	return d, nil
}

// engineConfig adds the configuration's engine options to base, which
// holds what the daemon wires.
func engineConfig(cfg *Config, base dialer.Config) dialer.Config {
	base.Instance, base.Tick, base.LeaseTTL, base.MaxPerTick = cfg.Instance, cfg.Dialer.Tick, cfg.Dialer.LeaseTTL, cfg.Dialer.MaxPerTick
	base.CallsPerSecond, base.NoEndRecords = cfg.Dialer.CallsPerSecond, !cfg.Dialer.EndRecords
	base.RecordPath, base.Region, base.CallsCampaign = cfg.Dialer.RecordPath, cfg.Dialer.Region, cfg.Dialer.CallsCampaign
	base.PredictivePacing = cfg.Dialer.PacingPolicy
	base.Inbound = dialer.InboundConfig{Wait: cfg.Inbound.Wait, HoldMusic: cfg.Inbound.HoldMusic, KeepMembers: cfg.Inbound.KeepMembers}
	base.Inbound.Lookup, _ = cfg.crmLookup() // checked with the config
	for _, n := range cfg.FreeSWITCH.Nodes {
		if n.CallsPerSecond != 0 { // 0: the node takes dialer.calls_per_second
			if base.NodeCallsPerSecond == nil {
				base.NodeCallsPerSecond = map[string]float64{}
			}
			base.NodeCallsPerSecond[n.Name] = n.CallsPerSecond
		}
	}
	return base
}

// daemonClock is the real clock, or with dialer.time_scale one that runs
// that much faster from dialer.time_origin (default: now).
func daemonClock(cfg *Config) clock.Clock {
	if cfg.Dialer.TimeScale == 1 {
		return clock.Real{}
	}
	origin := time.Now()
	if cfg.Dialer.TimeOrigin != "" {
		origin, _ = time.Parse(time.RFC3339Nano, cfg.Dialer.TimeOrigin) // checked with the config
	}
	return originClock{factor: cfg.Dialer.TimeScale, origin: origin}
}

// originClock runs factor times faster than real time and shows the real
// time at origin. Unlike clock.Scaled, which starts at its creation, a
// dialer restarted with the same origin goes on from the time its
// predecessor had reached: lease expiries, next tries and journal times
// written under the old process keep their meaning.
type originClock struct {
	factor float64
	origin time.Time
}

func (c originClock) Now() time.Time {
	return c.origin.Add(time.Duration(float64(time.Since(c.origin)) * c.factor))
}

func (c originClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return time.AfterFunc(time.Duration(float64(d)/c.factor), f)
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

// listenHint names a listen address the way the command takes it (a key,
// a flag), and says how to choose another.
type listenHint func(key, addr string) (name, advice string)

// openListeners opens the API listener and, if configured, the metrics
// one, so that a taken address stops the start before anything else runs.
func openListeners(cfg *Config, hint listenHint) ([]net.Listener, error) {
	type want struct{ key, addr string }
	wants := []want{{"http.listen", cfg.HTTP.Listen}}
	if cfg.Metrics.Listen != "" {
		wants = append(wants, want{"metrics.listen", cfg.Metrics.Listen})
	}
	if cfg.Inbound.Listen != "" { // last: run finds it there
		wants = append(wants, want{"inbound.listen", cfg.Inbound.Listen})
	}
	var ls []net.Listener
	for _, w := range wants {
		l, err := net.Listen("tcp", w.addr)
		if err != nil {
			closeAll(ls)
			name, advice := hint(w.key, w.addr)
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("%s %s: the address is in use (another dialerd, or another program); %s", name, w.addr, advice)
			}
			return nil, fmt.Errorf("%s %s: %w; %s", name, w.addr, err, advice)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// runListenHint names the key to change and a port free right now.
func runListenHint(key, addr string) (name, advice string) {
	return "config " + key, fmt.Sprintf("set %s (or DIALER_%s) to a free address, such as %s", key,
		strings.ToUpper(strings.ReplaceAll(key, ".", "_")), freeNear(addr))
}

// freeNear suggests an address on addr's host whose port, one of the next
// few, is free now; HOST:PORT when none is.
func freeNear(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return "127.0.0.1:PORT"
	}
	for q := p + 1; q <= p+20 && q < 65536; q++ {
		try := net.JoinHostPort(host, strconv.Itoa(q))
		if l, err := net.Listen("tcp", try); err == nil {
			l.Close()
			return try
		}
	}
	return net.JoinHostPort(host, "PORT")
}

// run serves the HTTP listeners, runs the switches' connections and the
// engine until ctx ends, then stops in order: the listeners first (requests
// in flight finish with the engine still up), then the engine and the
// connections, then the store. Calls in progress go on in FreeSWITCH; the
// next start reconciles them from the journal. ls are the API listener
// and, if configured, the metrics one; run closes them.
func (d *daemon) run(ctx context.Context, ls []net.Listener) error {
	defer d.store.Close()
	servers := []*http.Server{{Handler: d.api, ReadHeaderTimeout: 10 * time.Second}}
	if d.cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.metrics)
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second})
	}
	for _, l := range ls {
		d.log.Info("http listening", "address", l.Addr().String())
	}

	runCtx, stopRunning := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunning()
	var running sync.WaitGroup
	failed := make(chan error, 2+len(servers))
	runs := []func(context.Context) error{d.pool.Run, d.engine.Run}
	if d.cfg.Inbound.Listen != "" {
		inbound := ls[len(ls)-1]
		runs = append(runs, func(ctx context.Context) error { return d.engine.ServeInbound(ctx, inbound) })
	}
	if d.hooks != nil {
		// Its deliveries under way finish and their progress is saved
		// before the store closes.
		runs = append(runs, func(ctx context.Context) error { d.hooks.Run(ctx); return nil })
	}
	for _, run := range runs {
		running.Go(func() {
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				failed <- err
			}
		})
	}
	for i, s := range servers {
		go func() {
			if err := s.Serve(ls[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}

	var err error
	select {
	case <-ctx.Done():
		d.log.Info("dialerd: stopping", "reason", context.Cause(ctx))
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
