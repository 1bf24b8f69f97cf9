package esl

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/internal/fifo"
)

var (
	// ErrClosed is returned for commands on, and jobs of, a connection that ended.
	ErrClosed = errors.New("esl: connection closed")
	// ErrAuth means the switch refused the password.
	ErrAuth = errors.New("esl: authentication failed")
	// ErrRejected means the switch's ACL turned the connection away
	// (text/rude-rejection).
	ErrRejected = errors.New("esl: connection rejected by the switch")
	// ErrNotSent is wrapped by errors about commands that never reached the
	// socket: the switch cannot have acted on them. Any other error of a
	// command leaves it unknown whether the switch ran it.
	ErrNotSent = errors.New("esl: command not sent")
	// ErrBadCommand is wrapped (with ErrNotSent) by errors about commands
	// refused before writing because a line break or NUL inside them would
	// make the switch read the rest as further commands: whatever produced
	// the text, it is never sent. Retrying the same command cannot help.
	ErrBadCommand = errors.New("esl: command refused")
	// ErrUnresponsive is why a connection closed itself when the switch
	// stopped answering (Config.IdleProbe): Err, a Client's OnState and
	// the commands and jobs it failed wrap it.
	ErrUnresponsive = errors.New("esl: the switch stopped answering")
)

// CommandError is a "-ERR ..." answer to a command, an api call or a job.
type CommandError struct {
	Command string // the command's first word
	Reply   string // the text after "-ERR "
}

func (e *CommandError) Error() string { return fmt.Sprintf("esl: %s: -ERR %s", e.Command, e.Reply) }

// replyError turns a "-ERR ..." answer into a *CommandError and anything
// else into nil.
func replyError(command, reply string) error {
	rest, ok := strings.CutPrefix(reply, "-ERR")
	if !ok {
		return nil
	}
	verb, _, _ := strings.Cut(command, " ")
	return &CommandError{Command: verb, Reply: strings.TrimSpace(rest)}
}

// Config configures a connection.
type Config struct {
	Password string
	// DialTimeout bounds the TCP connect and the authentication (default 5 s).
	DialTimeout time.Duration
	// WriteTimeout bounds writing one command (default 10 s).
	WriteTimeout time.Duration
	// OnEvent receives every event, in the order the switch sent them, from
	// one goroutine. Replies and job results are handed over in the same
	// order, so a command's reply comes after every event the switch sent
	// before it has been handled. OnEvent must not block for long, and must
	// not wait for a reply on this connection: both queue behind it.
	OnEvent func(*Event)
	// OnLog receives log/data messages, in order with the events.
	OnLog func(*Message)
	// Logger gets connection-level warnings; nil discards them.
	Logger *slog.Logger

	// IdleProbe is how long the connection may read nothing at all (no
	// event, reply or log line) before it sends "api status" to learn
	// whether the switch is still there (default 10 s; negative: never).
	// A switch that hangs, or a network that drops packets without ending
	// the TCP connection, otherwise goes unnoticed: events just stop,
	// commands time out one by one, and a Client stays Connected, so a
	// Pool keeps placing calls on the node.
	IdleProbe time.Duration
	// ProbeTimeout is how long the probe may go without anything read
	// (its answer or any other message) before the connection is closed
	// with an error wrapping ErrUnresponsive (default 5 s). A Client then
	// reports Disconnected and reconnects with its backoff. An api
	// command the switch works on for longer than IdleProbe plus
	// ProbeTimeout, while it sends nothing else, is taken for a hang too:
	// FreeSWITCH answers one api at a time per connection, and sends no
	// events meanwhile.
	ProbeTimeout time.Duration
	// Clock times IdleProbe and ProbeTimeout (default real time). Tests
	// use a fake one; never give it a sped-up clock: the switch's silence
	// is measured in real seconds.
	Clock clock.Clock
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.IdleProbe == 0 {
		c.IdleProbe = 10 * time.Second
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Conn is one authenticated inbound event socket connection. Its methods
// are safe for concurrent use.
type Conn struct {
	cfg Config
	nc  net.Conn
	r   *Reader

	wmu sync.Mutex // serializes writes and keeps pending in write order
	bw  *bufio.Writer

	mu      sync.Mutex
	pending []*call // commands written, replies not yet read, oldest first
	jobs    map[string]*Job
	closed  bool
	err     error
	format  string // event format in use ("" before any subscription)
	jobEvts bool   // BACKGROUND_JOB (or ALL) is subscribed

	items   *fifo.Queue[item]
	pushed  uint64        // items queued, by the reader alone
	handled atomic.Uint64 // items handed over, by the dispatcher
	done    chan struct{} // closed once the reader stopped and every event was handed over

	// What the idle probe judges by: reads that returned bytes, and the
	// Clock's time of the last one since epoch.
	epoch    time.Time
	reads    atomic.Uint64
	lastRead atomic.Int64
	watch    clock.Timer // the idle or probe timer (mu); nil when IdleProbe < 0
	probes   uint64      // probes sent (mu)
	probing  uint64      // the probe whose check is armed, 0 for none (mu)
}

// liveReader notes every read that returned bytes: any byte from the
// switch shows it is there, whatever message it belongs to.
type liveReader struct{ c *Conn }

func (r liveReader) Read(p []byte) (int, error) {
	n, err := r.c.nc.Read(p)
	if n > 0 {
		r.c.lastRead.Store(int64(r.c.cfg.Clock.Now().Sub(r.c.epoch)))
		r.c.reads.Add(1)
	}
	return n, err
}

// call is one command waiting for its reply. The reply channel is buffered,
// so a reply whose caller gave up is read off the socket and dropped instead
// of reaching the next caller.
type call struct {
	reply chan *Message
}

// item is what the reader hands the dispatcher, in the switch's order: an
// event (with the job it completes), a log line, or a reply for its caller.
type item struct {
	event *Event
	job   *Job
	log   *Message
	reply *Message
	to    *call
}

// Dial connects to an event socket and authenticates.
func Dial(ctx context.Context, address string, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("esl: dial %s: %w", address, err)
	}
	c := newConn(nc, cfg)
	deadline, _ := ctx.Deadline()
	if err := c.authenticate(deadline); err != nil {
		nc.Close()
		return nil, fmt.Errorf("esl: %s: %w", address, err)
	}
	c.start()
	return c, nil
}

// newConn wraps a connection whose handshake is still to come.
func newConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{
		cfg:   cfg,
		nc:    nc,
		bw:    bufio.NewWriterSize(nc, 16<<10),
		jobs:  make(map[string]*Job),
		items: fifo.New[item](),
		done:  make(chan struct{}),
		epoch: cfg.Clock.Now(),
	}
	c.r = NewReader(liveReader{c})
	return c
}

// start runs the reader, the dispatcher and the idle probe once the
// handshake is done.
func (c *Conn) start() {
	go c.readLoop()
	go c.dispatchLoop()
	if c.cfg.IdleProbe > 0 {
		c.arm(c.cfg.IdleProbe, c.idleCheck)
	}
}

// arm sets the watchdog's next check unless the connection ended; false
// when it did.
func (c *Conn) arm(d time.Duration, check func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.watch = c.cfg.Clock.AfterFunc(d, check)
	return true
}

// silence is how long nothing has been read.
func (c *Conn) silence() time.Duration {
	return c.cfg.Clock.Now().Sub(c.epoch) - time.Duration(c.lastRead.Load())
}

// idleCheck runs IdleProbe after the last read it knew of: it sleeps again
// if something was read meanwhile, or probes. It runs inside the Clock's
// timer (inside Advance on a fake one), so it never waits for the network.
func (c *Conn) idleCheck() {
	if silent := c.silence(); silent < c.cfg.IdleProbe {
		c.arm(c.cfg.IdleProbe-silent, c.idleCheck)
		return
	}
	mark := c.reads.Load()
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return
	}
	c.probes++
	probe := c.probes
	c.probing = probe
	c.watch = c.cfg.Clock.AfterFunc(c.cfg.ProbeTimeout, func() {
		cancel()
		c.probeCheck(probe, mark)
	})
	c.mu.Unlock()
	c.cfg.Logger.Debug("esl: quiet connection, probing", "silent", c.silence())
	go func() {
		defer cancel()
		_, err := c.API(ctx, "status")
		var ce *CommandError
		if err == nil || errors.As(err, &ce) {
			c.probeAnswered(probe)
			c.cfg.Logger.Debug("esl: probe answered")
		}
	}()
}

// probeAnswered counts the next IdleProbe from the answer rather than
// from the probe's check: a switch is probed every IdleProbe of silence
// even when ProbeTimeout is the longer.
func (c *Conn) probeAnswered(probe uint64) {
	c.mu.Lock()
	if c.closed || c.probing != probe {
		c.mu.Unlock()
		return
	}
	c.probing = 0
	c.watch.Stop()
	c.mu.Unlock()
	c.idleCheck()
}

// probeCheck runs ProbeTimeout after a probe whose answer was not handed
// over (it may wait behind events for the handler): anything read since
// the probe was sent keeps the connection; nothing closes it.
func (c *Conn) probeCheck(probe, mark uint64) {
	c.mu.Lock()
	if c.probing != probe {
		c.mu.Unlock()
		return // answered meanwhile
	}
	c.probing = 0
	c.mu.Unlock()
	if c.reads.Load() != mark {
		c.idleCheck()
		return
	}
	c.shutdown(fmt.Errorf("%w: nothing read for %v, api status unanswered after %v",
		ErrUnresponsive, c.silence().Round(time.Millisecond), c.cfg.ProbeTimeout))
}

// authenticate runs the handshake before the reader starts.
func (c *Conn) authenticate(deadline time.Time) error {
	_ = c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	m, err := c.r.ReadMessage()
	if err != nil {
		return fmt.Errorf("waiting for auth/request: %w", err)
	}
	switch ct := m.ContentType(); ct {
	case TypeAuthRequest:
	case TypeRudeRejection:
		return fmt.Errorf("%w: %s", ErrRejected, strings.TrimSpace(m.Body))
	default:
		return fmt.Errorf("%w: expected auth/request, got %q", ErrProtocol, ct)
	}
	if strings.ContainsAny(c.cfg.Password, "\r\n\x00") {
		return fmt.Errorf("%w: the password has a line break or NUL", ErrBadCommand)
	}
	if _, err := c.nc.Write([]byte("auth " + c.cfg.Password + "\n\n")); err != nil {
		return fmt.Errorf("send auth: %w", err)
	}
	m, err = c.r.ReadMessage()
	if err != nil {
		return fmt.Errorf("waiting for the auth reply: %w", err)
	}
	if reply := m.ReplyText(); !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("%w: %s", ErrAuth, reply)
	}
	return nil
}

func (c *Conn) readLoop() {
	for {
		m, err := c.r.ReadMessage()
		if err != nil {
			c.shutdown(err)
			return
		}
		switch ct := m.ContentType(); ct {
		case TypeCommandReply, TypeAPIResponse:
			if cl := c.matchReply(m); cl != nil {
				if c.caughtUp() {
					cl.reply <- m // buffered: never blocks
				} else {
					c.push(item{reply: m, to: cl})
				}
			}
		case TypeEventPlain, TypeEventJSON, TypeEventXML:
			ev, err := ParseEvent(m)
			if err != nil {
				c.cfg.Logger.Warn("esl: event dropped", "error", err)
				continue
			}
			it := item{event: ev}
			if ev.Name() == "BACKGROUND_JOB" {
				if it.job = c.takeJob(ev.Get("Job-UUID")); it.job != nil && c.caughtUp() {
					it.job.complete(ev)
					it.job = nil
				}
			}
			c.push(it)
		case TypeLogData:
			c.push(item{log: m})
		case TypeDisconnect:
			// The switch closes after this (or lingers and sends the
			// rest of the events first); keep reading until it does.
			c.cfg.Logger.Info("esl: disconnect notice", "text", strings.TrimSpace(m.Body))
		case TypeRudeRejection:
			c.shutdown(fmt.Errorf("%w: %s", ErrRejected, strings.TrimSpace(m.Body)))
			return
		default:
			c.cfg.Logger.Warn("esl: message of unknown type ignored", "content_type", ct)
		}
	}
}

func (c *Conn) dispatchLoop() {
	defer close(c.done)
	var buf []item
	for {
		items, ok := c.items.Take(buf)
		if !ok {
			return
		}
		for i, it := range items {
			switch {
			case it.to != nil:
				it.to.reply <- it.reply // buffered: never blocks
			case it.event != nil:
				if it.job != nil {
					it.job.complete(it.event)
				}
				if c.cfg.OnEvent != nil {
					c.cfg.OnEvent(it.event)
				}
			case it.log != nil && c.cfg.OnLog != nil:
				c.cfg.OnLog(it.log)
			}
			items[i] = item{}
			c.handled.Add(1)
		}
		buf = items
	}
}

// push queues an item for the dispatcher (reader only).
func (c *Conn) push(it item) {
	c.pushed++
	c.items.Push(it)
}

// caughtUp reports whether everything read so far has been handed over, so
// that a reply or job result can go to its caller at once without
// overtaking an event (reader only).
func (c *Conn) caughtUp() bool { return c.handled.Load() == c.pushed }

// matchReply takes the oldest command waiting for a reply: replies come in
// the order of the commands.
func (c *Conn) matchReply(m *Message) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.cfg.Logger.Warn("esl: reply without a command", "reply", m.ReplyText())
		return nil
	}
	cl := c.pending[0]
	c.pending[0] = nil
	c.pending = c.pending[1:]
	return cl
}

// takeJob takes the job a BACKGROUND_JOB completes (nil: not ours).
func (c *Conn) takeJob(id string) *Job {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.jobs[id]
	delete(c.jobs, id)
	return j
}

// shutdown ends the connection once: waiting commands and jobs fail with
// the reason, queued events are still delivered.
func (c *Conn) shutdown(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = fmt.Errorf("%w: %w", ErrClosed, reason)
	pending, jobs := c.pending, c.jobs
	c.pending, c.jobs = nil, nil
	if c.watch != nil {
		c.watch.Stop()
	}
	c.mu.Unlock()
	c.nc.Close()
	for _, cl := range pending {
		close(cl.reply)
	}
	for _, j := range jobs {
		j.finish("", c.err)
	}
	c.items.Close()
}

// Close closes the connection at once. Queued events are still delivered.
func (c *Conn) Close() error {
	c.shutdown(errors.New("closed by the client"))
	return nil
}

// Done is closed when the connection has ended and every event read from it
// has been handed to OnEvent.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send writes a command (a line and optional header lines and body) and
// waits for its reply. When ctx ends first Send returns ctx's error; the
// reply, when it comes, is discarded.
func (c *Conn) Send(ctx context.Context, line string, headers []Header, body string) (*Message, error) {
	if err := checkCommand(line, headers); err != nil {
		return nil, err
	}
	var b []byte
	b = append(b, line...)
	b = append(b, '\n')
	if body != "" {
		headers = append(headers[:len(headers):len(headers)], Header{"Content-Length", itoa(len(body))})
	}
	b = AppendMessage(b, headers, body)
	return c.roundTrip(ctx, b)
}

func itoa(n int) string { return string(appendInt(nil, n)) }

// checkCommand refuses a command line or header that would not reach the
// switch as one command: mod_event_socket ends a command line at LF (a CR
// before it is dropped), and text after the break would be read as header
// lines or, after a blank line, as another command. A NUL ends the text
// for the switch's C string handling. The body is length-delimited and may
// hold anything.
func checkCommand(line string, headers []Header) error {
	if i := strings.IndexAny(line, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %w: %q has %q at byte %d", ErrNotSent, ErrBadCommand, truncate([]byte(line)), line[i], i)
	}
	for _, h := range headers {
		if i := strings.IndexAny(h.Name, "\r\n\x00: "); i >= 0 || h.Name == "" {
			return fmt.Errorf("%w: %w: header name %q is not a header name", ErrNotSent, ErrBadCommand, truncate([]byte(h.Name)))
		}
		if i := strings.IndexAny(h.Value, "\r\n\x00"); i >= 0 {
			return fmt.Errorf("%w: %w: header %s has %q at byte %d", ErrNotSent, ErrBadCommand, h.Name, h.Value[i], i)
		}
	}
	return nil
}

func (c *Conn) roundTrip(ctx context.Context, wire []byte) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	cl := &call{reply: make(chan *Message, 1)}
	c.wmu.Lock()
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	c.pending = append(c.pending, cl)
	c.mu.Unlock()
	deadline := time.Now().Add(c.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.nc.SetWriteDeadline(deadline)
	// The writer is flushed after every command, so it is empty here and
	// whatever is still buffered after a failure never left.
	n, err := c.bw.Write(wire)
	if err == nil {
		err = c.bw.Flush()
	}
	nothingSent := err != nil && (n == 0 || c.bw.Buffered() == len(wire))
	c.wmu.Unlock()
	if err != nil {
		c.shutdown(err)
		if nothingSent {
			return nil, fmt.Errorf("%w: %v", ErrNotSent, err)
		}
		return nil, fmt.Errorf("esl: write: %w", err)
	}
	select {
	case m, ok := <-cl.reply:
		if !ok {
			return nil, c.Err()
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("esl: waiting for the reply: %w", ctx.Err())
	}
}

// API runs an api command and returns its output. An output starting with
// "-ERR" is also returned as a *CommandError. The switch runs one api at a
// time per connection and sends no events meanwhile.
func (c *Conn) API(ctx context.Context, command string) (string, error) {
	m, err := c.Send(ctx, "api "+command, nil, "")
	if err != nil {
		return "", err
	}
	return m.Body, replyError(command, m.Body)
}

// Job is a bgapi command running on the switch.
type Job struct {
	ID      string
	Command string
	done    chan struct{}
	output  string
	err     error
}

func (j *Job) finish(output string, err error) {
	j.output, j.err = output, err
	close(j.done)
}

// complete finishes the job with its BACKGROUND_JOB.
func (j *Job) complete(ev *Event) { j.finish(ev.Body(), replyError(j.Command, ev.Body())) }

// Done is closed when the job's BACKGROUND_JOB arrived or the connection ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Result returns the job's output once Done is closed; an output starting
// with "-ERR" also comes back as a *CommandError, a lost connection as an
// error wrapping ErrClosed.
func (j *Job) Result() (string, error) {
	select {
	case <-j.done:
		return j.output, j.err
	default:
		return "", errors.New("esl: job still running")
	}
}

// Wait waits for the job's result.
func (j *Job) Wait(ctx context.Context) (string, error) {
	select {
	case <-j.done:
		return j.output, j.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// BgAPI starts a background command under a new job id.
func (c *Conn) BgAPI(ctx context.Context, command string) (*Job, error) {
	return c.BgAPIJob(ctx, NewUUID(), command)
}

// BgAPIJob starts a background command under the given job id, which is
// registered before the command is written so no result can be missed. The
// result comes as a BACKGROUND_JOB event, so the connection subscribes to
// it first if it has not (it also reaches OnEvent). With filters, add one
// passing Event-Name BACKGROUND_JOB.
func (c *Conn) BgAPIJob(ctx context.Context, jobID, command string) (*Job, error) {
	c.mu.Lock()
	subscribed, format := c.jobEvts, c.format
	c.mu.Unlock()
	if !subscribed {
		if format == "" {
			format = "plain"
		}
		if err := c.Subscribe(ctx, format, "BACKGROUND_JOB"); err != nil {
			return nil, fmt.Errorf("subscribe to BACKGROUND_JOB: %w", err)
		}
	}
	j := &Job{ID: jobID, Command: command, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if _, dup := c.jobs[jobID]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: job id %s is already running", ErrNotSent, jobID)
	}
	c.jobs[jobID] = j
	c.mu.Unlock()
	m, err := c.Send(ctx, "bgapi "+command, []Header{{"Job-UUID", jobID}}, "")
	if err == nil {
		err = replyError(command, m.ReplyText())
	}
	if err != nil {
		c.mu.Lock()
		delete(c.jobs, jobID)
		c.mu.Unlock()
		return nil, err
	}
	return j, nil
}

// RunningJobs returns how many bgapi jobs wait for their result.
func (c *Conn) RunningJobs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.jobs)
}

// command sends a command whose reply is a Reply-Text and turns -ERR into
// an error.
func (c *Conn) command(ctx context.Context, line string) error {
	m, err := c.Send(ctx, line, nil, "")
	if err != nil {
		return err
	}
	return replyError(line, m.ReplyText())
}

// Subscribe asks for events by name in format plain, json or xml. Names are
// FreeSWITCH event names (CHANNEL_ANSWER, ALL, CUSTOM sub::class ...).
func (c *Conn) Subscribe(ctx context.Context, format string, names ...string) error {
	if err := c.command(ctx, "event "+format+" "+strings.Join(names, " ")); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.format = format
	for _, n := range names {
		if strings.EqualFold(n, "BACKGROUND_JOB") || strings.EqualFold(n, "ALL") {
			c.jobEvts = true
		}
	}
	return nil
}

// Filter adds an event filter: once one exists only matching events come.
func (c *Conn) Filter(ctx context.Context, header, value string) error {
	return c.command(ctx, "filter "+header+" "+value)
}

// Exit asks the switch to close the connection and waits until it has.
func (c *Conn) Exit(ctx context.Context) error {
	if err := c.command(ctx, "exit"); err != nil {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[x>>4], hex[x&15]
		j += 2
	}
	return string(out[:])
}
