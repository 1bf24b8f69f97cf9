package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A campaign's webhook outbox: the events to deliver, in the order they
// were written, and where each hook is in them.
//
//	dialer:{c}:outbox           stream, one entry per event (field "e": its JSON)
//	dialer:{c}:outbox:progress  hash, hook -> "<cursor> <id>,<id>...": every entry up to
//	                            the cursor is finished for the hook (delivered or dropped),
//	                            and so are the listed entries after it
//	dialer:{c}:outbox:lease     hash, hook -> "instance|token|until": who delivers the
//	                            campaign's events to the hook (a lane)
//	dialer:{c}:outbox:append    the request token of the last AppendOutbox
//	dialer:outboxes             set of the campaigns whose outboxes are looked at
//
// Everything of one campaign's outbox is in the campaign's slot, so the
// member write appends in its own script and each lane's changes are
// atomic.
const outboxIndexKey = "dialer:outboxes"

func outboxKey(campaign string) string { return key(campaign, "outbox") }

func outboxKeys(campaign string) (stream, progress, lease, appendTok string) {
	return outboxKey(campaign), key(campaign, "outbox:progress"), key(campaign, "outbox:lease"), key(campaign, "outbox:append")
}

// OutboxEntry is one event of an outbox.
type OutboxEntry struct {
	ID   string // the stream id: entries are read in this order
	Body []byte
}

// OutboxProgress is where a hook is in a campaign's outbox.
type OutboxProgress struct {
	Cursor string   // every entry up to it is finished; "0-0": none
	Done   []string // entries after Cursor finished too (out of order)
}

func (p OutboxProgress) String() string {
	if len(p.Done) == 0 {
		return p.Cursor
	}
	return p.Cursor + " " + strings.Join(p.Done, ",")
}

func parseProgress(s string) OutboxProgress {
	cursor, done, _ := strings.Cut(s, " ")
	p := OutboxProgress{Cursor: cursor}
	if p.Cursor == "" {
		p.Cursor = "0-0"
	}
	if done != "" {
		p.Done = strings.Split(done, ",")
	}
	return p
}

// appendScript appends events to an outbox, once per request token: the
// same call resent after a lost reply appends nothing more.
// KEYS: outbox appendToken   ARGV: token events...
var appendScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then return 0 end
for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', 'e', ARGV[i]) end
redis.call('SET', KEYS[2], ARGV[1])
return #ARGV - 1
`)

// laneScript holds a lane's lease, a hash field "instance|token|until"
// with the semantics of runnerScript: acquire takes a free or lapsed
// lease, or one of the same instance (a dialer restarted on its host);
// renew and release act only for the token that holds it. Acquire also
// registers the lane (a cursor at the start) so that trimming waits for
// it, and returns its progress.
// KEYS: lease progress   ARGV: hook instance token now until mode
// Returns 0 if another holds it, else 1 (renew, release) or the progress.
var laneScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local inst, tok, untilMs
if cur then inst, tok, untilMs = string.match(cur, '^(.*)|(.*)|(%d+)$') end
local mine = cur and tok == ARGV[3]
if ARGV[6] == 'release' then
  if mine then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
  return 0
end
if cur and not mine then
  if ARGV[6] == 'renew' then return 0 end
  if inst ~= ARGV[2] and untilMs and tonumber(untilMs) > tonumber(ARGV[4]) then return 0 end
end
if ARGV[6] == 'renew' and not cur then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[5])
if ARGV[6] ~= 'acquire' then return 1 end
local p = redis.call('HGET', KEYS[2], ARGV[1])
if not p then
  p = '0-0'
  redis.call('HSET', KEYS[2], ARGV[1], p)
end
return p
`)

// progressScript records a lane's progress if the lane's lease is still
// the caller's.
// KEYS: lease progress   ARGV: hook token progress
var progressScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.match(cur, '^.*|(.*)|%d+$') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`)

// trimScript deletes the entries every listed hook has finished, and the
// progress and leases of hooks not listed (deleted, disabled, or no longer
// for this campaign). A listed hook without progress has not started: it
// holds everything. With no hook listed nobody wants the entries: all go.
// KEYS: outbox progress lease   ARGV: hooks...
// Returns how many entries went.
var trimScript = redis.NewScript(`
local keep = {}
for i = 1, #ARGV do keep[ARGV[i]] = true end
for _, k in ipairs({KEYS[2], KEYS[3]}) do
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if not keep[f] then redis.call('HDEL', k, f) end
  end
end
local minMs, minSeq, minStr
local function consider(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)')
  if not ms then return false end
  local m, s = tonumber(ms), tonumber(seq)
  if not minMs or m < minMs or (m == minMs and s < minSeq) then minMs, minSeq, minStr = m, s, ms end
  return true
end
if #ARGV == 0 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last == 0 then return 0 end
  consider(last[1][1])
else
  for i = 1, #ARGV do
    local p = redis.call('HGET', KEYS[2], ARGV[i])
    if not p or not consider(p) then return 0 end -- not started, or unreadable: it holds everything
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', minStr .. '-' .. tostring(minSeq + 1))
`)

// dropOutboxScript deletes the outbox of a deleted campaign once it is
// empty; checked and done in one script, so an event appended meanwhile
// is never deleted unseen.
// KEYS: campaign outbox progress lease appendToken
var dropOutboxScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('XLEN', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
`)

// AppendOutbox appends events (JSON documents, see dialer/hooks) to a
// campaign's outbox, in order, all or none. Events that belong to a member
// write go in Write.Outbox instead, so they are stored with it.
func (s *Store) AppendOutbox(ctx context.Context, campaign string, events ...[]byte) error {
	if len(events) == 0 {
		return nil
	}
	stream, _, _, tok := outboxKeys(campaign)
	argv := make([]any, 0, len(events)+1)
	argv = append(argv, NewToken())
	for _, e := range events {
		argv = append(argv, e)
	}
	return wrapRedis("append to the outbox of "+campaign, appendScript.Run(ctx, s.rdb, []string{stream, tok}, argv...).Err())
}

// ReadOutbox returns up to count entries of a campaign's outbox after the
// entry after ("0-0": from the start), in order.
func (s *Store) ReadOutbox(ctx context.Context, campaign, after string, count int) ([]OutboxEntry, error) {
	msgs, err := s.rdb.XRangeN(ctx, outboxKey(campaign), "("+after, "+", int64(count)).Result()
	if err != nil {
		return nil, wrapRedis("read the outbox of "+campaign, err)
	}
	out := make([]OutboxEntry, len(msgs))
	for i, m := range msgs {
		body, _ := m.Values["e"].(string) // an entry not ours reads as empty, and the dispatcher drops it
		out[i] = OutboxEntry{ID: m.ID, Body: []byte(body)}
	}
	return out, nil
}

// OutboxLen returns how many entries a campaign's outbox holds.
func (s *Store) OutboxLen(ctx context.Context, campaign string) (int64, error) {
	n, err := s.rdb.XLen(ctx, outboxKey(campaign)).Result()
	return n, wrapRedis("outbox length of "+campaign, err)
}

// OutboxCampaigns returns the campaigns whose outboxes dispatchers look
// at: every campaign, and deleted ones whose outbox is not yet empty.
func (s *Store) OutboxCampaigns(ctx context.Context) ([]string, error) {
	var ids *redis.StringSliceCmd
	var known *redis.StringSliceCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ids = p.ZRange(ctx, campaignIndexKey, 0, -1)
		known = p.SMembers(ctx, outboxIndexKey)
		return nil
	}); err != nil {
		return nil, wrapRedis("outbox campaigns", err)
	}
	seen := make(map[string]bool, len(known.Val()))
	out := make([]string, 0, len(ids.Val()))
	for _, id := range known.Val() {
		seen[id] = true
		out = append(out, id)
	}
	var missing []any
	for _, id := range ids.Val() {
		if !seen[id] {
			// Remembered before its outbox is read: a campaign deleted later
			// is still looked at until its last event is delivered.
			missing = append(missing, id)
			out = append(out, id)
		}
	}
	if len(missing) > 0 {
		if err := s.rdb.SAdd(ctx, outboxIndexKey, missing...).Err(); err != nil {
			return nil, wrapRedis("outbox campaigns", err)
		}
	}
	return out, nil
}

// DropOutbox forgets the outbox of a deleted campaign once it is empty;
// it reports whether it did.
func (s *Store) DropOutbox(ctx context.Context, campaign string) (bool, error) {
	stream, progress, lease, tok := outboxKeys(campaign)
	n, err := dropOutboxScript.Run(ctx, s.rdb, []string{key(campaign, "campaign"), stream, progress, lease, tok}).Int()
	if err != nil {
		return false, wrapRedis("drop the outbox of "+campaign, err)
	}
	if n == 0 {
		return false, nil
	}
	return true, wrapRedis("drop the outbox of "+campaign, s.rdb.SRem(ctx, outboxIndexKey, campaign).Err())
}

// AcquireOutboxLane makes r the one deliverer of a campaign's events to a
// hook until until, and returns the hook's progress in the outbox (a new
// lane starts at the oldest entry). ok is false while another holds it.
func (s *Store) AcquireOutboxLane(ctx context.Context, campaign, hook string, r Runner, now, until time.Time) (p OutboxProgress, ok bool, err error) {
	_, progress, lease, _ := outboxKeys(campaign)
	v, err := laneScript.Run(ctx, s.rdb, []string{lease, progress}, hook, r.Instance, r.Token, now.UnixMilli(), until.UnixMilli(), "acquire").Result()
	if err != nil {
		return p, false, wrapRedis("acquire the outbox lane of "+campaign+" to hook "+hook, err)
	}
	str, isStr := v.(string)
	if !isStr {
		return p, false, nil
	}
	return parseProgress(str), true, nil
}

// RenewOutboxLane extends r's lease of a lane; false when r no longer
// holds it.
func (s *Store) RenewOutboxLane(ctx context.Context, campaign, hook string, r Runner, now, until time.Time) (bool, error) {
	return s.laneLease(ctx, campaign, hook, r, now, until, "renew")
}

// ReleaseOutboxLane gives a lane up if r holds it.
func (s *Store) ReleaseOutboxLane(ctx context.Context, campaign, hook string, r Runner) error {
	_, err := s.laneLease(ctx, campaign, hook, r, time.Time{}, time.Time{}, "release")
	return err
}

func (s *Store) laneLease(ctx context.Context, campaign, hook string, r Runner, now, until time.Time, mode string) (bool, error) {
	_, progress, lease, _ := outboxKeys(campaign)
	n, err := laneScript.Run(ctx, s.rdb, []string{lease, progress}, hook, r.Instance, r.Token, now.UnixMilli(), until.UnixMilli(), mode).Int()
	if err != nil {
		return false, wrapRedis(mode+" the outbox lane of "+campaign+" to hook "+hook, err)
	}
	return n == 1, nil
}

// SaveOutboxProgress records a hook's progress in a campaign's outbox if
// r still holds the lane; false when it does not (nothing is written).
func (s *Store) SaveOutboxProgress(ctx context.Context, campaign, hook string, r Runner, p OutboxProgress) (bool, error) {
	_, progress, lease, _ := outboxKeys(campaign)
	n, err := progressScript.Run(ctx, s.rdb, []string{lease, progress}, hook, r.Token, p.String()).Int()
	if err != nil {
		return false, wrapRedis("save the outbox progress of "+campaign+" to hook "+hook, err)
	}
	return n == 1, nil
}

// GetOutboxProgress returns a hook's progress in a campaign's outbox
// (ErrNotFound: it has none).
func (s *Store) GetOutboxProgress(ctx context.Context, campaign, hook string) (OutboxProgress, error) {
	_, progress, _, _ := outboxKeys(campaign)
	v, err := s.rdb.HGet(ctx, progress, hook).Result()
	if err != nil {
		return OutboxProgress{}, wrapRedis("outbox progress of "+campaign+" to hook "+hook, err)
	}
	return parseProgress(v), nil
}

// TrimOutbox deletes the entries of a campaign's outbox that every hook of
// hooks (those that take the campaign's events) has finished, and forgets
// the progress of other hooks; with no hooks, every entry goes. It returns
// how many entries went.
func (s *Store) TrimOutbox(ctx context.Context, campaign string, hooks []string) (int64, error) {
	stream, progress, lease, _ := outboxKeys(campaign)
	argv := make([]any, len(hooks))
	for i, h := range hooks {
		argv[i] = h
	}
	n, err := trimScript.Run(ctx, s.rdb, []string{stream, progress, lease}, argv...).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, wrapRedis(fmt.Sprintf("trim the outbox of %s", campaign), err)
	}
	return n, nil
}
