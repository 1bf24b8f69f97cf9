package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// OpenAttempt journals an attempt before its originate is sent.
func (s *Store) OpenAttempt(ctx context.Context, a *Attempt) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("open attempt: %w", err)
	}
	journal := keysOf(a.Campaign).journal
	var set *redis.IntCmd
	err = s.durable(ctx, journal, func(p redis.Pipeliner) { set = p.HSet(ctx, journal, a.ID, b) })
	if err == nil {
		err = set.Err()
	}
	return wrapRedis("open attempt "+a.ID, err)
}

// UpdateAttempt rewrites an attempt's journal entry (its agent, found
// after the answer) if it is still open; false when it is not, so a call
// already classified is never journaled again.
func (s *Store) UpdateAttempt(ctx context.Context, a *Attempt) (bool, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("update attempt: %w", err)
	}
	n, err := s.evalDurable(ctx, updateAttemptScript, []string{keysOf(a.Campaign).journal}, a.ID, b).Int()
	if err != nil {
		return false, wrapRedis("update attempt "+a.ID, err)
	}
	return n == 1, nil
}

// UpdateAttempts is UpdateAttempt for several attempts of one campaign in
// one round trip; open[i] says whether attempts[i] was still open.
func (s *Store) UpdateAttempts(ctx context.Context, campaign string, attempts []*Attempt) (open []bool, err error) {
	if len(attempts) == 0 {
		return nil, nil
	}
	argv := make([][]any, len(attempts))
	for i, a := range attempts {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("update attempt: %w", err)
		}
		argv[i] = []any{a.ID, b}
	}
	journal := []string{keysOf(campaign).journal}
	cmds, err := s.evalPipelinedDurable(ctx, updateAttemptScript, func(int) []string { return journal }, argv)
	if err != nil {
		return nil, wrapRedis("update attempts of "+campaign, err)
	}
	open = make([]bool, len(cmds))
	for i, c := range cmds {
		n, _ := c.Int()
		open[i] = n == 1
	}
	return open, nil
}

// updateAttemptScript sets a journal entry that exists.
// KEYS: journal  ARGV: id json
var updateAttemptScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)

// CloseAttempt removes a journal entry whose member is gone.
func (s *Store) CloseAttempt(ctx context.Context, campaign, id string) error {
	return wrapRedis("close attempt "+id, s.rdb.HDel(ctx, keysOf(campaign).journal, id).Err())
}

// OpenAttempts returns a campaign's journal: the attempts not yet classified.
func (s *Store) OpenAttempts(ctx context.Context, campaign string) ([]*Attempt, error) {
	out, err := hashDocs[Attempt](ctx, s, keysOf(campaign).journal, "journal entry")
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt < out[j].StartedAt })
	return out, nil
}

// History returns a campaign's call records, newest first, before the
// stream id "before" ("" for the newest); next is the id to pass for the
// following page.
func (s *Store) History(ctx context.Context, campaign, before string, count int) (records []CallRecord, next string, err error) {
	end := "+"
	if before != "" {
		end = "(" + before
	}
	msgs, err := s.rdb.XRevRangeN(ctx, keysOf(campaign).history, end, "-", int64(count)).Result()
	if err != nil {
		return nil, "", wrapRedis("history of "+campaign, err)
	}
	for _, m := range msgs {
		var r CallRecord
		raw, _ := m.Values["r"].(string)
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, "", fmt.Errorf("history entry %s: %w", m.ID, err)
		}
		records = append(records, r)
	}
	if len(msgs) == count {
		next = msgs[len(msgs)-1].ID
	}
	return records, next, nil
}

// Runner identifies one runner of a campaign: the dialer instance that
// runs it and a token of the runner's own.
type Runner struct {
	Instance, Token string
}

// AcquireRunner makes r the one runner of a campaign until until. It takes
// the lease when it is free, lapsed, or held by the same instance (a
// dialer restarted on its host), and reports false while another holds it.
func (s *Store) AcquireRunner(ctx context.Context, campaign string, r Runner, now, until time.Time) (bool, error) {
	return s.runnerLease(ctx, campaign, r, now, until, "acquire")
}

// RenewRunner extends r's lease; false when r no longer holds it.
func (s *Store) RenewRunner(ctx context.Context, campaign string, r Runner, now, until time.Time) (bool, error) {
	return s.runnerLease(ctx, campaign, r, now, until, "renew")
}

// ReleaseRunner gives the campaign up if r holds it.
func (s *Store) ReleaseRunner(ctx context.Context, campaign string, r Runner) error {
	_, err := s.runnerLease(ctx, campaign, r, time.Time{}, time.Time{}, "release")
	return err
}

func (s *Store) runnerLease(ctx context.Context, campaign string, r Runner, now, until time.Time, mode string) (bool, error) {
	n, err := runnerScript.Run(ctx, s.rdb, []string{key(campaign, "runner")}, r.Instance, r.Token, now.UnixMilli(), until.UnixMilli(), mode).Int()
	if err != nil {
		return false, wrapRedis(mode+" the runner lease of "+campaign, err)
	}
	return n == 1, nil
}

// AcquireSlot takes one of a gateway's limit call slots for an attempt
// until until (limit 0: no limit, only counted). Slots are shared by every
// campaign and every dialer.
func (s *Store) AcquireSlot(ctx context.Context, gateway, attempt string, limit int, now, until time.Time) (bool, error) {
	n, err := slotScript.Run(ctx, s.rdb, []string{gatewayKey(gateway)}, attempt, now.UnixMilli(), until.UnixMilli(), limit).Int()
	if err != nil {
		return false, wrapRedis("gateway slot "+gateway, err)
	}
	return n == 1, nil
}

// RenewSlot extends an attempt's gateway slot, adding it again if it
// lapsed meanwhile (a long Redis outage): the call holds the line whatever
// the count says, and a slot missing from the count would let the gateway
// take more calls than its limit.
func (s *Store) RenewSlot(ctx context.Context, gateway, attempt string, until time.Time) error {
	return wrapRedis("renew gateway slot", s.rdb.ZAdd(ctx, gatewayKey(gateway), redis.Z{Score: float64(until.UnixMilli()), Member: attempt}).Err())
}

// ReleaseSlot frees an attempt's gateway slot.
func (s *Store) ReleaseSlot(ctx context.Context, gateway, attempt string) error {
	return wrapRedis("release gateway slot", s.rdb.ZRem(ctx, gatewayKey(gateway), attempt).Err())
}

// Windowed counters are kept per minute (for 2 hours), per hour (for 2
// days) and per day (for 32 days), so the last hour, 24 hours and 30 days
// can be summed.
const (
	minuteBuckets = 120
	hourBuckets   = 48
	dayBuckets    = 32
)

// WindowFields returns the window counter fields an event at t adds to.
func WindowFields(name string, t time.Time, n int64) map[string]int64 {
	sec := t.Unix()
	return map[string]int64{
		"m" + strconv.FormatInt(sec/60, 10) + ":" + name:    n,
		"h" + strconv.FormatInt(sec/3600, 10) + ":" + name:  n,
		"d" + strconv.FormatInt(sec/86400, 10) + ":" + name: n,
	}
}

// MergeCounters adds counters b into a (a may be nil).
func MergeCounters(a, b map[string]int64) map[string]int64 {
	if a == nil {
		a = make(map[string]int64, len(b))
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// Window sums a counter over the last hour (by minute), 24 hours (by hour)
// and 30 days (by day).
type Window struct {
	Hour, Day, Month int64
}

// Stats is a campaign's statistics.
type Stats struct {
	Counters map[string]int64  `json:"counters"` // placed, answered, ..., end:<CAUSE>
	Members  map[string]int64  `json:"members"`  // by state
	Windows  map[string]Window `json:"windows"`  // by counter name
}

// AbandonRates are the campaign's abandoned calls over its live answers
// (pacing.md: never over all calls) in each window, "1h", "24h" and
// "30d"; 0 in a window without live answers. falseMachine is the share
// (0..1) of AMD's MACHINE verdicts estimated to be people: they are added
// to both (the UK rule).
func (st *Stats) AbandonRates(falseMachine float64) map[string]float64 {
	live, ab, machine := st.Windows["live"], st.Windows["abandoned"], st.Windows["machine"]
	rate := func(abandoned, live, machines int64) float64 {
		people := falseMachine * float64(machines)
		if float64(live)+people == 0 {
			return 0
		}
		return (float64(abandoned) + people) / (float64(live) + people)
	}
	return map[string]float64{"1h": rate(ab.Hour, live.Hour, machine.Hour), "24h": rate(ab.Day, live.Day, machine.Day),
		"30d": rate(ab.Month, live.Month, machine.Month)}
}

// CampaignStats reads a campaign's counters, member counts and windows.
func (s *Store) CampaignStats(ctx context.Context, campaign string, now time.Time) (*Stats, error) {
	k := keysOf(campaign)
	var counters, win *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		counters = p.HGetAll(ctx, k.stats)
		win = p.HGetAll(ctx, k.win)
		return nil
	})
	if err != nil {
		return nil, wrapRedis("stats of "+campaign, err)
	}
	st := &Stats{Counters: map[string]int64{}, Windows: map[string]Window{}}
	for f, v := range counters.Val() {
		st.Counters[f], _ = strconv.ParseInt(v, 10, 64)
	}
	sec := now.Unix()
	for f, v := range win.Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		unit, name, ok := parseWindowField(f)
		if !ok {
			continue
		}
		w := st.Windows[name]
		switch f[0] {
		case 'm':
			if sec/60-unit < 60 {
				w.Hour += n
			}
		case 'h':
			if sec/3600-unit < 24 {
				w.Day += n
			}
		case 'd':
			if sec/86400-unit < 30 {
				w.Month += n
			}
		}
		st.Windows[name] = w
	}
	if st.Members, err = s.MemberCounts(ctx, campaign); err != nil {
		return nil, err
	}
	return st, nil
}

func parseWindowField(f string) (unit int64, name string, ok bool) {
	if len(f) < 2 {
		return 0, "", false
	}
	num, name, ok := strings.Cut(f[1:], ":")
	if !ok {
		return 0, "", false
	}
	unit, err := strconv.ParseInt(num, 10, 64)
	return unit, name, err == nil
}

// PruneWindows drops window buckets too old to count.
func (s *Store) PruneWindows(ctx context.Context, campaign string, now time.Time) error {
	k := keysOf(campaign).win
	fields, err := s.rdb.HKeys(ctx, k).Result()
	if err != nil {
		return wrapRedis("prune windows", err)
	}
	sec := now.Unix()
	var old []string
	for _, f := range fields {
		unit, _, ok := parseWindowField(f)
		if !ok {
			old = append(old, f)
			continue
		}
		switch f[0] {
		case 'm':
			ok = sec/60-unit < minuteBuckets
		case 'h':
			ok = sec/3600-unit < hourBuckets
		case 'd':
			ok = sec/86400-unit < dayBuckets
		}
		if !ok {
			old = append(old, f)
		}
	}
	if len(old) == 0 {
		return nil
	}
	return wrapRedis("prune windows", s.rdb.HDel(ctx, k, old...).Err())
}

// ResetStats clears a campaign's counters (autoResetStats at midnight); the
// member count and the windows, which regulators read, stay.
func (s *Store) ResetStats(ctx context.Context, campaign string) error {
	k := keysOf(campaign).stats
	fields, err := s.rdb.HKeys(ctx, k).Result()
	if err != nil {
		return wrapRedis("reset stats", err)
	}
	drop := fields[:0]
	for _, f := range fields {
		if f != "members" {
			drop = append(drop, f)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return wrapRedis("reset stats", s.rdb.HDel(ctx, k, drop...).Err())
}
