package esl

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder is a slog handler that keeps every record, for tests that
// check what an operator would read.
type logRecorder struct {
	mu    sync.Mutex
	lines []logLine
}

type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (l logLine) String() string { return fmt.Sprintf("%s %s %v", l.level, l.msg, l.attrs) }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := logLine{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		line.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) snapshot() []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logLine(nil), r.lines...)
}

// stateLog records a client's state changes and lets a test wait for them.
type stateLog struct {
	mu      sync.Mutex
	changes []stateChange
	changed chan struct{}
}

type stateChange struct {
	state State
	err   string
}

func newStateLog() *stateLog { return &stateLog{changed: make(chan struct{}, 1)} }

func (s *stateLog) record(_ string, st State, err error) {
	c := stateChange{state: st}
	if err != nil {
		c.err = err.Error()
	}
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *stateLog) snapshot() []stateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stateChange(nil), s.changes...)
}

// waitFor waits until ok holds for the changes recorded so far.
func (s *stateLog) waitFor(t *testing.T, what string, ok func([]stateChange) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second) // a hung client, not a slow one
	for !ok(s.snapshot()) {
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("waiting for %s: states %v", what, s.snapshot())
		}
	}
}

// failedSince counts failed attempts (and losses) after the n-th change.
func failedSince(n int) func([]stateChange) int {
	return func(cs []stateChange) int {
		k := 0
		for _, c := range cs[min(n, len(cs)):] {
			if c.state == Disconnected {
				k++
			}
		}
		return k
	}
}

// nopHandler answers every api command with +OK: the test only connects.
type nopHandler struct{}

func (nopHandler) API(context.Context, string, string) (string, func()) { return "+OK", nil }

// TestClientLogsOutagesOnce: while the switch cannot be reached the client
// logs the first failure and each change of error, then reminds at most
// every RemindEvery, never "connection lost" unless a connection was up,
// and says how long the switch was down once it connects. The expected log
// is derived from the state changes the client reported, by the rule the
// operator is promised; the test asserts lines, never durations.
func TestClientLogsOutagesOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remind time.Duration
	}{
		{"reminders off", time.Hour},      // one line per distinct failure
		{"reminders on", time.Nanosecond}, // one line per failed attempt
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close() // refused until a server takes the port again

			logs, states := &logRecorder{}, newStateLog()
			cl := NewClient(ClientConfig{
				Config:     Config{Password: "ClueCon", Logger: slog.New(logs)},
				Name:       "fs1",
				Address:    addr,
				MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
				RemindEvery: tc.remind,
				OnState:     states.record,
			})
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { cl.Run(ctx); close(ran) }()
			defer func() { cancel(); <-ran }()

			var socket net.Listener
			serve := func(password string) *Server {
				t.Helper()
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("taking the port back: %v", err)
				}
				srv := &Server{Password: password, Handler: nopHandler{}}
				go srv.Serve(l)
				socket = l
				t.Cleanup(func() { srv.Close() })
				return srv
			}
			failures := func(n int) {
				t.Helper()
				from := len(states.snapshot())
				states.waitFor(t, fmt.Sprintf("%d failed attempts", n), func(cs []stateChange) bool { return failedSince(from)(cs) >= n })
			}
			connected := func() {
				t.Helper()
				from := len(states.snapshot())
				states.waitFor(t, "a connection", func(cs []stateChange) bool {
					for _, c := range cs[from:] {
						if c.state == Connected {
							return true
						}
					}
					return false
				})
			}

			failures(3) // nothing listens: refused
			wrong := serve("not-ClueCon")
			failures(2) // it answers but refuses the password
			wrong.Close()
			srv := serve("ClueCon")
			connected()
			socket.Close()        // the switch goes away and stays away,
			srv.DropConnections() // without a goodbye, as a crash
			failures(3)           // the loss, then refused reconnects
			serve("ClueCon")
			connected()

			want := expectedLog(states.snapshot(), tc.remind < time.Second)
			got := logs.snapshot()
			var gotMsgs []string
			for _, g := range got {
				gotMsgs = append(gotMsgs, g.msg)
			}
			if strings.Join(gotMsgs, "\n") != strings.Join(want, "\n") {
				t.Fatalf("logged:\n%s\nwant messages:\n%s\nstates %v", lines(got), strings.Join(want, "\n"), states.snapshot())
			}
			var losses, connects int
			for _, g := range got {
				if g.attrs["node"] != "fs1" || g.attrs["address"] != addr {
					t.Errorf("a line without the node and its address: %v", g)
				}
				switch g.msg {
				case "esl: connection lost":
					losses++
					if g.level != slog.LevelWarn || g.attrs["retry_in"] == "" {
						t.Errorf("loss line %v", g)
					}
				case "esl: cannot connect", "esl: still cannot connect":
					if g.level != slog.LevelWarn || g.attrs["attempts"] == "" || g.attrs["retry_in"] == "" || g.attrs["error"] == "" {
						t.Errorf("failure line %v: want WARN with attempts, retry_in, error", g)
					}
				case "esl: connected":
					connects++
					if g.level != slog.LevelInfo || g.attrs["down_for"] == "" || g.attrs["failed_attempts"] == "" {
						t.Errorf("connected line %v: want INFO with down_for and failed_attempts", g)
					}
				}
			}
			if losses != 1 || connects != 2 {
				t.Fatalf("%d losses and %d connects logged, want 1 and 2:\n%s", losses, connects, lines(got))
			}
			if first := got[0]; !strings.Contains(first.attrs["error"], "refused") || first.attrs["attempts"] != "1" {
				t.Errorf("first line %v: want the refused connection of attempt 1", first)
			}
		})
	}
}

// expectedLog is the rule of the client's log applied to its state
// changes: a loss is logged; a failed attempt when its error differs from
// the last one logged, or as a reminder when reminders are due at every
// attempt; a connection is logged.
func expectedLog(cs []stateChange, remindAlways bool) []string {
	var want []string
	lastErr, up := "", false
	for _, c := range cs {
		switch c.state {
		case Connected:
			want = append(want, "esl: connected")
			up = true
		case Disconnected:
			switch {
			case up:
				want = append(want, "esl: connection lost")
			case c.err != lastErr:
				want = append(want, "esl: cannot connect")
			case remindAlways:
				want = append(want, "esl: still cannot connect")
			}
			lastErr, up = c.err, false
		}
	}
	return want
}

func lines(ls []logLine) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.String() + "\n")
	}
	return b.String()
}
