package esl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler runs the api and bgapi commands a Server receives.
type Handler interface {
	// API runs command with args and returns its output. If then is not
	// nil, the server calls it once the output is out: after writing the
	// api/response, or after publishing the BACKGROUND_JOB of a bgapi. A
	// switch uses it to fire the events that follow a command's result.
	API(ctx context.Context, command, args string) (output string, then func())
}

// SendMsgHandler is implemented by handlers that take sendmsg commands; it
// returns the Reply-Text.
type SendMsgHandler interface {
	SendMsg(uuid string, headers []Header, body string) string
}

// Disconnect notice text, as mod_event_socket sends it.
const disconnectText = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

const rudeRejectionText = "Access Denied, go away.\n"

// Server is the switch side of the event socket: authentication, event
// subscriptions and filters, api and bgapi, sendmsg, log, exit, disconnect
// notices, with the replies of mod_event_socket.
type Server struct {
	Password string
	Handler  Handler
	// FireJob publishes the BACKGROUND_JOB of a finished bgapi. A switch
	// sets it to add its common headers and to keep Event-Sequence in
	// order with its other events; by default a bare event is published.
	FireJob func(jobUUID, command, args, output string)
	// Allow, if set, turns away connections it returns false for with a
	// text/rude-rejection, as an ACL does.
	Allow func(remote net.Addr) bool
	// QueueLimit is how many events wait for one listener before new ones
	// are lost (default 100,000); past MaxLost lost events (default 500)
	// the listener is disconnected, as mod_event_socket does.
	QueueLimit, MaxLost int
	// AuthTimeout bounds the wait for the auth command (default 25 s).
	AuthTimeout time.Duration
	Logger      *slog.Logger

	mu        sync.Mutex
	listeners map[*listener]struct{}
	sockets   map[net.Listener]struct{}
	closed    bool
}

func (s *Server) init() {
	if s.listeners == nil {
		s.listeners = make(map[*listener]struct{})
		s.sockets = make(map[net.Listener]struct{})
	}
	if s.QueueLimit <= 0 {
		s.QueueLimit = 100000
	}
	if s.MaxLost <= 0 {
		s.MaxLost = 500
	}
	if s.AuthTimeout <= 0 {
		s.AuthTimeout = 25 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("esl: server closed")

// ListenAndServe listens on a TCP address and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.sockets[l] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.sockets, l)
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			return err
		}
		go s.serveConn(nc)
	}
}

// Publish sends ev to every listener subscribed to it, in call order.
func (s *Server) Publish(ev *Event) {
	name := ev.Name()
	subclass := ev.Get("Event-Subclass")
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.offer(ev, name, subclass)
	}
}

// Log sends a log/data line to the listeners logging at level or above
// (0 emergency .. 7 debug).
func (s *Server) Log(level int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.offerLog(level, text)
	}
}

// Listeners returns how many connections are open.
func (s *Server) Listeners() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.listeners)
}

// DropConnections closes every client connection at once, without a
// disconnect notice, as a crash or a network cut would. It returns how many
// it closed.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.nc.Close()
	}
	return len(s.listeners)
}

// Close stops accepting, sends every listener the disconnect notice and
// closes it.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.closed = true
	for l := range s.sockets {
		l.Close()
	}
	ls := make([]*listener, 0, len(s.listeners))
	for l := range s.listeners {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.kill()
	}
	return nil
}

// listener is one client connection.
type listener struct {
	s      *Server
	nc     net.Conn
	bw     *bufio.Writer
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards the subscription, the queue and the log level
	format   string     // "" while events are off
	all      bool
	names    map[string]bool
	subclass map[string]bool
	filters  []eventFilter
	queue    []queued
	lost     int
	logLevel int // -1: not logging
	signal   chan struct{}
	killed   chan struct{}
	killOnce sync.Once
	wbuf     []byte // reused by flushQueue, which only the serve goroutine runs

	// An outbound connection's call (ServeSession): "" on an inbound one.
	session string
	resume  atomic.Bool // the resume command came
	linger  atomic.Bool
}

type queued struct {
	event *Event
	log   string
}

type eventFilter struct {
	header, value string
	re            *regexp.Regexp
}

func (f eventFilter) match(ev *Event) bool {
	v, ok := ev.Lookup(f.header)
	if !ok {
		return false
	}
	if f.re != nil {
		return f.re.MatchString(v)
	}
	return v == f.value
}

func (l *listener) offer(ev *Event, name, subclass string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.format == "" {
		return
	}
	if !l.all && !l.names[name] {
		return
	}
	if name == "CUSTOM" && !l.all && len(l.subclass) > 0 && !l.subclass[subclass] {
		return
	}
	if len(l.filters) > 0 {
		pass := false
		for _, f := range l.filters {
			if f.match(ev) {
				pass = true
				break
			}
		}
		if !pass {
			return
		}
	}
	if len(l.queue) >= l.s.QueueLimit {
		l.lost++
		if l.lost > l.s.MaxLost {
			l.s.Logger.Warn("esl server: listener dropped for lost events", "remote", l.nc.RemoteAddr(), "lost", l.lost)
			l.kill()
		}
		return
	}
	l.queue = append(l.queue, queued{event: ev})
	l.wake()
}

func (l *listener) offerLog(level int, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logLevel < 0 || level > l.logLevel || len(l.queue) >= l.s.QueueLimit {
		return
	}
	l.queue = append(l.queue, queued{log: text})
	l.wake()
}

func (l *listener) wake() {
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

// kill sends the disconnect notice and closes the connection.
func (l *listener) kill() {
	l.killOnce.Do(func() { close(l.killed) })
}

func (s *Server) serveConn(nc net.Conn) {
	s.serve(newListener(s, nc, ""), nil)
}

func newListener(s *Server, nc net.Conn, session string) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		s: s, nc: nc, bw: bufio.NewWriterSize(nc, 64<<10), ctx: ctx, cancel: cancel,
		names: map[string]bool{}, subclass: map[string]bool{}, logLevel: -1,
		signal: make(chan struct{}, 1), killed: make(chan struct{}), session: session,
	}
}

// serve runs a connection until it closes. An inbound one authenticates
// first; an outbound one (channelData not nil) waits for connect instead.
func (s *Server) serve(l *listener, channelData func() []Header) {
	nc := l.nc
	defer l.cancel()
	defer nc.Close()
	if l.session == "" && s.Allow != nil && !s.Allow(nc.RemoteAddr()) {
		l.write(AppendMessage(nil, []Header{{"Content-Type", TypeRudeRejection}, {"Content-Length", strconv.Itoa(len(rudeRejectionText))}}, rudeRejectionText))
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	commands := make(chan *Command)
	readErr := make(chan error, 1)
	go func() {
		r := NewReader(nc)
		for {
			c, err := r.ReadCommand()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case commands <- c:
			case <-l.ctx.Done():
				return
			}
		}
	}()

	if l.session == "" {
		l.write(AppendMessage(nil, []Header{{"Content-Type", TypeAuthRequest}}, ""))
	}
	authTimer := time.NewTimer(s.AuthTimeout)
	defer authTimer.Stop()
	authed := false
	for {
		select {
		case c := <-commands:
			if !authed && l.session != "" {
				if authed = l.connect(c, channelData); !authed && l.handle(c) {
					return
				}
				continue
			}
			if !authed {
				ok, done := l.preAuth(c)
				if done {
					return
				}
				authed = ok
				continue
			}
			if done := l.handle(c); done {
				return
			}
		case <-l.signal:
			l.flushQueue()
		case <-authTimer.C:
			if !authed {
				return
			}
		case <-l.killed:
			if l.session != "" && l.linger.Load() {
				// listener_run: the call is down; the events still queued follow
				l.write(AppendMessage(nil, []Header{{"Content-Type", TypeDisconnect}, {"Controlled-Session-UUID", l.session},
					{"Content-Disposition", "linger"}, {"Content-Length", "0"}}, ""))
			}
			l.flushQueue()
			l.disconnect()
			return
		case <-readErr:
			return
		}
	}
}

func (l *listener) write(b []byte) {
	_ = l.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := l.bw.Write(b); err == nil {
		err = l.bw.Flush()
		if err != nil {
			l.nc.Close()
		}
	} else {
		l.nc.Close()
	}
}

func (l *listener) reply(text string, extra ...Header) {
	hs := append([]Header{{"Content-Type", TypeCommandReply}, {"Reply-Text", text}}, extra...)
	l.write(AppendMessage(nil, hs, ""))
}

func (l *listener) disconnect() {
	hs := []Header{{"Content-Type", TypeDisconnect}}
	if l.session != "" {
		hs = append(hs, Header{"Controlled-Session-UUID", l.session}, Header{"Content-Disposition", "disconnect"})
	}
	l.write(AppendMessage(nil, append(hs, Header{"Content-Length", strconv.Itoa(len(disconnectText))}), disconnectText))
}

// preAuth handles a command before authentication; ok means authenticated,
// done that the connection must close.
func (l *listener) preAuth(c *Command) (ok, done bool) {
	verb, arg, _ := strings.Cut(c.Line, " ")
	if !strings.EqualFold(verb, "auth") {
		l.reply("-ERR command not found")
		return false, false
	}
	if arg != l.s.Password {
		l.reply("-ERR invalid")
		l.disconnect()
		return false, true
	}
	l.reply("+OK accepted")
	return true, false
}

// flushQueue writes the queued events and log lines.
func (l *listener) flushQueue() {
	l.mu.Lock()
	items, format := l.queue, l.format
	l.queue = nil
	l.mu.Unlock()
	if len(items) == 0 {
		return
	}
	buf := l.wbuf[:0]
	for _, it := range items {
		if it.event == nil {
			buf = AppendMessage(buf, []Header{{"Content-Type", TypeLogData}, {"Content-Length", strconv.Itoa(len(it.log))}}, it.log)
			continue
		}
		body, ctype := it.event.String(), TypeEventPlain
		switch format {
		case "json":
			body, ctype = string(it.event.AppendJSON(nil)), TypeEventJSON
		case "xml":
			body, ctype = string(it.event.AppendXML(nil)), TypeEventXML
		}
		buf = AppendMessage(buf, []Header{{"Content-Length", strconv.Itoa(len(body))}, {"Content-Type", ctype}}, body)
		if len(buf) > 256<<10 {
			l.write(buf)
			buf = buf[:0]
		}
	}
	l.write(buf)
	if cap(buf) <= 1<<20 {
		l.wbuf = buf
	}
}

// handle runs one authenticated command; done means the connection closes.
func (l *listener) handle(c *Command) (done bool) {
	verb, rest, _ := strings.Cut(strings.TrimSpace(c.Line), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(verb) {
	case "api":
		cmd, args, _ := strings.Cut(rest, " ")
		out, then := l.s.Handler.API(l.ctx, cmd, strings.TrimSpace(args))
		if out == "" {
			out = "-ERR no reply\n"
		}
		l.write(AppendMessage(nil, []Header{{"Content-Type", TypeAPIResponse}, {"Content-Length", strconv.Itoa(len(out))}}, out))
		if then != nil {
			then()
		}
	case "bgapi":
		cmd, args, _ := strings.Cut(rest, " ")
		job := c.Get("Job-UUID")
		if job == "" {
			job = NewUUID()
		}
		l.reply("+OK Job-UUID: "+job, Header{"Job-UUID", job})
		go l.s.runJob(job, cmd, strings.TrimSpace(args))
	case "event":
		return l.subscribe(rest)
	case "nixevent":
		l.mu.Lock()
		for _, n := range strings.Fields(rest) {
			delete(l.names, strings.ToUpper(n))
			if strings.EqualFold(n, "all") {
				l.all = false
			}
		}
		l.mu.Unlock()
		l.reply("+OK events nixed")
	case "noevents":
		l.mu.Lock()
		l.format, l.all = "", false
		l.names, l.subclass = map[string]bool{}, map[string]bool{}
		l.mu.Unlock()
		l.reply("+OK no longer listening for events")
	case "filter":
		l.filter(rest)
	case "sendmsg":
		uuid, _, _ := strings.Cut(rest, " ")
		if uuid == "" {
			uuid = l.session // an outbound connection's call
		}
		if h, ok := l.s.Handler.(SendMsgHandler); ok {
			l.reply(h.SendMsg(uuid, c.Headers, c.Body))
		} else {
			l.reply("-ERR invalid session id [" + uuid + "]")
		}
	case "log":
		level := 7
		if rest != "" {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n <= 7 {
				level = n
			} else if n, ok := logLevels[strings.ToLower(rest)]; ok {
				level = n
			}
		}
		l.mu.Lock()
		l.logLevel = level
		l.mu.Unlock()
		l.reply(fmt.Sprintf("+OK log level %s [%d]", levelName(level), level))
	case "nolog":
		l.mu.Lock()
		l.logLevel = -1
		l.mu.Unlock()
		l.reply("+OK no longer logging")
	case "linger":
		l.linger.Store(true)
		l.reply("+OK will linger")
	case "nolinger":
		l.linger.Store(false)
		l.reply("+OK will not linger")
	case "resume":
		if l.session == "" {
			l.reply("-ERR command not found")
			break
		}
		l.resume.Store(true)
		l.reply("+OK")
	case "myevents":
		if l.session == "" {
			l.reply("-ERR command not found") // (myevents UUID on an inbound connection is not simulated)
			break
		}
		l.mu.Lock()
		l.format, l.all = "plain", true
		if f := strings.ToLower(rest); f == "json" || f == "xml" {
			l.format = f
		}
		l.filters = append(l.filters, eventFilter{header: "Unique-ID", value: l.session})
		l.mu.Unlock()
		l.reply("+OK Events Enabled")
	case "exit":
		l.reply("+OK bye")
		l.flushQueue()
		l.disconnect()
		return true
	default:
		l.reply("-ERR command not found")
	}
	return false
}

var logLevels = map[string]int{"console": 0, "emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}

func levelName(n int) string {
	for name, v := range logLevels {
		if v == n && name != "console" {
			return strings.ToUpper(name)
		}
	}
	return "DEBUG"
}

func (s *Server) runJob(job, cmd, args string) {
	out, then := s.Handler.API(context.Background(), cmd, args)
	if s.FireJob != nil {
		s.FireJob(job, cmd, args, out)
	} else {
		s.Publish(JobEvent(NewEvent("BACKGROUND_JOB"), job, cmd, args, out))
	}
	if then != nil {
		then()
	}
}

// JobEvent completes a BACKGROUND_JOB event started with the switch's
// common headers.
func JobEvent(b *EventBuilder, jobUUID, command, args, output string) *Event {
	return b.Add("Job-UUID", jobUUID).
		Add("Job-Command", command).
		Add("Job-Command-Arg", args).
		SetBody(output).Event()
}

// subscribe handles "event [plain|json|xml] NAMES... [CUSTOM sub...]".
func (l *listener) subscribe(rest string) bool {
	format := ""
	custom := false
	var names, subs []string
	for _, tok := range strings.Fields(rest) {
		switch low := strings.ToLower(tok); {
		case custom:
			subs = append(subs, tok)
		case low == "plain" || low == "json" || low == "xml":
			format = low
		case low == "custom":
			custom = true
			names = append(names, "CUSTOM")
		default:
			names = append(names, strings.ToUpper(tok))
		}
	}
	if len(names) == 0 {
		l.reply("-ERR no keywords supplied")
		return false
	}
	l.mu.Lock()
	if format != "" || l.format == "" {
		l.format = format
		if l.format == "" {
			l.format = "plain"
		}
	}
	for _, n := range names {
		if n == "ALL" {
			l.all = true
		}
		l.names[n] = true
	}
	for _, s := range subs {
		l.subclass[s] = true
	}
	f := l.format
	l.mu.Unlock()
	l.reply("+OK event listener enabled " + f)
	return false
}

// filter handles "filter HEADER VALUE" and "filter delete HEADER [VALUE|all]".
func (l *listener) filter(rest string) {
	header, value, _ := strings.Cut(rest, " ")
	value = strings.TrimSpace(value)
	if strings.EqualFold(header, "delete") {
		h, v, _ := strings.Cut(value, " ")
		v = strings.TrimSpace(v)
		l.mu.Lock()
		kept := l.filters[:0]
		for _, f := range l.filters {
			if !(strings.EqualFold(f.header, h) && (v == "" || strings.EqualFold(v, "all") || f.value == v)) {
				kept = append(kept, f)
			}
		}
		l.filters = kept
		l.mu.Unlock()
		l.reply(fmt.Sprintf("+OK filter deleted. [%s][%s]", h, v))
		return
	}
	if header == "" || value == "" {
		l.reply("-ERR invalid syntax")
		return
	}
	f := eventFilter{header: header, value: value}
	if len(value) > 1 && value[0] == '/' && value[len(value)-1] == '/' {
		re, err := regexp.Compile(value[1 : len(value)-1])
		if err != nil {
			l.reply("-ERR invalid syntax")
			return
		}
		f.re = re
	}
	l.mu.Lock()
	l.filters = append(l.filters, f)
	l.mu.Unlock()
	l.reply(fmt.Sprintf("+OK filter added. [%s]=[%s]", header, value))
}
