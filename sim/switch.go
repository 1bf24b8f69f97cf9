package sim

import (
	"context"
	"fmt"
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
		if it.event != nil {
			s.srv.Publish(it.event)
		} else {
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

// result is what originate answers, and what to fire once that is out.
type result struct {
	out  string
	then func()
}

// originate places a call and blocks until it is answered or fails, like
// mod_commands' originate.
func (s *Switch) originate(args string) (string, func()) {
	req, usage := parseOriginate(args)
	if usage != "" {
		return usage, nil
	}
	if req.undefExten {
		// originate_function asserts the extension is there: the switch
		// aborts. The simulator cannot die for a test, so it says so.
		s.log(logCrit, "originate: undef as the extension: FreeSWITCH aborts here (switch_assert(exten) in originate_function)")
		return "-ERR fsim: FreeSWITCH aborts on an undef extension\n", nil
	}
	s.mu.Lock()
	ch, failure := s.place(req)
	s.unlock()
	if failure != "" {
		return failure, nil
	}
	r := <-ch.result
	return r.out, r.then
}

// place creates the channel and schedules its life, or returns the -ERR of a
// call that fails before a channel exists; s.mu is held.
func (s *Switch) place(req *originateReq) (*channel, string) {
	if req.failure != "" {
		s.log(logErr, "originate: Parse Error! (switch_ivr_originate)")
		return nil, req.failure
	}
	if req.endpoints > 1 {
		s.log(logErr, "originate: fsim places one endpoint; dial strings with ',' '|' or ':_:' are not simulated")
		return nil, "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	now := s.clock.Now()
	ch := &channel{
		uuid: esl.NewUUID(), cidName: "", cidNum: "0000000000", context: "default",
		profileIndex: 1, state: "CS_INIT", callState: "DOWN", stateNum: 2, answerState: "ringing",
		created: now, result: make(chan result, 1), endpoint: req.chanType + "/" + req.chanData,
	}
	if v, ok := req.get("origination_caller_id_name"); ok {
		ch.cidName = v
	}
	if v, ok := req.get("origination_caller_id_number"); ok {
		ch.cidNum = v
	}
	if req.isApp {
		ch.app, ch.appArg, ch.isApp = req.app, req.appArg, true
	} else {
		ch.exten, ch.context = req.exten, req.context
	}
	useUUID, hasUUID := req.get("origination_uuid")
	hasUUID = hasUUID && useUUID != ""
	if hasUUID {
		ch.uuid = useUUID
	}
	// request is switch_core_session_request_uuid: a uuid in use, or the
	// sessions-per-second budget spent, and no session is made.
	request := func() string {
		if _, dup := s.channels[ch.uuid]; dup && hasUUID {
			s.log(logCrit, "switch_core_session.c Duplicate UUID!")
			return "-ERR DESTINATION_OUT_OF_ORDER\n"
		}
		if !s.takeSession(now) {
			return "-ERR DESTINATION_OUT_OF_ORDER\n"
		}
		return ""
	}
	data := req.chanData
	key := req.chanType + "/" + data
	switch req.chanType {
	case "error":
		return nil, "-ERR " + strings.ToUpper(data) + "\n"
	case "sofia":
		if data == "" {
			data = "service" // an empty destination_number, as switch_ivr_originate fills it
		}
		if fail := request(); fail != "" {
			return nil, fail
		}
		data, _, _ = strings.Cut(data, "^")
		if rest, ok := cutPrefixFold(data, "gateway/"); ok {
			gwName, dest, ok := strings.Cut(rest, "/")
			if !ok {
				s.destroyStillborn(ch, "INVALID_URL")
				return nil, "-ERR INVALID_URL\n"
			}
			dest, _, _ = strings.Cut(dest, ";")
			ch.dest, ch.gateway = dest, gwName
			gw := s.sc.gateway(gwName)
			if gw == nil {
				s.destroyStillborn(ch, "INVALID_GATEWAY")
				return nil, "-ERR INVALID_GATEWAY\n"
			}
			if gw.Down {
				s.destroyStillborn(ch, "GATEWAY_DOWN")
				return nil, "-ERR GATEWAY_DOWN\n"
			}
			ch.profile = "external"
		} else {
			profile, dest, ok := strings.Cut(data, "/")
			if !ok {
				s.destroyStillborn(ch, "INVALID_URL")
				return nil, "-ERR INVALID_URL\n"
			}
			ch.dest, _, _ = strings.Cut(dest, "@")
			if !s.sc.hasProfile(profile) {
				s.destroyStillborn(ch, "INVALID_PROFILE")
				return nil, "-ERR INVALID_PROFILE\n"
			}
			ch.profile = profile
		}
		ch.kind = kindSubscriber
		ch.name = "sofia/" + ch.profile + "/" + ch.dest
		key = ch.dest
		ch.out = s.sc.drawSubscriber(ch.dest, s.attempts[key])
		if ch.gateway != "" {
			if cause := s.gatewayAdmits(ch.gateway, now); cause != "" {
				ch.out = outcome{cause: cause, sipStatus: "503", delay: ch.out.setup}
			}
			s.gwActive[ch.gateway]++
		}
	case "user":
		ext, _, _ := strings.Cut(data, "@")
		a := s.sc.agent(ext)
		switch {
		case a == nil:
			return nil, "-ERR SUBSCRIBER_ABSENT\n"
		case a.Unregistered:
			return nil, "-ERR USER_NOT_REGISTERED\n"
		}
		if fail := request(); fail != "" {
			return nil, fail
		}
		ch.dest = ext
		ch.kind, ch.profile = kindAgent, "internal"
		ch.name = "sofia/internal/" + ext + "@127.0.0.1"
		ch.out = s.sc.drawAgent(a, s.attempts[key])
	case "loopback":
		if fail := request(); fail != "" {
			return nil, fail
		}
		if _, ok := s.sc.Extensions[data]; !ok {
			return nil, "-ERR NO_ROUTE_DESTINATION\n"
		}
		ch.dest = data
		ch.kind, ch.profile = kindLoopback, "loopback"
		ch.name = "loopback/" + data + "-a"
		ch.exten, ch.app, ch.isApp = data, "", false
	default:
		return nil, "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	s.attempts[key]++
	s.sessions++
	ch.sessionID = s.sessions
	s.channels[ch.uuid] = ch
	s.peak = max(s.peak, len(s.channels))
	s.setCreateVars(ch, req)
	s.emit("CHANNEL_CREATE", ch)
	s.progress(ch, req)
	return ch, ""
}

// takeSession is the throttle of switch_core_session_request_uuid: the
// timer thread resets the budget to sessions-per-second at each second of
// uptime, every request takes one first, and a request that leaves it at
// 0 or below fails ("Throttle Error!"): so 29 of 30 get through.
func (s *Switch) takeSession(now time.Time) bool {
	limit := s.sc.sessionsPerSecond()
	if limit <= 0 {
		return true
	}
	if w := int64(now.Sub(s.started) / time.Second); w != s.spsWindow {
		s.spsLast = limit - s.spsLeft
		if s.spsWindow+1 != w {
			s.spsLast = 0 // a quiet second in between
		}
		s.spsWindow, s.spsLeft = w, limit
	}
	s.spsLeft--
	s.spsPeak = max(s.spsPeak, limit-s.spsLeft)
	if s.spsLeft <= 0 {
		s.log(logCrit, "switch_core_session.c Throttle Error! "+strconv.Itoa(len(s.channels)))
		return false
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// destroyStillborn fires the lone CHANNEL_DESTROY of a call refused before
// it reached the network (unknown gateway), as FreeSWITCH does.
func (s *Switch) destroyStillborn(ch *channel, cause string) {
	ch.state, ch.stateNum, ch.name = "CS_NONE", 0, "N/A"
	s.sessions++
	ch.sessionID = s.sessions
	ch.v.set("direction", "outbound")
	ch.v.set("is_outbound", "true")
	ch.v.set("uuid", ch.uuid)
	ch.v.set("call_uuid", ch.uuid)
	ch.v.set("session_id", strconv.Itoa(ch.sessionID))
	b := s.event("CHANNEL_DESTROY")
	b.Add("Channel-State", ch.state).Add("Channel-Call-State", ch.callState).
		Add("Channel-State-Number", "0").Add("Channel-Name", ch.name).
		Add("Unique-ID", ch.uuid).Add("Call-Direction", "outbound").
		Add("Presence-Call-Direction", "outbound").Add("Channel-HIT-Dialplan", "false").
		Add("Channel-Call-UUID", ch.uuid).Add("Answer-State", "ringing")
	for i, h := range ch.v.headers {
		b.Add(h, ch.v.values[i])
	}
	s.outbox = append(s.outbox, outItem{event: b.Event()})
	s.rec.note(ledgerEntry{Kind: "stillborn", At: s.clock.Now(), UUID: ch.uuid, Endpoint: ch.endpoint, Destination: ch.dest, Gateway: ch.gateway, Cause: cause})
}

// gatewayAdmits applies a gateway's capacity and calls-per-second limit.
func (s *Switch) gatewayAdmits(name string, now time.Time) string {
	gw := s.sc.gateway(name)
	recent := s.gwRecent[name]
	for len(recent) > 0 && now.Sub(recent[0]) >= time.Second {
		recent = recent[1:]
	}
	defer func() { s.gwRecent[name] = recent }()
	if gw.Capacity > 0 && s.gwActive[name] >= gw.Capacity {
		return "NORMAL_CIRCUIT_CONGESTION"
	}
	if gw.CallsPerSecond > 0 && float64(len(recent)) >= gw.CallsPerSecond {
		return "NORMAL_CIRCUIT_CONGESTION"
	}
	recent = append(recent, now)
	return ""
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

// progress schedules a placed call: ringing, then answer or failure.
func (s *Switch) progress(ch *channel, req *originateReq) {
	o := ch.out
	if ch.kind == kindLoopback {
		s.answer(ch)
		return
	}
	if o.cause != "" && o.cause != "NO_ANSWER" {
		s.after(ch, o.delay, func() { s.fail(ch, o.cause, o.sipStatus) })
		return
	}
	if o.earlyMedia {
		ch.progressMediaAt = s.clock.Now()
		ch.state, ch.callState, ch.stateNum, ch.answerState = "CS_CONSUME_MEDIA", "EARLY", 7, "early"
		s.setProgressVars(ch)
		s.emit("CHANNEL_PROGRESS_MEDIA", ch)
		if !req.ignoreEM {
			// Without ignore_early_media originate "succeeds" on 183.
			ch.earlyAnswered = true
			ch.result <- result{out: "+OK " + ch.uuid + "\n", then: func() {}}
		}
	} else {
		ch.progressAt = s.clock.Now()
		ch.state, ch.callState, ch.stateNum = "CS_CONSUME_MEDIA", "DOWN", 7
		s.setProgressVars(ch)
		s.emit("CHANNEL_PROGRESS", ch)
	}
	if o.cause == "" && o.delay < req.timeout {
		s.after(ch, o.delay, func() { s.answer(ch) })
		return
	}
	s.after(ch, req.timeout, func() {
		ch.callState = "RINGING"
		s.fail(ch, "NO_ANSWER", "487")
	})
}

// answer marks the channel answered and lets originate return.
func (s *Switch) answer(ch *channel) {
	now := s.clock.Now()
	ch.answeredAt = now
	if ch.progressAt.IsZero() && ch.progressMediaAt.IsZero() {
		ch.progressAt = now
		s.setProgressVars(ch)
	}
	ch.state, ch.callState, ch.stateNum, ch.answerState = "CS_CONSUME_MEDIA", "RINGING", 7, "answered"
	s.setAnswerVars(ch)
	s.emit("CHANNEL_ANSWER", ch)
	if ch.kind == kindSubscriber {
		o := ch.out
		if o.machine {
			s.after(ch, o.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
		}
	}
	start := func() {
		s.mu.Lock()
		defer s.unlock()
		if !ch.hungUp {
			s.startApps(ch)
		}
	}
	if ch.earlyAnswered {
		s.startApps(ch)
		return
	}
	ch.result <- result{out: "+OK " + ch.uuid + "\n", then: start}
}

// waitInSilence starts the subscriber's patience: a person who hears no one
// hangs up after it.
func (s *Switch) waitInSilence(ch *channel) {
	if ch.kind != kindSubscriber || ch.out.machine || ch.heard {
		return
	}
	s.after(ch, ch.out.patience, func() {
		if !ch.heard {
			s.hangup(ch, "NORMAL_CLEARING", false)
		}
	})
}

// hear starts the subscriber's talk time: someone is on the line.
func (s *Switch) hear(ch *channel) {
	if ch.kind != kindSubscriber || ch.out.machine || ch.heard {
		return
	}
	ch.heard = true
	s.after(ch, ch.out.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
}

// talkFromNow restarts a bridged subscriber's clock: whatever they heard
// before, they now talk for their talk time (a machine records for its own).
func (s *Switch) talkFromNow(ch *channel) {
	for _, t := range ch.timers {
		t.Stop()
	}
	ch.timers = nil
	if ch.kind != kindSubscriber {
		return
	}
	ch.heard = true
	s.after(ch, ch.out.talk, func() { s.hangup(ch, "NORMAL_CLEARING", false) })
}

// fail ends a call that was not answered: the order of the events and the
// BACKGROUND_JOB is the one the captures show for each kind of failure.
func (s *Switch) fail(ch *channel, cause, sipStatus string) {
	if cause != "NO_ANSWER" {
		// The far end refused: its reply brings these before the hangup.
		v := &ch.v
		if _, ok := v.get("sip_call_id"); !ok {
			v.set("sip_call_id", ch.tag("call-id"))
			v.unset("sip_local_network_addr")
			v.set("sip_local_network_addr", "127.0.0.1")
			v.set("sip_reply_host", "127.0.0.1")
			v.set("sip_reply_port", "5080")
			v.set("sip_network_ip", "127.0.0.1")
			v.set("sip_network_port", "5080")
		}
		v.set("sip_hangup_disposition", "recv_refuse")
		v.set("sip_invite_failure_status", sipStatus)
		v.set("sip_invite_failure_phrase", sipPhrases[sipStatus])
	}
	s.hangup(ch, cause, false)
}

var sipPhrases = map[string]string{
	"486": "Busy Here", "603": "Decline", "404": "Not Found", "503": "Service Unavailable", "487": "Request Terminated",
}

// hangup ends a channel and, if it is bridged, the other leg; local means
// the switch hung up (uuid_kill, an application) rather than the far end.
func (s *Switch) hangup(ch *channel, cause string, local bool) {
	if ch.hungUp {
		return
	}
	other := ch.bridge
	if other != nil && !other.hungUp {
		s.hangupBridged(ch, other, cause, local)
		return
	}
	s.hangupLeg(ch, cause, local)
	if ch.result != nil && len(ch.result) == 0 && !ch.answered() && !ch.earlyAnswered {
		// originate is still waiting: answer it in the captured order.
		out := "-ERR " + cause + "\n"
		if cause == "NO_ANSWER" || cause == "ORIGINATOR_CANCEL" {
			ch.result <- result{out: out, then: s.locked(func() { s.emitComplete(ch); s.emitDestroy(ch) })}
			return
		}
		s.emitComplete(ch)
		ch.result <- result{out: out, then: s.locked(func() { s.emitDestroy(ch) })}
		return
	}
	s.emitComplete(ch)
	s.emitDestroy(ch)
}

// hangupBridged ends a bridged call in the order of the captures: the leg
// that hung up first, then the other, their completes and destroys around
// the UNBRIDGE.
func (s *Switch) hangupBridged(first, second *channel, cause string, local bool) {
	role := "originator"
	if first.otherType == "originator" {
		role = "originatee"
	}
	first.v.set("bridge_to", second.uuid)
	first.v.set("last_bridge_to", second.uuid)
	first.v.set("last_sent_callee_id_name", second.cidNum)
	first.v.set("last_sent_callee_id_number", second.cidNum)
	first.v.set("last_bridge_role", role)
	s.hangupLeg(first, cause, local)
	second.v.set("last_bridge_to", first.uuid)
	second.v.set("last_sent_callee_id_name", "Outbound Call")
	second.v.set("last_sent_callee_id_number", first.dest)
	second.v.set("sip_hangup_phrase", "OK")
	second.v.set("last_bridge_hangup_cause", cause)
	second.v.set("last_bridge_proto_specific_hangup_cause", "sip:200")
	s.hangupLeg(second, "NORMAL_CLEARING", true)
	s.emitComplete(second)
	first.v.unset("bridge_to")
	if !local {
		first.v.set("sip_hangup_disposition", "recv_bye")
	}
	first.v.set("bridge_hangup_cause", cause)
	s.emit("CHANNEL_UNBRIDGE", first)
	second.v.set("bridge_hangup_cause", cause)
	s.emitDestroy(second)
	s.emitComplete(first)
	s.emitDestroy(first)
}

func (s *Switch) locked(f func()) func() {
	return func() {
		s.mu.Lock()
		defer s.unlock()
		f()
	}
}

// hangupLeg fires CHANNEL_HANGUP and ends the running application.
func (s *Switch) hangupLeg(ch *channel, cause string, local bool) {
	ch.stop()
	now := s.clock.Now()
	ch.hungUp, ch.cause, ch.hangupAt, ch.answerState, ch.stateNum = true, cause, now, "hangup", 10
	if ch.state == "CS_INIT" {
		ch.state = "CS_CONSUME_MEDIA"
	}
	ch.v.unset("current_loop")
	ch.v.unset("total_loops")
	if st, ok := ch.v.get("sip_invite_failure_status"); ok {
		ch.v.set("sip_term_status", st)
		ch.v.set("proto_specific_hangup_cause", "sip:"+st)
		ch.v.set("sip_term_cause", strconv.Itoa(esl.Q850(cause)))
	} else if ch.answered() && !local {
		ch.v.set("sip_term_status", "200")
		ch.v.set("proto_specific_hangup_cause", "sip:200")
		ch.v.set("sip_term_cause", "16")
	}
	s.emit("CHANNEL_HANGUP", ch)
	if ch.answered() && !local && ch.bridge == nil {
		ch.v.set("sip_hangup_disposition", "recv_bye")
	}
	if ch.recording != "" {
		s.emit("RECORD_STOP", ch, kv{"Record-File-Path", ch.recording})
		ch.recording = ""
	}
	if ch.parked || ch.current != nil {
		s.stopCurrent(ch)
	}
}

func (s *Switch) emitComplete(ch *channel) {
	ch.state, ch.callState, ch.stateNum = "CS_REPORTING", "HANGUP", 11
	ch.hangupStamped = true
	s.setHangupCompleteVars(ch, ch.hangupAt)
	if _, ok := ch.v.get("sip_invite_failure_status"); !ok && ch.cause == "NO_ANSWER" && ch.kind != kindLoopback {
		// The CANCEL's 487 is the INVITE's final answer.
		ch.v.set("sip_invite_failure_status", "487")
		ch.v.set("sip_invite_failure_phrase", "Request Terminated")
	}
	if _, ok := ch.v.get("sip_hangup_disposition"); !ok {
		if ch.answered() {
			ch.v.set("sip_hangup_disposition", "send_bye")
		} else {
			ch.v.set("sip_hangup_disposition", "send_cancel")
		}
	}
	// switch_core_session_hangup_state runs api_hangup_hook once the
	// timestamps are set; the reporting state runs api_reporting_hook
	// right before it fires CHANNEL_HANGUP_COMPLETE.
	s.runHook(ch, "api_hangup_hook")
	s.runHook(ch, "api_reporting_hook")
	s.emit("CHANNEL_HANGUP_COMPLETE", ch)
}

// runHook is api_hook of switch_core_state_machine.c: the variable is
// "cmd::args" (the first ':' doubled) or "cmd args", the args expanded
// from the channel's variables and headers, the command run as an api
// command with no session; its output only goes to the debug log (and
// the ledger). s.mu is held: commands that block (originate, msleep) are
// not simulated in a hook.
func (s *Switch) runHook(ch *channel, name string) {
	hook, _ := ch.v.get(name)
	if hook == "" {
		return
	}
	cmd, arg := hook, ""
	if i := strings.IndexByte(hook, ':'); i >= 0 && i+1 < len(hook) && hook[i+1] == ':' {
		cmd, arg = hook[:i], hook[i+2:]
	} else if i := strings.IndexByte(hook, ' '); i >= 0 {
		cmd, arg = hook[:i], hook[i+1:]
	}
	expanded := s.expandEvent(ch, arg)
	out, found := s.apiLocked(cmd, expanded)
	if !found {
		s.log(logErr, "fsim: "+name+" runs "+cmd+", which a hook cannot run here")
	}
	s.log(logDebug, "switch_core_state_machine.c Hangup Command with no Session "+cmd+"("+expanded+"):\n"+out)
	s.rec.note(ledgerEntry{Kind: "hook", At: s.clock.Now(), UUID: ch.uuid, Variable: name, Command: strings.TrimSpace(cmd + " " + expanded), Output: out})
}

// expandEvent expands as switch_event_expand_headers does over the event
// api_hook builds: the channel's variables by name, then its event
// headers (Unique-ID, Caller-Destination-Number, variable_*...).
func (s *Switch) expandEvent(ch *channel, in string) string {
	var ev *esl.Event
	x := expander{
		lookup: func(name string) (string, bool) {
			if v, ok := ch.v.get(name); ok {
				return v, true
			}
			if ev == nil {
				b := esl.NewEvent("CHANNEL_DATA")
				s.addChannel(b, ch)
				ev = b.Event()
			}
			v := ev.Get(name)
			return v, v != ""
		},
		api: s.apiExpansion,
	}
	return x.expand(in, 0)
}

func (s *Switch) emitDestroy(ch *channel) {
	ch.stateNum = 12
	s.emit("CHANNEL_DESTROY", ch)
	if s.channels[ch.uuid] == ch {
		delete(s.channels, ch.uuid)
		if ch.gateway != "" {
			s.gwActive[ch.gateway]--
		}
	}
}

// lookup finds a live channel by uuid.
func (s *Switch) lookup(uuid string) *channel {
	ch := s.channels[uuid]
	if ch == nil || ch.hungUp {
		return nil
	}
	return ch
}

func (s *Switch) uuidBridge(args string) string {
	f := strings.Fields(args)
	if len(f) != 2 {
		return "-USAGE: <uuid> <other_uuid>\n"
	}
	a, b := s.lookup(f[0]), s.lookup(f[1])
	if a == nil || b == nil || a == b {
		return "-ERR Invalid uuid\n"
	}
	now := s.clock.Now()
	a.bridge, b.bridge = b, a
	a.otherType, b.otherType = "originatee", "originator"
	a.logicalIn = true
	a.v.set("uuid_bridge", b.uuid)
	for _, leg := range []*channel{a, b} {
		other := leg.bridge
		leg.profileIndex = 2
		leg.transferFr = strconv.FormatInt(now.Unix(), 10) + ":" + esl.NewUUID() + ":uuid_br:" + other.uuid
		leg.v.set("bridge_channel", other.name)
		leg.v.set("bridge_uuid", other.uuid)
		leg.v.set("signal_bond", other.uuid)
		leg.v.set("original_destination_number", leg.dest)
		leg.v.set("original_caller_id_name", "Outbound Call")
		leg.v.set("original_caller_id_number", leg.dest)
		leg.v.set("transfer_history", leg.transferFr)
		leg.v.set("transfer_source", leg.transferFr)
	}
	for _, leg := range []*channel{a, b} {
		leg.state, leg.stateNum = "CS_EXECUTE", 8
		s.stopCurrent(leg)
	}
	a.v.unset("uuid_bridge")
	for _, leg := range []*channel{a, b} {
		leg.state, leg.stateNum = "CS_SOFT_EXECUTE", 3
		s.emit("CHANNEL_EXECUTE", leg, s.appHeaders(&application{name: "uuid_bridge", data: leg.bridge.uuid}, false)...)
	}
	a.bridgedAt, b.bridgedAt = now, now
	s.emit("CHANNEL_BRIDGE", a)
	b.state = "CS_EXCHANGE_MEDIA"
	s.talkFromNow(a)
	s.talkFromNow(b)
	return "+OK " + b.uuid + "\n"
}

func (s *Switch) uuidKill(args string) string {
	f := strings.Fields(args)
	if len(f) == 0 {
		return "-USAGE: <uuid> [cause]\n"
	}
	cause := "NORMAL_CLEARING"
	if len(f) > 1 {
		cause = strings.ToUpper(f[1])
	}
	ch := s.lookup(f[0])
	if ch == nil {
		return "-ERR No such channel!\n"
	}
	if !ch.answered() && cause == "NORMAL_CLEARING" {
		cause = "ORIGINATOR_CANCEL"
	}
	s.hangup(ch, cause, true)
	return "+OK\n"
}

func (s *Switch) uuidTransfer(args string) string {
	f := strings.Fields(args)
	if len(f) > 1 && strings.HasPrefix(f[1], "-") {
		f = append(f[:1], f[2:]...) // -bleg / -both: this leg is what the simulator transfers
	}
	if len(f) < 2 {
		return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
	}
	ch := s.lookup(f[0])
	if ch == nil {
		return "-ERR No such channel!\n"
	}
	if other := ch.bridge; other != nil {
		s.emit("CHANNEL_UNBRIDGE", ch)
		ch.bridge, other.bridge = nil, nil
		s.hangup(other, "NORMAL_CLEARING", true)
	}
	s.stopCurrent(ch)
	s.runExtension(ch, f[1])
	return "+OK\n"
}

func (s *Switch) uuidBroadcast(args string) string {
	f := strings.Fields(args)
	if len(f) < 2 {
		return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
	}
	ch := s.lookup(f[0])
	if ch == nil || !ch.answered() {
		return "-ERR invalid uuid\n"
	}
	wasParked := ch.parked
	if ch.current != nil && ch.current.name != "park" {
		s.complete(ch, "")
	}
	ch.parked = false
	back := func() {
		if wasParked && !ch.hungUp {
			ch.parked = true
			ch.current = &application{name: "park", uuid: esl.NewUUID()}
		}
	}
	if name, arg, ok := strings.Cut(f[1], "::"); ok {
		s.execute(ch, name, arg, back)
	} else {
		s.execute(ch, "playback", f[1], back)
	}
	return "+OK Message sent\n"
}

func (s *Switch) uuidRecord(args string) string {
	f := strings.Fields(args)
	if len(f) < 3 {
		return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
	}
	ch := s.lookup(f[0])
	if ch == nil {
		return "-ERR Cannot locate session!\n"
	}
	switch strings.ToLower(f[1]) {
	case "start":
		ch.recording = f[2]
		s.emit("RECORD_START", ch, kv{"Record-File-Path", f[2]})
	case "stop":
		if ch.recording != "" {
			s.emit("RECORD_STOP", ch, kv{"Record-File-Path", ch.recording})
			ch.recording = ""
		}
	}
	return "+OK Success\n"
}

func (s *Switch) uuidSetvar(args string) string {
	f := strings.SplitN(strings.TrimSpace(args), " ", 3)
	if len(f) < 2 {
		return "-USAGE: <uuid> <var> [value]\n"
	}
	ch := s.lookup(f[0])
	if ch == nil {
		return "-ERR No such channel!\n"
	}
	if len(f) == 3 && f[2] != "" {
		ch.v.set(f[1], f[2])
	} else {
		ch.v.unset(f[1])
	}
	return "+OK\n"
}

func (s *Switch) uuidGetvar(args string) string {
	f := strings.Fields(args)
	if len(f) < 2 {
		return "-USAGE: <uuid> <var>\n"
	}
	ch := s.lookup(f[0])
	if ch == nil {
		return "-ERR No such channel!\n"
	}
	if v, ok := ch.v.get(f[1]); ok {
		return v // as the switch does: no newline after the value
	}
	return "_undef_"
}

func (s *Switch) hupall(args string) string {
	f := strings.Fields(args)
	cause := "MANAGER_REQUEST"
	if len(f) > 0 {
		cause = strings.ToUpper(f[0])
	}
	for _, ch := range s.sortedChannels() {
		if len(f) >= 3 {
			if v, _ := ch.v.get(f[1]); v != f[2] {
				continue
			}
		}
		if !ch.hungUp {
			s.hangup(ch, cause, true)
		}
	}
	if len(f) >= 3 {
		return fmt.Sprintf("+OK hangup all channels matching [%s]=[%s] with cause: %s\n", f[1], f[2], cause)
	}
	return "+OK hangup all channels with cause " + cause + "\n"
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
	if err := sw.Serve(l); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
