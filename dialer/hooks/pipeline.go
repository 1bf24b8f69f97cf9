package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/store"
)

// The delivery of one event to one hook is a pipeline of stages, as
// Alertmanager's notifier: each stage passes the delivery on, finishes it
// (sent, skipped or dropped: the lane marks it done) or leaves it
// unfinished (the lane is stopping: it is sent again later).
type stage func(ctx context.Context, dl *delivery) verdict

type verdict int

const (
	next verdict = iota
	finished
	unfinished
)

// delivery is one event on its way to one hook.
type delivery struct {
	l       *lane
	hook    *store.Hook // as it was when the delivery began
	it      *item
	headers http.Header
}

var errNotEvent = errors.New("no id or no event name")

// deliver runs an item through the stages; it reports whether the item is
// finished.
func (l *lane) deliver(ctx context.Context, it *item) bool {
	if ctx.Err() != nil {
		return false
	}
	dl := &delivery{l: l, hook: l.hook.Load(), it: it}
	for _, s := range l.d.stages {
		switch s(ctx, dl) {
		case finished:
			if it.bad == nil {
				l.markFinished(it.ev.ID)
			}
			return true
		case unfinished:
			return false
		}
	}
	return true
}

// filterStage finishes, unsent, what the hook does not take: other events,
// other campaigns, events from before it was enabled, and entries that are
// not events (dropped, as they never will be).
func filterStage(_ context.Context, dl *delivery) verdict {
	l, it := dl.l, dl.it
	if it.bad != nil {
		l.d.m.dropped.WithLabelValues(l.hookID, DropInvalid).Inc()
		l.d.log.Error("webhooks: an outbox entry is not an event: dropped", "hook", l.hookID, "campaign", l.campaign,
			"entry", it.entry.ID, "err", it.bad)
		return finished
	}
	if !dl.hook.Wants(l.campaign, it.ev.Event) || it.ev.Time < dl.hook.EnabledAt {
		return finished
	}
	return next
}

// dedupStage finishes, unsent, an event this lane finished lately: the
// same event appended twice (a store call resent after a lost reply).
func dedupStage(_ context.Context, dl *delivery) verdict {
	if dl.l.finishedID(dl.it.ev.ID) {
		return finished
	}
	return next
}

// signStage sets the headers every try carries, the signature among them.
func signStage(_ context.Context, dl *delivery) verdict {
	h := http.Header{}
	for name, v := range dl.hook.Action.Headers {
		h.Set(name, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "fsdialer-hooks")
	h.Set("X-Fsdialer-Event", dl.it.ev.Event)
	h.Set("X-Fsdialer-Event-Id", dl.it.ev.ID)
	if dl.hook.Secret != "" {
		h.Set("X-Fsdialer-Signature", Sign(dl.hook.Secret, dl.it.entry.Body))
	}
	dl.headers = h
	return next
}

// retryStage sends until a 2xx, the hook's retries run out or its
// deadline passes. Each try waits until the lane's lease outlasts it, so
// two dialers never send one event to one hook at the same time.
func retryStage(ctx context.Context, dl *delivery) verdict {
	l, hook, ev := dl.l, dl.hook, dl.it.ev
	d := l.d
	deadline := time.UnixMilli(ev.Time).Add(seconds(hook.Deadline))
	timeout := seconds(hook.Timeout)
	for try := 1; ; try++ {
		for {
			if ctx.Err() != nil {
				return unfinished
			}
			now := d.clock.Now()
			if !now.Before(deadline) {
				return dl.drop(DropDeadline, fmt.Errorf("not delivered in %gs", hook.Deadline))
			}
			if now.Add(timeout).UnixMilli() <= l.leaseUntil.Load() {
				break
			}
			_ = clock.Sleep(ctx, d.clock, d.cfg.Poll) // the lane renews meanwhile, or is stopped
		}
		status, retryAfter, err := dl.send(ctx, try, timeout)
		if err == nil && status >= 200 && status < 300 {
			d.m.sent.WithLabelValues(l.hookID).Inc()
			return finished
		}
		if err == nil {
			err = fmt.Errorf("answered %d %s", status, http.StatusText(status))
		}
		d.m.failed.WithLabelValues(l.hookID).Inc()
		d.log.Debug("webhooks: a try failed", "hook", l.hookID, "event", ev.ID, "try", try, "err", err)
		if hook.Retries != nil && try > *hook.Retries {
			return dl.drop(DropRetries, fmt.Errorf("%d tries failed, the last: %w", try, err))
		}
		wait := max(backoff(try, seconds(hook.Delay), d.cfg.MaxBackoff), retryAfter)
		// Waiting past the deadline would only hold the member's later
		// events: the next check drops the event at the deadline.
		wait = min(wait, deadline.Sub(d.clock.Now()))
		if err := clock.Sleep(ctx, d.clock, wait); err != nil {
			return unfinished
		}
	}
}

func (dl *delivery) drop(reason string, why error) verdict {
	l := dl.l
	l.d.m.dropped.WithLabelValues(l.hookID, reason).Inc()
	l.d.log.Warn("webhooks: event dropped", "hook", l.hookID, "campaign", l.campaign, "event", dl.it.ev.Event,
		"id", dl.it.ev.ID, "member", dl.it.ev.Member, "reason", reason, "err", why)
	return finished
}

// send makes one try. Its timeout runs on the dispatcher's clock; a lane
// that is stopping lets it run to its end rather than cut it, so that its
// successor never sends while it is open.
func (dl *delivery) send(ctx context.Context, try int, timeout time.Duration) (status int, retryAfter time.Duration, err error) {
	d := dl.l.d
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	t := d.clock.AfterFunc(timeout, cancel)
	defer t.Stop()
	req, err := http.NewRequestWithContext(rctx, dl.hook.Action.Method, dl.hook.Action.URL, bytes.NewReader(dl.it.entry.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("request to %s: %w", dl.hook.Action.URL, err)
	}
	req.Header = dl.headers.Clone()
	req.Header.Set("X-Fsdialer-Timestamp", strconv.FormatInt(d.clock.Now().Unix(), 10))
	req.Header.Set("X-Fsdialer-Attempt", strconv.Itoa(try))
	resp, err := d.client.Do(req)
	if err != nil {
		if rctx.Err() != nil {
			err = fmt.Errorf("no answer within %v: %w", timeout, err)
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retryAfter = min(time.Duration(s)*time.Second, d.cfg.MaxBackoff)
		}
	}
	return resp.StatusCode, retryAfter, nil
}

// backoff is the wait after the try-th failed try: delay doubled on each
// try, capped, with equal jitter (half fixed, half random) so that the
// receivers of many dialers are not hit in step when they come back.
func backoff(try int, delay, maxBackoff time.Duration) time.Duration {
	d := float64(delay) * math.Pow(2, float64(min(try-1, 40)))
	capped := time.Duration(min(d, float64(max(maxBackoff, delay))))
	half := capped / 2
	if half <= 0 {
		return capped
	}
	return half + rand.N(capped-half+1)
}
