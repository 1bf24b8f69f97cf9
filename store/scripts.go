package store

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The scripts. Each touches the keys of one campaign (one hash slot) and
// does all its checks before its first write, so a refused call changes
// nothing. go-redis's Script runs them by SHA and loads them again after a
// NOSCRIPT (a restarted or flushed Redis); pipelines use evalPipelined.

// insertScript adds members that are due now.
// KEYS: members numbers ready stats
// ARGV: n, then per member: id json readyScore numberCount numbers...
// Returns per member "ok" or "dup:<number>:<member>"; a member whose number
// another has (or an earlier one of the same call) is refused alone. Run
// twice (go-redis resends a command after a read timeout), it answers the
// same: a member whose every number is already its own was inserted by the
// first run.
var insertScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local all, pos = {}, 2
for k = 1, n do
  local nc = tonumber(ARGV[pos+3])
  for j = 1, nc do all[#all+1] = ARGV[pos+3+j] end
  pos = pos + 4 + nc
end
local existing = {}
if #all > 0 then
  local owners = redis.call('HMGET', KEYS[2], unpack(all))
  for j = 1, #all do if owners[j] then existing[all[j]] = owners[j] end end
end
local out, hm, hn, z, created = {}, {}, {}, {}, 0
pos = 2
for k = 1, n do
  local id, json, score, nc = ARGV[pos], ARGV[pos+1], ARGV[pos+2], tonumber(ARGV[pos+3])
  local dup, mine = nil, nc > 0
  for j = 1, nc do
    local num = ARGV[pos+3+j]
    if existing[num] ~= id then mine = false end
    if existing[num] and existing[num] ~= id then dup = num .. ':' .. existing[num] break end
  end
  if dup then
    out[k] = 'dup:' .. dup
  elseif mine then
    out[k] = 'ok' -- this very call ran before (a client resent it): nothing to do
  else
    for j = 1, nc do
      local num = ARGV[pos+3+j]
      existing[num] = id
      hn[#hn+1] = num
      hn[#hn+1] = id
    end
    hm[#hm+1] = id
    hm[#hm+1] = json
    z[#z+1] = score
    z[#z+1] = id
    out[k] = 'ok'
    created = created + 1
  end
  pos = pos + 4 + nc
end
if created > 0 then
  redis.call('HSET', KEYS[1], unpack(hm))
  redis.call('HSET', KEYS[2], unpack(hn))
  redis.call('ZADD', KEYS[3], unpack(z))
  redis.call('HINCRBY', KEYS[4], 'members', created)
end
return out
`)

// claimScript moves members that fell due from waiting to ready, then
// leases the first N ready ones. O(log n + N + moved). The token is the
// call's request id: the ids it leased are kept under "last", so the same
// call run again (a resend after a read timeout) returns the same members
// instead of leasing a second batch and stranding the first.
// KEYS: ready waiting rank leased lease members last
// ARGV: now maxN leaseUntil token moveLimit
// Returns id, score, json triples.
var claimScript = redis.NewScript(`
if redis.call('HGET', KEYS[7], 'claim') == ARGV[4] then
  local ids = redis.call('HGET', KEYS[7], 'claim:ids')
  local out = {}
  for id, score in string.gmatch(ids, '([^,]+),([^,]+),?') do
    out[#out+1] = id
    out[#out+1] = score
    out[#out+1] = redis.call('HGET', KEYS[6], id) or ''
  end
  return out
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))
if #due > 0 then
  local ranks = redis.call('HMGET', KEYS[3], unpack(due))
  local z = {}
  for i, id in ipairs(due) do
    z[#z+1] = ranks[i] or '0'
    z[#z+1] = id
  end
  redis.call('ZADD', KEYS[1], unpack(z))
  redis.call('HDEL', KEYS[3], unpack(due))
  redis.call('ZREM', KEYS[2], unpack(due))
end
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[2]))
redis.call('HSET', KEYS[7], 'claim', ARGV[4], 'claim:ids', table.concat(popped, ','))
if #popped == 0 then return {} end
local ids, z, h = {}, {}, {}
for i = 1, #popped, 2 do
  local id = popped[i]
  ids[#ids+1] = id
  z[#z+1] = ARGV[3]
  z[#z+1] = id
  h[#h+1] = id
  h[#h+1] = ARGV[4]
end
redis.call('ZADD', KEYS[4], unpack(z))
redis.call('HSET', KEYS[5], unpack(h))
local bodies = redis.call('HMGET', KEYS[6], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  out[#out+1] = id
  out[#out+1] = popped[2*i]
  out[#out+1] = bodies[i] or ''
end
return out
`)

// takeScript leases the members of one set whose score is due: results
// whose wait is over, or leases that lapsed (their holder died). The old
// token is returned so the taker can tell whose it was.
// KEYS: from leased lease members last
// ARGV: now limit leaseUntil token
// Returns id, oldToken, json triples. Like a claim, a call run twice
// answers the same.
var takeScript = redis.NewScript(`
local field = 'take:' .. KEYS[1]
if redis.call('HGET', KEYS[5], field) == ARGV[4] then
  local out = {}
  for id, old in string.gmatch(redis.call('HGET', KEYS[5], field .. ':ids'), '([^,]+),([^,]*),?') do
    out[#out+1] = id
    out[#out+1] = old
    out[#out+1] = redis.call('HGET', KEYS[4], id) or ''
  end
  return out
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out, log = {}, {}
for _, id in ipairs(ids) do
  local old = redis.call('HGET', KEYS[3], id) or ''
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[3], id)
  redis.call('HSET', KEYS[3], id, ARGV[4])
  out[#out+1] = id
  out[#out+1] = old
  out[#out+1] = redis.call('HGET', KEYS[4], id) or ''
  log[#log+1] = id
  log[#log+1] = old
end
redis.call('HSET', KEYS[5], field, ARGV[4], field .. ':ids', table.concat(log, ','))
return out
`)

// renewScript extends the leases a holder still has.
// KEYS: leased lease   ARGV: token until ids...
var renewScript = redis.NewScript(`
local n = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[i])
    n = n + 1
  end
end
return n
`)

// writeScript writes a member and places it, after checking its lease or
// that it has none, its version, and that numbers it gains are free.
// KEYS: members numbers ready waiting rank leased lease result done journal history stats win outbox
// ARGV: id token expectVersion json place score rank attempt historyJSON historyMax
//
//	nAdd numbers... nDel numbers... nStats (field incr)... nWin (field incr)... nOut events...
//
// The events go to the campaign's webhook outbox in the same script, so an
// outcome's events are stored if and only if the outcome is.
// place: ready|waiting|result|done (with score; waiting also rank), keep
// (stay where it is), delete (remove the member and its numbers).
// Returns OK, NOT_FOUND, LEASE_LOST, VERSION, LEASED or DUP:<number>:<member>.
// The same write run twice answers OK twice and applies once.
var writeScript = redis.NewScript(`
local id, token, place = ARGV[1], ARGV[2], ARGV[5]
if ARGV[3] ~= '' and place ~= 'delete' and redis.call('HGET', KEYS[1], id) == ARGV[4] then
  return 'OK' -- this very write ran before (a client resent it); its version makes it unique
end
if token ~= '' and redis.call('HGET', KEYS[7], id) ~= token then return 'LEASE_LOST' end
local cur = redis.call('HGET', KEYS[1], id)
if not cur then return 'NOT_FOUND' end
if ARGV[3] ~= '' and string.match(cur, '^{"v":(%d+)') ~= ARGV[3] then return 'VERSION' end
if token == '' and place ~= 'keep' and redis.call('ZSCORE', KEYS[6], id) then return 'LEASED' end
local p = 11
local adds = {}
for j = 1, tonumber(ARGV[p]) do adds[#adds+1] = ARGV[p+j] end
p = p + #adds + 1
local dels = {}
for j = 1, tonumber(ARGV[p]) do dels[#dels+1] = ARGV[p+j] end
p = p + #dels + 1
for _, num in ipairs(adds) do
  local owner = redis.call('HGET', KEYS[2], num)
  if owner and owner ~= id then return 'DUP:' .. num .. ':' .. owner end
end
-- checks done; writes follow
for _, num in ipairs(dels) do
  if redis.call('HGET', KEYS[2], num) == id then redis.call('HDEL', KEYS[2], num) end
end
for _, num in ipairs(adds) do redis.call('HSET', KEYS[2], num, id) end
if place ~= 'keep' then
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[7], id)
  redis.call('ZREM', KEYS[8], id)
  redis.call('ZREM', KEYS[9], id)
end
if place == 'delete' then
  redis.call('HDEL', KEYS[1], id)
  redis.call('HINCRBY', KEYS[12], 'members', -1)
else
  redis.call('HSET', KEYS[1], id, ARGV[4])
  if place == 'ready' then redis.call('ZADD', KEYS[3], ARGV[6], id)
  elseif place == 'waiting' then
    redis.call('ZADD', KEYS[4], ARGV[6], id)
    redis.call('HSET', KEYS[5], id, ARGV[7])
  elseif place == 'result' then redis.call('ZADD', KEYS[8], ARGV[6], id)
  elseif place == 'done' then redis.call('ZADD', KEYS[9], ARGV[6], id)
  end
end
if ARGV[8] ~= '' then redis.call('HDEL', KEYS[10], ARGV[8]) end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[11], 'MAXLEN', '~', ARGV[10], '*', 'r', ARGV[9]) end
local ns = tonumber(ARGV[p])
for j = 1, ns do redis.call('HINCRBY', KEYS[12], ARGV[p + 2*j - 1], ARGV[p + 2*j]) end
p = p + 2*ns + 1
local nw = tonumber(ARGV[p])
for j = 1, nw do redis.call('HINCRBY', KEYS[13], ARGV[p + 2*j - 1], ARGV[p + 2*j]) end
p = p + 2*nw + 1
for j = 1, tonumber(ARGV[p]) do redis.call('XADD', KEYS[14], '*', 'e', ARGV[p + j]) end
return 'OK'
`)

// runnerScript holds a campaign's runner lease: "instance|token|until",
// the expiry judged by the caller's clock so it works alike on Redis, on
// the embedded Redis and on a sped-up clock. Acquire takes it when it is
// free, lapsed, or held by the same instance (a dialer restarted on its
// host takes its campaigns back at once); renew and release act only for
// the runner whose token holds it, so an exiting runner can never extend
// or drop its successor's lease.
// KEYS: key   ARGV: instance token now until mode (acquire|renew|release)
// Returns 1 if done, 0 if another runner holds it.
var runnerScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local inst, tok, untilMs
if cur then
  inst, tok, untilMs = string.match(cur, '^(.*)|(.*)|(%d+)$')
  if not inst then inst, untilMs = string.match(cur, '^(.*)|(%d+)$') tok = '' end
end
local mine = cur and tok == ARGV[2]
if ARGV[5] == 'release' then
  if mine then redis.call('DEL', KEYS[1]) return 1 end
  return 0
end
if cur and not mine then
  if ARGV[5] == 'renew' then return 0 end
  if inst ~= ARGV[1] and untilMs and tonumber(untilMs) > tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[4])
return 1
`)

// slotScript takes a call slot of a gateway shared by every campaign.
// KEYS: gateway zset (attempt -> expiry)   ARGV: attempt now until limit
var slotScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if tonumber(ARGV[4]) > 0 and redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// evalPipelined runs a script once per argument list in one pipeline. A
// NOSCRIPT on the first try (a Redis that lost its scripts) loads the
// script and runs the whole batch again; NOSCRIPT means nothing ran.
func evalPipelined(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys []string, argv [][]any) ([]*redis.Cmd, error) {
	return evalPipelinedOn(ctx, rdb, s, func(int) []string { return keys }, argv, nil)
}

// evalPipelinedOn is evalPipelined with each run's own keys, and tail's
// commands, if any, after the runs in the same pipeline (one connection,
// on a client of one node).
func evalPipelinedOn(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys func(i int) []string, argv [][]any, tail func(p redis.Pipeliner)) ([]*redis.Cmd, error) {
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(argv))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, a := range argv {
				cmds[i] = s.EvalSha(ctx, p, keys(i), a...)
			}
			if tail != nil {
				tail(p)
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(cmds) {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			return nil, err
		}
		cmds, err = run()
	}
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil {
				return cmds, c.Err()
			}
		}
	}
	return cmds, err
}

func isNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && c.Err() != nil && strings.HasPrefix(c.Err().Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// claimOneScript leases one member by id, wherever it waits: ready, due
// later, awaiting a call result, or done (a click-to-call dials a member
// again on demand). A member already leased is refused, unless by this
// very token (the call ran before: a client resent it).
// KEYS: ready waiting rank leased lease result done members
// ARGV: id leaseUntil token
// Returns {"OK", json}, {"LEASED"} or {"NOT_FOUND"}.
var claimOneScript = redis.NewScript(`
local id = ARGV[1]
local body = redis.call('HGET', KEYS[8], id)
if not body then return {'NOT_FOUND'} end
if redis.call('ZSCORE', KEYS[4], id) then
  if redis.call('HGET', KEYS[5], id) == ARGV[3] then return {'OK', body} end
  return {'LEASED'}
end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('ZREM', KEYS[6], id)
redis.call('ZREM', KEYS[7], id)
redis.call('ZADD', KEYS[4], ARGV[2], id)
redis.call('HSET', KEYS[5], id, ARGV[3])
return {'OK', body}
`)
