package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/esl"
)

// The ledger is the switch's own record of what it received and did: every
// command read on any connection, every channel it made and what became of
// it, every log line. Safety tests prove their claims against it rather
// than against what the dialer believes happened. Entries carry one
// sequence across kinds, so "created before that one hung up" is decided
// by the switch's order, not by timestamps that may be equal on a fake
// clock.

// Ledger is a copy of the record.
type Ledger struct {
	Commands []ReceivedCommand `json:"commands"`
	Calls    []CallRecord      `json:"calls"`
	Logs     []LogLine         `json:"logs"`
}

// ReceivedCommand is one command as the event socket read it.
type ReceivedCommand struct {
	Seq     uint64       `json:"seq"`
	Conn    uint64       `json:"conn"` // connections are numbered from 1 in accept order
	At      time.Time    `json:"at"`   // the simulated clock
	Line    string       `json:"line"` // as read, without its line end
	Headers []esl.Header `json:"headers,omitempty"`
	Body    string       `json:"body,omitempty"`
}

// CallRecord is one channel the switch made.
type CallRecord struct {
	UUID        string `json:"uuid"`
	Endpoint    string `json:"endpoint"`         // the leg of the dial string: sofia/gateway/gw/380...; "inbound" for a call that came in
	Caller      string `json:"caller,omitempty"` // who called, on a call that came in
	Destination string `json:"destination"`
	Gateway     string `json:"gateway,omitempty"`
	// Variables are the originate's variables ({}, <>, []) as the channel
	// got them: a refused ${ value is absent.
	Variables map[string]string `json:"variables,omitempty"`
	// Stillborn channels were made and destroyed at once (an unknown
	// gateway): never on the network, never live.
	Stillborn    bool        `json:"stillborn,omitempty"`
	Created      time.Time   `json:"created"`
	CreatedSeq   uint64      `json:"created_seq"`
	Answered     time.Time   `json:"answered,omitzero"`
	HungUp       time.Time   `json:"hung_up,omitzero"`
	HungUpSeq    uint64      `json:"hung_up_seq,omitempty"` // 0 while the channel lives
	HangupCause  string      `json:"hangup_cause,omitempty"`
	Billsec      int64       `json:"billsec"`
	Billmsec     int64       `json:"billmsec"`
	Applications []AppRecord `json:"applications,omitempty"`
	BridgedTo    string      `json:"bridged_to,omitempty"` // the other leg's uuid, of its last bridge
	Bridged      time.Time   `json:"bridged,omitzero"`
	// Bridges are every bridge of the channel, in order: a leg that parks
	// after a bridge (park_after_bridge) may be bridged again.
	Bridges []BridgeSpan `json:"bridges,omitempty"`
	// AMDResult is the amd application's verdict (amd_result), once it
	// gave one.
	AMDResult string         `json:"amd_result,omitempty"`
	Hooks     []HookRecord   `json:"hooks,omitempty"`
	appIndex  map[string]int // application uuid -> index in Applications
}

// BridgeSpan is one bridge of a channel: from CHANNEL_BRIDGE to the
// CHANNEL_UNBRIDGE or the hangup of either leg, whichever came first.
type BridgeSpan struct {
	Other    string    `json:"other"`
	From     time.Time `json:"from"`
	FromSeq  uint64    `json:"from_seq"`
	Until    time.Time `json:"until,omitzero"`
	UntilSeq uint64    `json:"until_seq,omitempty"` // 0 while it lasts
}

// AppRecord is an application the channel ran, its argument as expanded.
type AppRecord struct {
	Name      string    `json:"name"`
	Arg       string    `json:"arg,omitempty"`
	Response  string    `json:"response,omitempty"` // Application-Response, "" until it completed
	Started   time.Time `json:"started"`
	Completed time.Time `json:"completed,omitzero"`
}

// HookRecord is an api hook the channel ran (api_hangup_hook,
// api_reporting_hook): the command as expanded and its answer.
type HookRecord struct {
	Variable string    `json:"variable"`
	Command  string    `json:"command"`
	Output   string    `json:"output"`
	At       time.Time `json:"at"`
}

// LogLine is a line the switch logged.
type LogLine struct {
	Seq   uint64    `json:"seq"`
	At    time.Time `json:"at"`
	Level int       `json:"level"` // 0 console .. 7 debug
	Text  string    `json:"text"`
}

// ledgerEntry is one line of the ledger file: what happened, in order.
// Folding the entries in order gives the Ledger (apply).
type ledgerEntry struct {
	Kind string    `json:"kind"` // command, create, stillborn, answer, execute, complete, bridge, unbridge, hangup, cdr, hook, log
	Seq  uint64    `json:"seq"`
	At   time.Time `json:"at"`

	Conn    uint64       `json:"conn,omitempty"`
	Line    string       `json:"line,omitempty"`
	Headers []esl.Header `json:"headers,omitempty"`
	Body    string       `json:"body,omitempty"`

	UUID        string            `json:"uuid,omitempty"`
	Endpoint    string            `json:"endpoint,omitempty"`
	Caller      string            `json:"caller,omitempty"`
	Destination string            `json:"destination,omitempty"`
	Gateway     string            `json:"gateway,omitempty"`
	Variables   map[string]string `json:"variables,omitempty"`
	App         string            `json:"app,omitempty"`
	AppUUID     string            `json:"app_uuid,omitempty"`
	Arg         string            `json:"arg,omitempty"`
	Response    string            `json:"response,omitempty"`
	AMD         string            `json:"amd,omitempty"` // complete of amd: its amd_result
	Other       string            `json:"other,omitempty"`
	Cause       string            `json:"cause,omitempty"`
	Billsec     int64             `json:"billsec,omitempty"`
	Billmsec    int64             `json:"billmsec,omitempty"`
	Variable    string            `json:"variable,omitempty"`
	Command     string            `json:"command,omitempty"`
	Output      string            `json:"output,omitempty"`
	Level       int               `json:"level,omitempty"`
	Text        string            `json:"text,omitempty"`
}

// ledger keeps the record; its own lock, taken inside s.mu when s.mu is
// held, so the event socket's readers can record without the switch's.
type ledger struct {
	mu      sync.Mutex
	seq     uint64
	conns   uint64
	keep    bool
	l       Ledger
	byUUID  map[string]int // live or last channel of a uuid -> index in l.Calls
	w       io.Writer
	werr    error
	scratch []byte
}

func newLedger(keep bool, w io.Writer) *ledger {
	return &ledger{keep: keep, w: w, byUUID: map[string]int{}}
}

// note records an entry: it is numbered, written to the file (one Write
// per line, so a reader never sees half of one) and folded into memory.
func (lg *ledger) note(e ledgerEntry) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	lg.seq++
	e.Seq = lg.seq
	if lg.w != nil && lg.werr == nil {
		b, err := json.Marshal(e)
		if err == nil {
			lg.scratch = append(append(lg.scratch[:0], b...), '\n')
			_, err = lg.w.Write(lg.scratch)
		}
		if f, ok := lg.w.(interface{ Flush() error }); ok && err == nil {
			err = f.Flush()
		}
		lg.werr = err // a failed write stops the file, never the switch
	}
	if lg.keep {
		lg.l.apply(e, lg.byUUID)
	}
}

func (lg *ledger) nextConn() uint64 {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	lg.conns++
	return lg.conns
}

// apply folds one entry into the ledger; byUUID finds a uuid's current
// channel (a uuid may be used again once its channel is gone).
func (l *Ledger) apply(e ledgerEntry, byUUID map[string]int) {
	call := func() *CallRecord {
		if i, ok := byUUID[e.UUID]; ok {
			return &l.Calls[i]
		}
		return nil
	}
	switch e.Kind {
	case "command":
		l.Commands = append(l.Commands, ReceivedCommand{Seq: e.Seq, Conn: e.Conn, At: e.At, Line: e.Line, Headers: e.Headers, Body: e.Body})
	case "log":
		l.Logs = append(l.Logs, LogLine{Seq: e.Seq, At: e.At, Level: e.Level, Text: e.Text})
	case "create", "stillborn":
		r := CallRecord{UUID: e.UUID, Endpoint: e.Endpoint, Caller: e.Caller, Destination: e.Destination, Gateway: e.Gateway,
			Variables: e.Variables, Created: e.At, CreatedSeq: e.Seq}
		if e.Kind == "stillborn" {
			r.Stillborn, r.HungUp, r.HungUpSeq, r.HangupCause = true, e.At, e.Seq, e.Cause
		}
		l.Calls = append(l.Calls, r)
		byUUID[e.UUID] = len(l.Calls) - 1
	case "answer":
		if c := call(); c != nil {
			c.Answered = e.At
		}
	case "execute":
		if c := call(); c != nil {
			c.Applications = append(c.Applications, AppRecord{Name: e.App, Arg: e.Arg, Started: e.At})
			if e.AppUUID != "" {
				if c.appIndex == nil {
					c.appIndex = map[string]int{}
				}
				c.appIndex[e.AppUUID] = len(c.Applications) - 1
			}
		}
	case "complete":
		if c := call(); c != nil {
			if i, ok := c.appIndex[e.AppUUID]; ok && e.AppUUID != "" {
				c.Applications[i].Response, c.Applications[i].Completed = e.Response, e.At
			}
			if e.AMD != "" {
				c.AMDResult = e.AMD
			}
		}
	case "bridge":
		if c := call(); c != nil {
			c.BridgedTo, c.Bridged = e.Other, e.At
			c.Bridges = append(c.Bridges, BridgeSpan{Other: e.Other, From: e.At, FromSeq: e.Seq})
		}
	case "unbridge":
		if c := call(); c != nil {
			c.endBridge(e, "")
		}
	case "hangup":
		if c := call(); c != nil && c.HungUpSeq == 0 {
			c.HungUp, c.HungUpSeq, c.HangupCause = e.At, e.Seq, e.Cause
			c.endBridge(e, "")
			if i, ok := byUUID[c.BridgedTo]; ok && c.BridgedTo != "" {
				l.Calls[i].endBridge(e, c.UUID)
			}
		}
	case "cdr":
		if c := call(); c != nil {
			c.Billsec, c.Billmsec = e.Billsec, e.Billmsec
		}
	case "hook":
		if c := call(); c != nil {
			c.Hooks = append(c.Hooks, HookRecord{Variable: e.Variable, Command: e.Command, Output: e.Output, At: e.At})
		}
	}
}

// ReadLedger folds a ledger file (fsim -ledger) into a Ledger. A last line
// cut short by a writer that died is ignored; any other bad line is an
// error.
func ReadLedger(r io.Reader) (Ledger, error) {
	var l Ledger
	byUUID := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var pending []byte
	line := 0
	for sc.Scan() {
		line++
		if pending != nil {
			return l, fmt.Errorf("ledger line %d: %w", line-1, errBadLedgerLine)
		}
		var e ledgerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			pending = append([]byte(nil), sc.Bytes()...)
			continue
		}
		l.apply(e, byUUID)
	}
	return l, sc.Err()
}

var errBadLedgerLine = fmt.Errorf("not a ledger entry")

// copy returns a deep copy.
func (l *Ledger) copy() Ledger {
	out := Ledger{
		Commands: make([]ReceivedCommand, len(l.Commands)),
		Calls:    make([]CallRecord, len(l.Calls)),
		Logs:     append([]LogLine(nil), l.Logs...),
	}
	for i, c := range l.Commands {
		c.Headers = append([]esl.Header(nil), c.Headers...)
		out.Commands[i] = c
	}
	for i, c := range l.Calls {
		if c.Variables != nil {
			vars := make(map[string]string, len(c.Variables))
			for k, v := range c.Variables {
				vars[k] = v
			}
			c.Variables = vars
		}
		c.Applications = append([]AppRecord(nil), c.Applications...)
		c.Hooks = append([]HookRecord(nil), c.Hooks...)
		c.appIndex = nil
		out.Calls[i] = c
	}
	return out
}

// Ledger returns a copy of the switch's record (empty when
// Options.DiscardLedger).
func (s *Switch) Ledger() Ledger {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.l.copy()
}

// Commands returns the commands received so far, in order.
func (s *Switch) Commands() []ReceivedCommand { return s.Ledger().Commands }

// Calls returns the channels made so far, in order of creation.
func (s *Switch) Calls() []CallRecord { return s.Ledger().Calls }

// Overlap is two channels to one destination alive at the same time.
type Overlap struct {
	Destination   string
	First, Second string    // uuids, First created first
	From          time.Time // when Second was created
}

func (o Overlap) String() string {
	return fmt.Sprintf("%s: %s and %s both live from %s", o.Destination, o.First, o.Second, o.From.Format(time.RFC3339Nano))
}

// Overlaps checks that no destination ever had two live channels at once:
// a channel lives from its creation to its hangup (CHANNEL_HANGUP), by the
// switch's order of events; stillborn channels never live. It returns
// every pair that broke it, nil when none did.
func (l Ledger) Overlaps() []Overlap {
	byDest := map[string][]CallRecord{}
	var dests []string
	for _, c := range l.Calls {
		if c.Stillborn {
			continue
		}
		if _, ok := byDest[c.Destination]; !ok {
			dests = append(dests, c.Destination)
		}
		byDest[c.Destination] = append(byDest[c.Destination], c)
	}
	var out []Overlap
	for _, d := range dests {
		calls := byDest[d]
		sort.SliceStable(calls, func(i, j int) bool { return calls[i].CreatedSeq < calls[j].CreatedSeq })
		for i, a := range calls {
			for _, b := range calls[i+1:] {
				if a.HungUpSeq == 0 || b.CreatedSeq < a.HungUpSeq {
					out = append(out, Overlap{Destination: d, First: a.UUID, Second: b.UUID, From: b.Created})
				}
			}
		}
	}
	return out
}

// endBridge closes the channel's bridge under way, if any (with other,
// only a bridge to that leg).
func (c *CallRecord) endBridge(e ledgerEntry, other string) {
	if n := len(c.Bridges); n > 0 && c.Bridges[n-1].UntilSeq == 0 && (other == "" || c.Bridges[n-1].Other == other) {
		c.Bridges[n-1].Until, c.Bridges[n-1].UntilSeq = e.At, e.Seq
	}
}

// BridgeOverlap is a channel bridged to a second leg before its bridge to
// the first had ended: an agent with two members on the line.
type BridgeOverlap struct {
	UUID          string
	First, Second string // the other legs
	From          time.Time
}

func (o BridgeOverlap) String() string {
	return fmt.Sprintf("%s: bridged to %s while still bridged to %s, from %s", o.UUID, o.Second, o.First, o.From.Format(time.RFC3339Nano))
}

// BridgeOverlaps checks that no channel was ever bridged to two legs at
// once, by the switch's order of events. It returns every case, nil when
// none.
func (l Ledger) BridgeOverlaps() []BridgeOverlap {
	var out []BridgeOverlap
	for _, c := range l.Calls {
		for i := 1; i < len(c.Bridges); i++ {
			prev, next := c.Bridges[i-1], c.Bridges[i]
			if prev.UntilSeq == 0 || next.FromSeq < prev.UntilSeq {
				out = append(out, BridgeOverlap{UUID: c.UUID, First: prev.Other, Second: next.Other, From: next.From})
			}
		}
	}
	return out
}

// recordingListener numbers the connections it accepts and records every
// command read on them, before the event socket server acts on it.
type recordingListener struct {
	net.Listener
	s *Switch
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, s: l.s, id: l.s.rec.nextConn()}, nil
}

// recordingConn frames the bytes the server reads into commands with the
// rules of esl.Reader.ReadCommand, then parses each whole command with it,
// so the record holds exactly what the server will act on.
type recordingConn struct {
	net.Conn
	s      *Switch
	id     uint64
	mu     sync.Mutex
	buf    []byte
	broken bool // a command the server cannot read: it drops the connection
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.feed(p[:n])
	}
	return n, err
}

func (c *recordingConn) feed(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return
	}
	c.buf = append(c.buf, b...)
	for {
		cmd, n, ok := c.frame()
		if n == 0 {
			break
		}
		c.buf = c.buf[n:]
		if !ok {
			c.broken = true
			break
		}
		c.s.rec.note(ledgerEntry{Kind: "command", At: c.s.clock.Now(), Conn: c.id, Line: cmd.Line, Headers: cmd.Headers, Body: cmd.Body})
	}
	if len(c.buf) == 0 {
		c.buf = nil // let a large command's memory go
	}
}

// frame parses the first whole command in buf with the rules of
// esl.Reader.ReadCommand: leading blank lines skipped, a line, "Name:
// value" headers to a blank line ('\r' before '\n' dropped), then
// Content-Length bytes of body. n is 0 while the command is incomplete;
// ok false means the server's reader refuses it (a bad Content-Length) and
// drops the connection.
func (c *recordingConn) frame() (cmd *esl.Command, n int, ok bool) {
	pos := 0
	for {
		i := bytes.IndexByte(c.buf[pos:], '\n')
		if i < 0 {
			return nil, 0, false
		}
		line := bytes.TrimSuffix(c.buf[pos:pos+i], []byte("\r"))
		pos += i + 1
		if len(line) == 0 {
			if cmd == nil {
				continue
			}
			break
		}
		if cmd == nil {
			cmd = &esl.Command{Line: string(line)}
			continue
		}
		if j := bytes.IndexByte(line, ':'); j > 0 {
			name := bytes.TrimSpace(line[:j])
			value := bytes.TrimLeft(line[j+1:], " ")
			if len(name) > 0 {
				cmd.Headers = append(cmd.Headers, esl.Header{Name: string(name), Value: string(value)})
			}
		}
	}
	if cl := cmd.Get("Content-Length"); cl != "" {
		v := strings.TrimSpace(cl)
		length, err := strconv.Atoi(v)
		if err != nil || strings.TrimLeft(v, "0123456789") != "" || len(v) > 10 || length > esl.DefaultMaxBody {
			return nil, pos, false
		}
		if len(c.buf) < pos+length {
			return nil, 0, false
		}
		cmd.Body = string(c.buf[pos : pos+length])
		pos += length
	}
	return cmd, pos, true
}

// noteEvent records what a channel event says the switch did; s.mu is held.
func (s *Switch) noteEvent(name string, ch *channel, extra []kv) {
	get := func(h string) string {
		for _, x := range extra {
			if x.k == h {
				return x.v
			}
		}
		return ""
	}
	e := ledgerEntry{At: s.clock.Now(), UUID: ch.uuid}
	switch name {
	case "CHANNEL_CREATE":
		e.Kind, e.Endpoint, e.Destination, e.Gateway = "create", ch.endpoint, ch.dest, ch.gateway
		if ch.inbound {
			e.Caller = ch.cidNum
		}
		for _, n := range ch.originateVars {
			if v, ok := ch.v.get(n); ok {
				if e.Variables == nil {
					e.Variables = map[string]string{}
				}
				e.Variables[n] = v
			}
		}
	case "CHANNEL_ANSWER":
		e.Kind = "answer"
	case "CHANNEL_EXECUTE":
		e.Kind, e.App, e.Arg, e.AppUUID = "execute", get("Application"), get("Application-Data"), get("Application-UUID")
	case "CHANNEL_EXECUTE_COMPLETE":
		e.Kind, e.App, e.AppUUID, e.Response = "complete", get("Application"), get("Application-UUID"), get("Application-Response")
		if e.App == "amd" {
			e.AMD, _ = ch.v.get("amd_result")
		}
	case "CHANNEL_BRIDGE":
		if ch.bridge == nil {
			return
		}
		s.rec.note(ledgerEntry{Kind: "bridge", At: e.At, UUID: ch.uuid, Other: ch.bridge.uuid})
		e.Kind, e.UUID, e.Other = "bridge", ch.bridge.uuid, ch.uuid
	case "CHANNEL_UNBRIDGE":
		if ch.bridge == nil {
			return
		}
		s.rec.note(ledgerEntry{Kind: "unbridge", At: e.At, UUID: ch.uuid, Other: ch.bridge.uuid})
		e.Kind, e.UUID, e.Other = "unbridge", ch.bridge.uuid, ch.uuid
	case "CHANNEL_HANGUP":
		e.Kind, e.Cause = "hangup", ch.cause
	case "CHANNEL_HANGUP_COMPLETE":
		e.Kind = "cdr"
		bs, _ := ch.v.get("billsec")
		bms, _ := ch.v.get("billmsec")
		e.Billsec, _ = strconv.ParseInt(bs, 10, 64)
		e.Billmsec, _ = strconv.ParseInt(bms, 10, 64)
	default:
		return
	}
	s.rec.note(e)
}
