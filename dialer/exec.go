package dialer

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/internal/fifo"
)

// Deadlines of the commands an executor sends: a switch that stops
// answering fails them, and never holds up a campaign.
const (
	originateDeadline = 5 * time.Second  // bgapi: the +OK Job-UUID reply, not the call
	queryDeadline     = 10 * time.Second // api: uuid_exists, db, uuid_record
)

// executor sends the commands of one FreeSWITCH node. Originates go out in
// one lane at the node's pace (FreeSWITCH refuses sessions past its
// sessions-per-second), everything else in queryLanes lanes chosen by the
// call a command is about (a call's commands keep their order, other
// calls' go meanwhile on the same socket), so a slow query never delays a
// call and a burst of calls never delays a bridge. Every command has a
// deadline. What comes back is handed to the command's done func on
// the executor's goroutine: campaign loops turn it into an input of their
// own inbox, behind the events the switch sent before it.
type executor struct {
	node  string
	sw    Switches
	clock clock.Clock
	pace  *pacer

	// originates are new calls; awaited, calls a person already on the
	// line waits for (an answered member's agent, an agent's member):
	// they go first, at the same pace.
	originates, awaited *fifo.Queue[command]
	queries             [queryLanes]*fifo.Queue[command]
}

// queryLanes is how many queries a node's executor has under way at once:
// a burst of answers (a thousand members picking up within a second)
// would otherwise queue its bridges behind one another.
const queryLanes = 8

// command is one command for a node.
type command struct {
	text  string // the api command and its arguments
	jobID string // send as bgapi under this id; "" sends an api
	// gate, when set, is held for reading around the final check and the
	// write, and send reports whether the command may still go: a campaign
	// stopped meanwhile takes the write lock to wait out a send under way.
	gate *sync.RWMutex
	send func() bool
	// call, when set, runs in place of text: a question of several
	// commands, each with the deadline.
	call func(ctx context.Context, sw Switch) (string, error)
	// background sends text as a bgapi job: the switch runs it in a thread
	// of its own and answers at once, where an api holds back every event
	// and reply of the event socket while it runs (and a switch runs one
	// connection's api commands one at a time). done gets the job's
	// result. For what must not wait behind other calls' commands: a
	// bridge.
	background bool
	done       func(out string, err error)
}

func newExecutor(ctx context.Context, node string, sw Switches, clk clock.Clock, cps float64) *executor {
	x := &executor{node: node, sw: sw, clock: clk, pace: newPacer(clk, cps), originates: fifo.New[command](), awaited: fifo.New[command]()}
	go x.originateLane(ctx)
	for i := range x.queries {
		x.queries[i] = fifo.New[command]()
		go x.lane(ctx, x.queries[i], nil)
	}
	return x
}

// originate queues a bgapi originate: awaited when a person on the line
// waits for the call it places.
func (x *executor) originate(c command, awaited bool) {
	if awaited {
		x.awaited.Push(c)
		return
	}
	x.originates.Push(c)
}

// originateLane sends the originates at the node's pace, an awaited one
// before any new call still queued: at 20 calls a second, a burst of
// live answers whose agents are rung would otherwise wait behind the
// calls placed before them, past the connect threshold.
func (x *executor) originateLane(ctx context.Context) {
	var awaited, fresh []command
	take := func() {
		awaited = append(awaited, x.awaited.TryTake(nil)...)
		fresh = append(fresh, x.originates.TryTake(nil)...)
	}
	stop := func(err error) {
		x.awaited.Close()
		x.originates.Close()
		take()
		for _, c := range append(awaited, fresh...) {
			c.finish("", err)
		}
	}
	for {
		take()
		if len(awaited) == 0 && len(fresh) == 0 {
			select {
			case <-ctx.Done():
				stop(ctx.Err())
				return
			case <-x.awaited.Ready():
			case <-x.originates.Ready():
			}
			continue
		}
		if err := x.pace.wait(ctx); err != nil {
			stop(err)
			return
		}
		awaited = append(awaited, x.awaited.TryTake(nil)...) // one that came during the wait goes next
		if len(awaited) > 0 {
			// Not behind the previous one's reply either: many answers
			// at once each have a person waiting.
			c := awaited[0]
			awaited = awaited[1:]
			go x.run(ctx, c)
			continue
		}
		var c command
		c, fresh = fresh[0], fresh[1:]
		x.run(ctx, c)
	}
}

// query queues an api command about a call (key: its attempt id).
func (x *executor) query(key string, c command) {
	h := fnv.New32a()
	h.Write([]byte(key))
	x.queries[h.Sum32()%queryLanes].Push(c)
}

// throttled tells the executor the switch refused a call for its rate.
func (x *executor) throttled() { x.pace.back() }

func (x *executor) lane(ctx context.Context, q *fifo.Queue[command], pace *pacer) {
	go func() {
		<-ctx.Done()
		q.Close()
	}()
	var buf []command
	for {
		cmds, ok := q.Take(buf)
		if !ok {
			return
		}
		for i := range cmds {
			if pace != nil && pace.wait(ctx) != nil {
				cmds[i].finish("", ctx.Err())
				continue
			}
			x.run(ctx, cmds[i])
			cmds[i] = command{}
		}
		buf = cmds
	}
}

// errCancelled is the result of a command whose sender withdrew it before
// it was written.
var errCancelled = errors.New("withdrawn before it was sent")

func (x *executor) run(parent context.Context, c command) {
	ctx := parent
	if c.gate != nil {
		c.gate.RLock()
		defer c.gate.RUnlock()
	}
	if c.send != nil && !c.send() {
		c.finish("", errCancelled)
		return
	}
	sw := x.sw.Node(x.node)
	if sw == nil {
		c.finish("", esl.ErrNotConnected)
		return
	}
	deadline := queryDeadline
	if c.jobID != "" {
		deadline = originateDeadline
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	switch {
	case c.call != nil:
		c.finish(c.call(ctx, sw))
		return
	case c.jobID != "":
		_, err := sw.BgAPIJob(ctx, c.jobID, c.text)
		c.finish("", err)
		return
	case c.background:
		job, err := sw.BgAPIJob(ctx, esl.NewUUID(), c.text)
		if err != nil {
			c.finish("", err)
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(parent, queryDeadline)
			defer cancel()
			c.finish(job.Wait(ctx))
		}()
		return
	}
	out, err := sw.API(ctx, c.text)
	c.finish(out, err)
}

func (c command) finish(out string, err error) {
	if c.done != nil {
		c.done(out, err)
	}
}

// notSent reports whether a command's error proves the switch never saw it.
func notSent(err error) bool { return errors.Is(err, esl.ErrNotSent) || errors.Is(err, errCancelled) }

// legGone reports whether a command failed because its channel is gone
// (FreeSWITCH's answers to a uuid it no longer has): a race with a hangup
// whose events tell the rest, not a fault.
func legGone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "No such channel") || strings.Contains(msg, "Invalid uuid") || strings.Contains(msg, "Cannot locate session")
}

// pacer spaces a node's originates at its calls per second. A refusal for
// the rate halves the pace; each quiet second gives one call per second
// back, up to the configured pace (additive increase, multiplicative
// decrease, as TCP does: the switch's own limit, and what else uses it,
// is not known here).
type pacer struct {
	clock  clock.Clock
	mu     sync.Mutex
	max    float64 // configured calls per second; 0: no pacing
	cps    float64
	next   time.Time // when the next call may go
	cutAt  time.Time // when the pace was last cut
	grewAt time.Time // recovery is counted up to here
}

func newPacer(clk clock.Clock, cps float64) *pacer { return &pacer{clock: clk, max: cps, cps: cps} }

// wait waits until the next originate may go.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.max <= 0 {
		p.mu.Unlock()
		return nil
	}
	now := p.clock.Now()
	if p.cps < p.max {
		p.cps = min(p.max, p.cps+now.Sub(p.grewAt).Seconds())
	}
	p.grewAt = now
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.cps))
	p.mu.Unlock()
	return clock.Sleep(ctx, p.clock, at.Sub(now))
}

// back halves the pace, at most once a second.
func (p *pacer) back() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if p.max <= 0 || now.Sub(p.cutAt) < time.Second {
		return
	}
	p.cps, p.cutAt, p.grewAt = max(p.cps/2, 1), now, now
}

// rate is the pace now.
func (p *pacer) rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cps
}
