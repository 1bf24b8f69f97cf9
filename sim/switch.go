package sim

import (
	"context"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
)

// Switch is a simulated FreeSWITCH: the channels of the calls it places,
// the events they fire, and the api commands of mod_commands that a dialer
// uses, served over a real event socket.
type Switch struct {
	sc       *Scenario
	clock    clock.Clock
	srv      *esl.Server
	loc      *time.Location
	coreUUID string
	started  time.Time

	mu       sync.Mutex
	outbox   []outItem // events and log lines fired under mu, published by unlock
	seq      uint64
	channels map[string]*channel
	sessions int // since start-up
	peak     int
	attempts map[string]int // originates per destination, for the seeded draws
	gwActive map[string]int
	gwRecent map[string][]time.Time

	rec *ledger // what the switch received and did; its own lock

	dbData   dbStore           // mod_db
	hashData map[string]string // mod_hash
	table    channelsTable     // the core db's channels table, behind the events

	// sessions-per-second: the budget of the current second of uptime
	spsWindow        int64
	spsLeft          int
	spsLast, spsPeak int
}

// Options tune a Switch.
type Options struct {
	Password string         // default ClueCon
	Location *time.Location // for Event-Date-Local and stamps (default UTC)
	// LedgerWriter, if set, gets the ledger as JSON lines, each written
	// as it happens (ReadLedger reads them back).
	LedgerWriter io.Writer
	// DiscardLedger keeps no ledger in memory: for a switch that runs for
	// days (Ledger then returns an empty record; the writer still gets
	// every entry).
	DiscardLedger bool
}

// New returns a switch for the scenario on the clock.
func New(sc *Scenario, clk clock.Clock, opts Options) *Switch {
	if opts.Password == "" {
		opts.Password = "ClueCon"
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	s := &Switch{
		sc: sc, clock: clk, loc: opts.Location,
		coreUUID: esl.NewUUID(), started: clk.Now(),
		spsLeft:  sc.sessionsPerSecond(),
		channels: map[string]*channel{}, attempts: map[string]int{},
		gwActive: map[string]int{}, gwRecent: map[string][]time.Time{},
		rec:    newLedger(!opts.DiscardLedger, opts.LedgerWriter),
		dbData: dbStore{}, hashData: map[string]string{},
		table: channelsTable{rows: map[string]*tableRow{}},
	}
	s.srv = &esl.Server{Password: opts.Password, Handler: s, FireJob: s.fireJob}
	return s
}

// Server returns the event socket server in front of the switch.
func (s *Switch) Server() *esl.Server { return s.srv }

// Serve serves the event socket on l, recording every command read.
func (s *Switch) Serve(l net.Listener) error { return s.srv.Serve(recordingListener{l, s}) }

// Close disconnects every listener and hangs up every call.
func (s *Switch) Close() error {
	s.mu.Lock()
	for _, ch := range s.sortedChannels() {
		s.hangup(ch, "SYSTEM_SHUTDOWN", false)
	}
	s.unlock()
	return s.srv.Close()
}

// Channels returns how many channels exist.
func (s *Switch) Channels() int {
	s.mu.Lock()
	defer s.unlock()
	return len(s.channels)
}

// event starts an event with the switch's common headers; s.mu is held.
func (s *Switch) event(name string) *esl.EventBuilder {
	now := s.clock.Now()
	s.seq++
	site := callSite[name]
	return esl.NewEvent(name).
		Add("Core-UUID", s.coreUUID).
		Add("FreeSWITCH-Hostname", s.sc.Hostname).
		Add("FreeSWITCH-Switchname", s.sc.Hostname).
		Add("FreeSWITCH-IPv4", "127.0.0.1").
		Add("FreeSWITCH-IPv6", "::1").
		Add("Event-Date-Local", now.In(s.loc).Format("2006-01-02 15:04:05")).
		Add("Event-Date-GMT", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")).
		Add("Event-Date-Timestamp", usec(now)).
		Add("Event-Calling-File", site.file).
		Add("Event-Calling-Function", site.function).
		Add("Event-Calling-Line-Number", strconv.Itoa(site.line)).
		Add("Event-Sequence", strconv.FormatUint(s.seq, 10))
}

// emit fires a channel event; s.mu is held, so events leave in sequence order.
func (s *Switch) emit(name string, ch *channel, extra ...kv) {
	b := s.event(name)
	if name == "CHANNEL_HANGUP_COMPLETE" {
		b.Add("Hangup-Cause", ch.cause)
	}
	if name == "CHANNEL_BRIDGE" || name == "CHANNEL_UNBRIDGE" {
		a, other := ch, ch.bridge
		b.Add("Bridge-A-Unique-ID", a.uuid).Add("Bridge-B-Unique-ID", other.uuid)
	}
	s.addChannel(b, ch)
	for _, x := range extra {
		b.Add(x.k, x.v)
	}
	s.outbox = append(s.outbox, outItem{event: b.Event()})
	s.noteEvent(name, ch, extra)
	s.tableEvent(name, ch)
}

// outItem is an event or a log line waiting for unlock.
type outItem struct {
	event *esl.Event
	level int
	text  string
	// endSession closes the outbound connection of a call that ended,
	// after the events before it are out.
	endSession string
}

// Log levels of FreeSWITCH (switch_log_level_t).
const (
	logCrit   = 2
	logErr    = 3
	logNotice = 5
	logDebug  = 7
)

var logLevelNames = [...]string{"CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"}

// log writes a line to the listeners that asked for logs (and to the
// record), in order with the events; s.mu is held.
func (s *Switch) log(level int, text string) {
	now := s.clock.Now()
	line := now.In(s.loc).Format("2006-01-02 15:04:05.000000") + " [" + logLevelNames[level] + "] " + text + "\n"
	s.outbox = append(s.outbox, outItem{level: level, text: line})
	s.rec.note(ledgerEntry{Kind: "log", At: now, Level: level, Text: line})
}

// unlock publishes the events fired while s.mu was held, in order, then
// releases it. An event is thus seen only once the change that fired it is
// complete, timers included: a listener that acts on an event never finds
// the switch half-way through it.
func (s *Switch) unlock() {
	for i, it := range s.outbox {
		switch {
		case it.endSession != "":
			s.srv.EndSession(it.endSession)
		case it.event != nil:
			s.srv.Publish(it.event)
		default:
			s.srv.Log(it.level, it.text)
		}
		s.outbox[i] = outItem{}
	}
	s.outbox = s.outbox[:0]
	s.mu.Unlock()
}

func (s *Switch) fireJob(job, cmd, args, out string) {
	s.mu.Lock()
	defer s.unlock()
	s.outbox = append(s.outbox, outItem{event: esl.JobEvent(s.event("BACKGROUND_JOB"), job, cmd, args, out)})
}

// API runs one api command (for api and bgapi alike).
func (s *Switch) API(ctx context.Context, cmd, args string) (string, func()) {
	switch strings.ToLower(cmd) {
	case "originate":
		return s.originate(args)
	case "msleep":
		ms, _ := strconv.Atoi(strings.TrimSpace(args))
		_ = clock.Sleep(ctx, s.clock, time.Duration(ms)*time.Millisecond)
		return "+OK\n", nil
	}
	s.mu.Lock()
	defer s.unlock()
	out, _ := s.apiLocked(cmd, args)
	return out, nil
}

// apiLocked runs a command that answers at once, for the event socket, an
// api hook or a ${cmd args} expansion; s.mu is held. found is false for a
// command the switch does not have (switch_api_execute fails).
func (s *Switch) apiLocked(cmd, args string) (out string, found bool) {
	switch strings.ToLower(cmd) {
	case "uuid_bridge":
		return s.uuidBridge(args), true
	case "uuid_kill":
		return s.uuidKill(args), true
	case "uuid_transfer":
		return s.uuidTransfer(args), true
	case "uuid_broadcast":
		return s.uuidBroadcast(args), true
	case "uuid_record":
		return s.uuidRecord(args), true
	case "uuid_setvar":
		return s.uuidSetvar(args), true
	case "uuid_getvar":
		return s.uuidGetvar(args), true
	case "uuid_exists":
		return boolStr(s.lookup(strings.TrimSpace(args)) != nil), true
	case "hupall":
		return s.hupall(args), true
	case "show":
		return s.show(args), true
	case "status":
		return s.status(), true
	case "version":
		return "FreeSWITCH Version 1.10.12-release+fsim (simulated)\n", true
	case "db":
		return s.db(args), true
	case "hash":
		return s.hash(args), true
	}
	return "-ERR " + cmd + " Command not found!\n", false
}

// SendMsg runs a sendmsg: call-command execute (an application) or hangup.
func (s *Switch) SendMsg(uuid string, headers []esl.Header, body string) string {
	get := func(name string) string {
		for _, h := range headers {
			if strings.EqualFold(h.Name, name) {
				return h.Value
			}
		}
		return ""
	}
	s.mu.Lock()
	defer s.unlock()
	ch := s.channels[uuid]
	if ch == nil || ch.hungUp {
		return "-ERR invalid session id [" + uuid + "]"
	}
	switch strings.ToLower(get("call-command")) {
	case "execute":
		arg := get("execute-app-arg")
		if arg == "" {
			arg = body
		}
		s.stopCurrent(ch)
		s.execute(ch, get("execute-app-name"), arg, nil)
	case "hangup":
		cause := strings.ToUpper(get("hangup-cause"))
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		s.hangup(ch, cause, true)
	default:
		return "-ERR unknown call-command"
	}
	return "+OK"
}

// after runs f under s.mu after d, unless the channel has hung up by then.
func (s *Switch) after(ch *channel, d time.Duration, f func()) clock.Timer {
	t := s.clock.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.unlock()
		if !ch.hungUp {
			f()
		}
	})
	ch.timers = append(ch.timers, t)
	return t
}

// locked wraps f to run under s.mu, for what fires after a result is out.
func (s *Switch) locked(f func()) func() {
	return func() {
		s.mu.Lock()
		defer s.unlock()
		f()
	}
}

func (s *Switch) sortedChannels() []*channel {
	out := make([]*channel, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].sessionID < out[j].sessionID
	})
	return out
}

// ListenAndServe runs a switch for sc on a TCP address until ctx ends;
// ready, if not nil, gets the address it listens on.
func ListenAndServe(ctx context.Context, addr string, sc *Scenario, clk clock.Clock, opts Options, ready func(addr string)) error {
	sw := New(sc, clk, opts)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(l.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sw.Close()
	}()
	go sw.RunInbound(ctx)
	if err := sw.Serve(l); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
