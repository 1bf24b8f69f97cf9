package esl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// ErrNotConnected is returned (wrapped in ErrNotSent) for commands given to
// a Client while it has no connection.
var ErrNotConnected = errors.New("esl: not connected")

// State is a Client's connection state.
type State int

// The states a Client goes through.
const (
	Disconnected State = iota
	Connecting
	Connected
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	default:
		return "disconnected"
	}
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Config
	// Name identifies the switch in logs and metrics (default: Address).
	Name    string
	Address string
	// Format is the event format: plain (default), json or xml.
	Format string
	// Events to subscribe to after every connect (default ALL).
	// BACKGROUND_JOB is always added, or job results would never arrive.
	Events []string
	// Filters are re-added after every connect. When there are any, a filter
	// on Event-Name BACKGROUND_JOB is added too, for the same reason.
	Filters []Header
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// (defaults 100 ms and 10 s). Each failure doubles it; each wait is
	// drawn between half and all of it, so many clients do not reconnect
	// in step.
	MinBackoff, MaxBackoff time.Duration
	// OnState is called on every state change, from Run's goroutine, after
	// every event of a lost connection has been handed to OnEvent. WaitState
	// returns only after OnState has, so OnState must not call WaitState.
	OnState func(node string, s State, err error)
	// RemindEvery bounds how often the same failure to connect is logged
	// again (default 1 min). The first failure and every change of error
	// are logged at once; a switch that stays down would otherwise fill
	// the log with a line per attempt.
	RemindEvery time.Duration
}

// Client keeps a connection to one switch: it reconnects with backoff,
// re-subscribes, and reports its state. Run drives it. A connection whose
// switch stopped answering (Config.IdleProbe, ProbeTimeout: 15 s of
// silence by default) counts as lost, with an error wrapping
// ErrUnresponsive: a Pool places no call on the node until it reconnects.
type Client struct {
	cfg ClientConfig

	mu      sync.Mutex
	conn    *Conn
	state   State
	err     error
	changed chan struct{} // closed after each state change's OnState
	// notifying: OnState has not yet returned for the current state.
	notifying bool
}

// NewClient returns a Client; nothing happens until Run.
func NewClient(cfg ClientConfig) *Client {
	cfg.Config = cfg.Config.withDefaults()
	if cfg.Name == "" {
		cfg.Name = cfg.Address
	}
	if cfg.Format == "" {
		cfg.Format = "plain"
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.RemindEvery <= 0 {
		cfg.RemindEvery = time.Minute
	}
	return &Client{cfg: cfg, changed: make(chan struct{})}
}

// Name returns the switch's name.
func (c *Client) Name() string { return c.cfg.Name }

// State returns the current state and the error that caused the last
// disconnection.
func (c *Client) State() (State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.err
}

// WaitState waits until the client is in state want.
func (c *Client) WaitState(ctx context.Context, want State) error {
	for {
		c.mu.Lock()
		st, ch, notifying := c.state, c.changed, c.notifying
		c.mu.Unlock()
		if st == want && !notifying {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to be %s: %w", c.cfg.Name, want, ctx.Err())
		}
	}
}

// setState makes the new state visible to State at once (OnState's
// engine checks it), but WaitState's callers see it only after OnState has
// returned: whoever waited for a state then finds OnState's work on it done.
func (c *Client) setState(s State, conn *Conn, err error) {
	c.mu.Lock()
	c.state, c.conn, c.err = s, conn, err
	c.notifying = true
	c.mu.Unlock()
	if c.cfg.OnState != nil {
		c.cfg.OnState(c.cfg.Name, s, err)
	}
	c.mu.Lock()
	c.notifying = false
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Run connects and stays connected until ctx ends; it returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	down := outage{since: time.Now()}
	failures := 0
	for {
		c.setState(Connecting, nil, nil)
		conn, err := Dial(ctx, c.cfg.Address, c.cfg.Config)
		if err == nil {
			if err = c.setup(ctx, conn); err != nil {
				conn.Close()
				<-conn.Done()
			}
		}
		up := err == nil
		if up {
			c.logConnected(&down)
			failures = 0
			c.setState(Connected, conn, nil)
			select {
			case <-conn.Done():
			case <-ctx.Done():
				conn.Close()
				<-conn.Done()
			}
			err = conn.Err()
		}
		if ctx.Err() != nil {
			c.setState(Disconnected, nil, ctx.Err())
			return ctx.Err()
		}
		c.setState(Disconnected, nil, err)
		wait := c.backoff(failures)
		failures++
		if up {
			down = outage{since: time.Now(), lost: true, lastErr: err.Error(), lastLog: time.Now()}
			c.cfg.Logger.Warn("esl: connection lost", "node", c.cfg.Name, "address", c.cfg.Address, "error", err,
				"retry_in", wait.Round(time.Millisecond))
		} else {
			c.logFailure(&down, err, wait)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// outage is what the log says about the time a switch is unreachable:
// since when, how many attempts failed, and what was last said about it.
type outage struct {
	since    time.Time
	lost     bool // a connection was up before: the outage began with its loss
	attempts int  // failed connection attempts
	lastErr  string
	lastLog  time.Time
}

// logFailure logs a failed attempt when it tells something new: the first
// failure, an error other than the last one logged (the switch answers now
// but refuses the password, say), or a reminder once RemindEvery passed.
func (c *Client) logFailure(down *outage, err error, retry time.Duration) {
	down.attempts++
	now := time.Now()
	msg := "esl: cannot connect"
	switch {
	case down.lastLog.IsZero() || err.Error() != down.lastErr:
	case now.Sub(down.lastLog) >= c.cfg.RemindEvery:
		msg = "esl: still cannot connect"
	default:
		return
	}
	down.lastErr, down.lastLog = err.Error(), now
	c.cfg.Logger.Warn(msg, "node", c.cfg.Name, "address", c.cfg.Address, "error", err, "attempts", down.attempts,
		"down_for", now.Sub(down.since).Round(time.Millisecond), "retry_in", retry.Round(time.Millisecond))
}

// logConnected says the switch is connected and, after an outage, for how
// long it was not.
func (c *Client) logConnected(down *outage) {
	if down.attempts == 0 && !down.lost {
		c.cfg.Logger.Info("esl: connected", "node", c.cfg.Name, "address", c.cfg.Address)
		return
	}
	c.cfg.Logger.Info("esl: connected", "node", c.cfg.Name, "address", c.cfg.Address,
		"down_for", time.Since(down.since).Round(time.Millisecond), "failed_attempts", down.attempts)
}

// backoff returns the wait after n consecutive failures: MinBackoff·2^n
// capped at MaxBackoff, with "equal jitter".
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MaxBackoff
	if n < 30 {
		d = min(c.cfg.MinBackoff<<n, c.cfg.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// setup subscribes and adds the filters on a new connection.
func (c *Client) setup(ctx context.Context, conn *Conn) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	events := c.cfg.Events
	if len(events) == 0 {
		events = []string{"ALL"}
	}
	if !hasEvent(events, "BACKGROUND_JOB") && !hasEvent(events, "ALL") {
		events = append(events[:len(events):len(events)], "BACKGROUND_JOB")
	}
	if err := conn.Subscribe(ctx, c.cfg.Format, events...); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for _, f := range c.cfg.Filters {
		if err := conn.Filter(ctx, f.Name, f.Value); err != nil {
			return fmt.Errorf("filter %s %s: %w", f.Name, f.Value, err)
		}
	}
	if len(c.cfg.Filters) > 0 {
		if err := conn.Filter(ctx, "Event-Name", "BACKGROUND_JOB"); err != nil {
			return fmt.Errorf("filter Event-Name BACKGROUND_JOB: %w", err)
		}
	}
	return nil
}

func hasEvent(events []string, name string) bool {
	for _, e := range events {
		if strings.EqualFold(e, name) {
			return true
		}
	}
	return false
}

// current returns the live connection or an error wrapping ErrNotSent.
func (c *Client) current() (*Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotSent, c.cfg.Name, ErrNotConnected)
	}
	return c.conn, nil
}

// API runs an api command on the current connection.
func (c *Client) API(ctx context.Context, command string) (string, error) {
	conn, err := c.current()
	if err != nil {
		return "", err
	}
	return conn.API(ctx, command)
}

// BgAPIJob starts a background command with the given job id on the
// current connection.
func (c *Client) BgAPIJob(ctx context.Context, jobID, command string) (*Job, error) {
	conn, err := c.current()
	if err != nil {
		return nil, err
	}
	return conn.BgAPIJob(ctx, jobID, command)
}

// BgAPI starts a background command under a new job id.
func (c *Client) BgAPI(ctx context.Context, command string) (*Job, error) {
	return c.BgAPIJob(ctx, NewUUID(), command)
}

// Send sends any command on the current connection.
func (c *Client) Send(ctx context.Context, line string, headers []Header, body string) (*Message, error) {
	conn, err := c.current()
	if err != nil {
		return nil, err
	}
	return conn.Send(ctx, line, headers, body)
}
