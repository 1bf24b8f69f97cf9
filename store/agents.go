package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Agent statuses, set by the agent or a supervisor: the names of the
// seeds' engine (mod_callcenter's).
const (
	AgentLoggedOut = "Logged Out"
	AgentAvailable = "Available"
	AgentOnDemand  = "Available (On Demand)"
	AgentOnBreak   = "On Break"
)

// Agent states, derived by the engine from the agent's calls.
const (
	AgentWaiting  = "Waiting"         // ready for a call
	AgentReserved = "Reserved"        // chosen for a call, not yet offered
	AgentOffering = "Offering"        // the agent's phone rings, or the agent waits for the member
	AgentInCall   = "In a queue call" // talking to a member
	AgentWrapUp   = "Wrap-up"         // after a call, until ready_time
	AgentIdle     = "Idle"            // not taking calls: not available, or a delay (reason), or unregistered
)

// Why an agent is Idle though Available.
const (
	IdleNoAnswer     = "no_answer"    // did not answer an offered call: no_answer_delay_time
	IdleRejected     = "rejected"     // rejected it: reject_delay_time
	IdleBusy         = "busy"         // busy or do-not-disturb: busy_delay_time
	IdleUnregistered = "unregistered" // the endpoint is not registered: until the agent or a supervisor sets a status
	IdleMaxNoAnswer  = "max_no_answer"
	IdleHungUp       = "hung_up" // hung up their session: Logged Out until they set a status
)

// Ways to reach an agent.
const (
	ReachRing    = "ring"    // each call rings the agent's phone (the seeds' model)
	ReachSession = "session" // one call to the agent stays up; members are bridged into it
)

// Agent is a person who takes calls: who they are, how they are reached
// and their own parameters (a campaign's agentParams override them while
// they serve it). The field names are the seeds' engine's.
type Agent struct {
	ID                string   `json:"id"`
	Name              string   `json:"name,omitempty"`
	Contact           string   `json:"contact"` // a FreeSWITCH endpoint, default user/<id>
	Skills            []string `json:"skills,omitempty"`
	Buckets           []string `json:"buckets,omitempty"`
	Reach             string   `json:"reach"`                 // ring or session
	AutoAnswer        bool     `json:"auto_answer,omitempty"` // ring: ask a softphone to answer by itself
	CallTimeout       int      `json:"call_timeout"`          // seconds the phone rings
	WrapUpTime        int      `json:"wrap_up_time"`
	MaxNoAnswer       int      `json:"max_no_answer"` // 0: no limit
	BusyDelayTime     int      `json:"busy_delay_time"`
	RejectDelayTime   int      `json:"reject_delay_time"`
	NoAnswerDelayTime int      `json:"no_answer_delay_time"`
	CreatedAt         int64    `json:"created_at"` // ms
	UpdatedAt         int64    `json:"updated_at"`
}

// Normalize fills an agent's defaults.
func (a *Agent) Normalize() {
	if a.Contact == "" && a.ID != "" {
		a.Contact = "user/" + a.ID
	}
	if a.Reach == "" {
		a.Reach = ReachRing
	}
	if a.CallTimeout == 0 {
		a.CallTimeout = 15
	}
}

// Validate checks an agent.
func (a *Agent) Validate() error {
	var v validator
	v.check(a.ID != "" && !strings.ContainsAny(a.ID, " /{}") && !hasControl(a.ID), "id", "is required, without spaces, slashes, braces or control characters")
	checkText(&v, "id", a.ID, MaxIDLen)
	checkText(&v, "name", a.Name, MaxNameLen)
	if a.Contact == "" {
		v.add("contact", "is required")
	}
	checkSwitchToken(&v, "contact", a.Contact, endpoint)
	for i, s := range a.Skills {
		checkText(&v, fmt.Sprintf("skills[%d]", i), s, MaxIDLen)
	}
	for i, b := range a.Buckets {
		checkText(&v, fmt.Sprintf("buckets[%d]", i), b, MaxIDLen)
	}
	switch a.Reach {
	case ReachRing, ReachSession:
	default:
		v.add("reach", "%q is not %q or %q", a.Reach, ReachRing, ReachSession)
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"call_timeout", a.CallTimeout}, {"wrap_up_time", a.WrapUpTime}, {"max_no_answer", a.MaxNoAnswer},
		{"busy_delay_time", a.BusyDelayTime}, {"reject_delay_time", a.RejectDelayTime}, {"no_answer_delay_time", a.NoAnswerDelayTime}} {
		v.check(p.n >= 0 && p.n <= 86400, p.name, "must be between 0 and 86400, is %d", p.n)
	}
	v.check(a.CallTimeout >= 1, "call_timeout", "must be at least 1 second, is %d", a.CallTimeout)
	return v.err()
}

// ServedBy reports whether an agent serves a campaign: it is among the
// campaign's agents, or has one of its skills.
func (c *Campaign) ServedBy(a *Agent) bool {
	if slices.Contains(c.Agents, a.ID) {
		return true
	}
	for _, s := range a.Skills {
		if slices.Contains(c.Skills, s) {
			return true
		}
	}
	return false
}

// AgentStatPrefix starts the campaign counters kept per agent:
// agent:<id>:calls, :missed, :bridged, :talk, :idle, :wrap (seconds).
const AgentStatPrefix = "agent:"

// AgentStat names an agent's counter in a campaign's statistics.
func AgentStat(agent, what string) string { return AgentStatPrefix + agent + ":" + what }

// AgentLive is what is known of an agent now: its status, its state, the
// reservation of the call it serves, and its counters (the seeds'
// engine's names; times in seconds since the epoch, as mod_callcenter's).
type AgentLive struct {
	Status           string `json:"status"`
	State            string `json:"state"`
	Reason           string `json:"reason,omitempty"` // why Idle though Available
	LastStatusChange int64  `json:"last_status_change"`
	ReadyTime        int64  `json:"ready_time"` // in wrap-up or a delay until then
	NoAnswerCount    int    `json:"no_answer_count"`
	CallsAnswered    int    `json:"calls_answered"`
	TalkTime         int64  `json:"talk_time"` // seconds, all calls
	LastBridgeStart  int64  `json:"last_bridge_start"`
	LastBridgeEnd    int64  `json:"last_bridge_end"`
	LastOfferedCall  int64  `json:"last_offered_call"`
	// The reservation: the attempt it serves, its campaign, the dialer
	// holding it and until when (ms) unless renewed.
	Attempt  string `json:"attempt,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Owner    string `json:"-"`
	Until    int64  `json:"-"`
	// Reach is the agent's (the document's, copied here so the reserving
	// script sees it).
	Reach string `json:"-"`
	// The agent's persistent leg (reach "session"): its uuid and switch,
	// whether it rings or is up, the dialer keeping it and until when
	// (ms) unless renewed.
	Session      string `json:"session,omitempty"`
	SessionNode  string `json:"session_node,omitempty"`
	SessionState string `json:"session_state,omitempty"` // SessionRinging, SessionUp
	SessionOwner string `json:"-"`
	SessionUntil int64  `json:"-"`
}

// States of an agent's persistent leg.
const (
	SessionRinging = "ringing" // called; not answered yet
	SessionUp      = "up"      // answered: members are bridged into it
)

// Available reports whether a status takes calls.
func Available(status string) bool { return status == AgentAvailable || status == AgentOnDemand }

// Reserved reports whether a dialer holds the agent at now.
func (l *AgentLive) Reserved(now time.Time) bool { return l.Attempt != "" && l.Until > now.UnixMilli() }

// Ready reports whether the agent may be offered a call at now: available,
// not reserved, waiting, or past its wrap-up or delay (an unregistered
// endpoint waits for a status to be set), and, reached by a session, with
// the session up.
func (l *AgentLive) Ready(now time.Time) bool {
	return l.free(now) && (l.Reach != ReachSession || l.SessionState == SessionUp)
}

// WantsSession reports whether an agent reached by a session has none and
// should be called to open one at now: as Ready, but for the session.
func (l *AgentLive) WantsSession(now time.Time) bool {
	return l.Reach == ReachSession && l.Session == "" && l.free(now)
}

// SessionLapsed reports whether the dialer keeping the agent's session
// stopped renewing it (it died): another may take the leg over.
func (l *AgentLive) SessionLapsed(now time.Time) bool {
	return l.Session != "" && l.SessionUntil <= now.UnixMilli()
}

func (l *AgentLive) free(now time.Time) bool {
	if !Available(l.Status) || l.Reserved(now) || l.Reason == IdleUnregistered {
		return false
	}
	switch l.State {
	case AgentWaiting:
		return true
	case AgentWrapUp, AgentIdle, AgentReserved, AgentOffering, AgentInCall:
		// a lapsed reservation (its dialer died) or a passed ready_time
		return l.ReadyTime <= now.Unix()
	}
	return false
}

// Shown is the state to show at now: a wrap-up or delay that is over
// shows as Waiting, a lapsed reservation as what it leaves.
func (l *AgentLive) Shown(now time.Time) string {
	if l.Ready(now) {
		return AgentWaiting
	}
	if !Available(l.Status) && !l.Reserved(now) {
		return AgentIdle
	}
	return l.State
}

// The keys of the agents: all under one hash tag, so a script may touch
// any of them (on Redis Cluster they live in one slot: agents are
// thousands, not millions).
const (
	agentDocsKey    = "dialer:{agents}:doc"     // hash: id -> Agent JSON
	agentChangesKey = "dialer:{agents}:changes" // stream of changed ids, with a sequence
	agentSeqKey     = "dialer:{agents}:seq"
)

func agentLiveKey(id string) string { return "dialer:{agents}:live:" + id }

// agentLiveFields are the live hash's fields, in AgentLive's order.
var agentLiveFields = []string{"status", "state", "reason", "lsc", "ready", "noans", "calls", "talk", "lbs", "lbe", "loc",
	"attempt", "campaign", "owner", "until", "reach", "session", "snode", "sstate", "sowner", "suntil"}

func decodeLive(vals []any) *AgentLive {
	str := func(i int) string { s, _ := vals[i].(string); return s }
	num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
	return &AgentLive{Status: str(0), State: str(1), Reason: str(2), LastStatusChange: num(3), ReadyTime: num(4),
		NoAnswerCount: int(num(5)), CallsAnswered: int(num(6)), TalkTime: num(7), LastBridgeStart: num(8), LastBridgeEnd: num(9),
		LastOfferedCall: num(10), Attempt: str(11), Campaign: str(12), Owner: str(13), Until: num(14), Reach: str(15),
		Session: str(16), SessionNode: str(17), SessionState: str(18), SessionOwner: str(19), SessionUntil: num(20)}
}

// agentScript applies one change to an agent's live hash, all checks
// first. KEYS: live changes seq docs. ARGV: id op nowMs args...
//
//	status S              set the status (an available status clears a
//	                      max-no-answer break and an unregistered mark)
//	reserve A C O UNTIL   reserve a ready agent for attempt A of campaign C
//	                      by dialer O; returns the reason it is not ready,
//	                      or "OK <leg> <node>" for an agent's session
//	offer A               the agent's phone rings (or it waits for the member)
//	bridge A              agent and member talk
//	end A WRAP TALK       the call is over: wrap-up for WRAP s, TALK s talked
//	release A             nothing happened for the agent: waiting again
//	missed A DELAY MAX    no answer: a delay; MAX misses in a row: On Break
//	rejected A DELAY      the agent rejected the call
//	busy A DELAY          busy or do-not-disturb
//	unregistered A        the endpoint is not registered
//	renew O UNTIL ids...  extend O's reservations (KEYS: the ids' live hashes)
//	adopt A O UNTIL       dialer O takes over attempt A's reservation (a
//	                      restarted or another dialer adopted the call)
//	sopen U NODE O UNTIL  dialer O calls a ready agent reached by a session
//	                      on leg U of NODE; returns why not, as reserve, or
//	                      'session' (the agent has one)
//	sup U                 the session leg U answered: the agent is ready
//	send U WHY DELAY MAX  the session leg U ended: hung_up (by the agent:
//	                      Logged Out), missed, rejected, busy, unregistered
//	                      (as a call's), or released (by the dialer)
//	sadopt U O UNTIL      dialer O takes over leg U, whose keeper lapsed
//	srenew O UNTIL ids... extend O's sessions (KEYS: the ids' live hashes)
//	touch                 name the agent in the changes (its document changed)
//	ready                 end a wrap-up or a delay now (the agent says it is ready)
//	delete                remove the agent unless a call holds it
//
// Returns OK, NOT_FOUND, NOT_HELD (the reservation is not A's), or the
// reason a reservation is refused (status, reserved, state, unregistered).
var agentScript = redis.NewScript(`
local function changed(id)
  local seq = redis.call('INCR', KEYS[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 10000, '*', 'a', id, 's', seq)
end
local live, id, op, now = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local nowSec = math.floor(now / 1000)
if op == 'renew' or op == 'srenew' then
  local owner, held, untilField = 'owner', 'attempt', 'until'
  if op == 'srenew' then owner, held, untilField = 'sowner', 'session', 'suntil' end
  local n = 0
  for i = 6, #ARGV do
    local k = KEYS[i - 1]
    if redis.call('HGET', k, owner) == ARGV[4] and (redis.call('HGET', k, held) or '') ~= '' then
      redis.call('HSET', k, untilField, ARGV[5])
      changed(ARGV[i]) -- the dialers' views must not take it for lapsed
      n = n + 1
    end
  end
  return tostring(n)
end
if redis.call('HEXISTS', KEYS[4], id) == 0 then return 'NOT_FOUND' end
local st = redis.call('HMGET', live, 'status', 'state', 'reason', 'ready', 'attempt', 'until', 'noans', 'reach', 'session', 'sstate', 'sowner', 'suntil')
local status, state, reason = st[1] or 'Logged Out', st[2] or 'Idle', st[3] or ''
local ready, attempt, untilMs, noans = tonumber(st[4] or '0'), st[5] or '', tonumber(st[6] or '0'), tonumber(st[7] or '0')
local reach, session, sstate, sowner, suntil = st[8] or 'ring', st[9] or '', st[10] or '', st[11] or '', tonumber(st[12] or '0')
local available = status == 'Available' or status == 'Available (On Demand)'
local reserved = attempt ~= '' and untilMs > now
local function clear()
  redis.call('HSET', live, 'attempt', '', 'campaign', '', 'owner', '', 'until', 0)
end
-- notReady says why a free agent may not be called now ('' it may).
local function notReady()
  if not available then return 'status' end
  if reserved then return 'reserved' end
  if reason == 'unregistered' then return 'unregistered' end
  if state ~= 'Waiting' and ready > nowSec then return 'state' end
  return ''
end
-- missed applies a phone that did not take a call: a delay, and a break
-- after max misses in a row.
local function missed(why, delay, max)
  if why == 'unregistered' then
    redis.call('HSET', live, 'state', 'Idle', 'reason', 'unregistered', 'ready', nowSec)
    return
  end
  local reasons = {missed = 'no_answer', rejected = 'rejected', busy = 'busy'}
  redis.call('HSET', live, 'state', 'Idle', 'reason', reasons[why], 'ready', nowSec + delay)
  if why == 'missed' then
    noans = redis.call('HINCRBY', live, 'noans', 1)
    if max > 0 and noans >= max and available then
      redis.call('HSET', live, 'status', 'On Break', 'lsc', nowSec, 'reason', 'max_no_answer')
    end
  end
end
local function endSession()
  redis.call('HSET', live, 'session', '', 'snode', '', 'sstate', '', 'sowner', '', 'suntil', 0)
end
if op == 'status' then
  local s = ARGV[4]
  redis.call('HSET', live, 'status', s, 'lsc', nowSec)
  if s == 'Available' or s == 'Available (On Demand)' then
    if reason == 'max_no_answer' or reason == 'unregistered' or reason == 'hung_up' then
      redis.call('HSET', live, 'reason', '', 'noans', 0)
    end
    if not reserved and (state == 'Idle' or state == '') and ready <= nowSec then
      redis.call('HSET', live, 'state', 'Waiting')
    end
  elseif not reserved then
    redis.call('HSET', live, 'state', 'Idle')
  end
  changed(id)
  return 'OK'
elseif op == 'delete' then
  if reserved then return 'BUSY' end
  redis.call('HDEL', KEYS[4], id)
  redis.call('DEL', live)
  changed(id)
  return 'OK'
elseif op == 'sopen' then
  if session ~= '' then return 'session' end
  local why = notReady()
  if why ~= '' then return why end
  redis.call('HSET', live, 'session', ARGV[4], 'snode', ARGV[5], 'sstate', 'ringing', 'sowner', ARGV[6], 'suntil', ARGV[7],
    'state', 'Offering', 'loc', nowSec, 'reason', '')
  changed(id)
  return 'OK'
elseif op == 'sup' or op == 'send' or op == 'sadopt' then
  if session ~= ARGV[4] then return 'NOT_HELD' end
  if op == 'sadopt' then
    if sowner ~= ARGV[5] and suntil > now then return 'BUSY' end
    redis.call('HSET', live, 'sowner', ARGV[5], 'suntil', ARGV[6])
    return 'OK'
  end
  if op == 'sup' then
    redis.call('HSET', live, 'sstate', 'up', 'noans', 0)
    if not reserved then
      redis.call('HSET', live, 'state', available and 'Waiting' or 'Idle', 'ready', nowSec)
    end
  else
    endSession()
    local why = ARGV[5]
    if why == 'hung_up' then
      redis.call('HSET', live, 'status', 'Logged Out', 'lsc', nowSec, 'reason', 'hung_up')
      if not reserved then redis.call('HSET', live, 'state', 'Idle') end
    elseif not reserved then
      if why == 'released' then
        redis.call('HSET', live, 'state', available and 'Waiting' or 'Idle')
      else
        missed(why, tonumber(ARGV[6]), tonumber(ARGV[7]))
      end
    end
  end
  changed(id)
  return 'OK'
elseif op == 'touch' then
  changed(id)
  return 'OK'
elseif op == 'ready' then
  if reserved then return 'BUSY' end
  redis.call('HSET', live, 'state', available and 'Waiting' or 'Idle', 'ready', nowSec, 'reason', '')
  changed(id)
  return 'OK'
elseif op == 'reserve' then
  local why = notReady()
  if why ~= '' then return why end
  if reach == 'session' and sstate ~= 'up' then return 'session' end
  redis.call('HSET', live, 'state', 'Reserved', 'attempt', ARGV[4], 'campaign', ARGV[5], 'owner', ARGV[6], 'until', ARGV[7], 'reason', '')
  changed(id)
  if reach == 'session' then return 'OK ' .. session .. ' ' .. (redis.call('HGET', live, 'snode') or '') end
  return 'OK'
end
if attempt ~= ARGV[4] then return 'NOT_HELD' end
if op == 'adopt' then
  redis.call('HSET', live, 'owner', ARGV[5], 'until', ARGV[6])
elseif op == 'offer' then
  redis.call('HSET', live, 'state', 'Offering', 'loc', nowSec)
elseif op == 'bridge' then
  if redis.call('HGET', live, 'bridged') ~= attempt then -- once per call, though told twice
    redis.call('HSET', live, 'state', 'In a queue call', 'lbs', nowSec, 'noans', 0, 'bridged', attempt)
    redis.call('HINCRBY', live, 'calls', 1)
  end
elseif op == 'end' then
  if redis.call('HGET', live, 'bridged') ~= attempt then
    -- The bridge was never told (its dialer died just after it): the
    -- call is counted from its end.
    redis.call('HSET', live, 'lbs', nowSec - tonumber(ARGV[6]), 'noans', 0, 'bridged', attempt)
    redis.call('HINCRBY', live, 'calls', 1)
  end
  clear()
  redis.call('HSET', live, 'state', 'Wrap-up', 'lbe', nowSec, 'ready', nowSec + tonumber(ARGV[5]))
  redis.call('HINCRBY', live, 'talk', tonumber(ARGV[6]))
elseif op == 'release' then
  clear()
  redis.call('HSET', live, 'state', available and 'Waiting' or 'Idle', 'ready', nowSec)
elseif op == 'missed' or op == 'rejected' or op == 'busy' or op == 'unregistered' then
  clear()
  missed(op, tonumber(ARGV[5] or '0'), tonumber(ARGV[6] or '0'))
else
  return redis.error_reply('unknown agent op ' .. op)
end
changed(id)
return 'OK'
`)

// PutAgent creates an agent or replaces what it is; its status, state and
// counters are kept. A new agent is Logged Out.
func (s *Store) PutAgent(ctx context.Context, a *Agent, now time.Time) (created bool, err error) {
	a.Normalize()
	if err := a.Validate(); err != nil {
		return false, err
	}
	old, err := s.rdb.HGet(ctx, agentDocsKey, a.ID).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		a.CreatedAt, created = now.UnixMilli(), true
	case err != nil:
		return false, wrapRedis("agent "+a.ID, err)
	default:
		var prev Agent
		if err := json.Unmarshal(old, &prev); err == nil {
			a.CreatedAt = prev.CreatedAt
		}
	}
	a.UpdatedAt = now.UnixMilli()
	b, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("agent %s: %w", a.ID, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, agentDocsKey, a.ID, b)
		p.HSetNX(ctx, agentLiveKey(a.ID), "status", AgentLoggedOut)
		p.HSetNX(ctx, agentLiveKey(a.ID), "state", AgentIdle)
		p.HSetNX(ctx, agentLiveKey(a.ID), "lsc", now.Unix())
		p.HSet(ctx, agentLiveKey(a.ID), "reach", a.Reach)
		return nil
	})
	if err != nil {
		return false, wrapRedis("put agent "+a.ID, err)
	}
	return created, s.agentOp(ctx, a.ID, "touch", now)
}

// GetAgent returns an agent and what is known of it now.
func (s *Store) GetAgent(ctx context.Context, id string) (*Agent, *AgentLive, error) {
	var doc *redis.StringCmd
	var live *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		doc = p.HGet(ctx, agentDocsKey, id)
		live = p.HMGet(ctx, agentLiveKey(id), agentLiveFields...)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, wrapRedis("agent "+id, err)
	}
	b, err := doc.Bytes()
	if err != nil {
		return nil, nil, wrapRedis("agent "+id, err)
	}
	var a Agent
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, nil, fmt.Errorf("agent %s: stored document: %w", id, err)
	}
	return &a, decodeLive(live.Val()), nil
}

// AgentView is an agent with what is known of it now.
type AgentView struct {
	*Agent
	Live *AgentLive
}

// ListAgents returns every agent, by id.
func (s *Store) ListAgents(ctx context.Context) ([]AgentView, error) {
	docs, err := hashDocs[Agent](ctx, s, agentDocsKey, "agent")
	if err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].ID < docs[j].ID })
	lives := make([]*redis.SliceCmd, len(docs))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, a := range docs {
			lives[i] = p.HMGet(ctx, agentLiveKey(a.ID), agentLiveFields...)
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("agents", err)
	}
	out := make([]AgentView, len(docs))
	for i, a := range docs {
		out[i] = AgentView{Agent: a, Live: decodeLive(lives[i].Val())}
	}
	return out, nil
}

// DeleteAgent removes an agent; one a call holds is a conflict.
func (s *Store) DeleteAgent(ctx context.Context, id string, now time.Time) error {
	return s.agentOp(ctx, id, "delete", now)
}

// SetAgentStatus sets an agent's status.
func (s *Store) SetAgentStatus(ctx context.Context, id, status string, now time.Time) error {
	switch status {
	case AgentLoggedOut, AgentAvailable, AgentOnDemand, AgentOnBreak:
	default:
		return &ValidationError{Errors: []FieldError{{Field: "status", Message: fmt.Sprintf("%q is not one of %q, %q, %q, %q",
			status, AgentLoggedOut, AgentAvailable, AgentOnDemand, AgentOnBreak)}}}
	}
	return s.agentOp(ctx, id, "status", now, status)
}

// AgentReady ends an agent's wrap-up or delay (or the wait for its phone
// to register) now: the agent says it is ready. One a call holds is a
// conflict.
func (s *Store) AgentReady(ctx context.Context, id string, now time.Time) error {
	return s.agentOp(ctx, id, "ready", now)
}

// AgentReservation is a dialer's hold on an agent for one attempt.
type AgentReservation struct {
	Attempt, Campaign, Owner string
	Until                    time.Time
}

// ErrAgentNotReady is returned by ReserveAgent for an agent that may not
// take a call now; the error says why.
var ErrAgentNotReady = fmt.Errorf("%w: agent not ready", ErrConflict)

// Reserved is the leg a reservation found up: an agent reached by a
// session is called on it (the view of the agents may be older).
type Reserved struct {
	Session, SessionNode string // "" for an agent reached by ringing
}

// ReserveAgent holds a ready agent for an attempt, atomically across every
// dialer sharing this Redis: one agent, one call.
func (s *Store) ReserveAgent(ctx context.Context, id string, r AgentReservation, now time.Time) (Reserved, error) {
	reply, err := s.agentScriptDurable(ctx, id, "reserve", now, r.Attempt, r.Campaign, r.Owner, r.Until.UnixMilli())
	if err != nil {
		return Reserved{}, err
	}
	if rest, ok := strings.CutPrefix(reply, "OK "); ok { // OK <session> <node>
		leg, node, _ := strings.Cut(rest, " ")
		return Reserved{Session: leg, SessionNode: node}, nil
	}
	return Reserved{}, agentReply(id, "reserve", reply)
}

// AgentBid is one reservation of a batch: an agent for an attempt.
type AgentBid struct {
	Agent string
	AgentReservation
}

// BidResult is what became of one bid: the agent's leg, or why not
// (ErrAgentNotReady when another call or dialer was first).
type BidResult struct {
	Reserved
	Err error
}

// ReserveAgents makes several reservations in one round trip: each bid
// is ReserveAgent's script, run on its own (a pipeline, not a
// transaction: one refused bid leaves the others). Many live answers at
// once are many reservations, and one round trip each would queue them.
// The error is Redis's; a bid's own refusal is in its result.
func (s *Store) ReserveAgents(ctx context.Context, bids []AgentBid, now time.Time) ([]BidResult, error) {
	if len(bids) == 0 {
		return nil, nil
	}
	argv := make([][]any, len(bids))
	for i, b := range bids {
		argv[i] = []any{b.Agent, "reserve", now.UnixMilli(), b.Attempt, b.Campaign, b.Owner, b.Until.UnixMilli()}
	}
	keys := func(i int) []string {
		return []string{agentLiveKey(bids[i].Agent), agentChangesKey, agentSeqKey, agentDocsKey}
	}
	cmds, err := s.evalPipelinedDurable(ctx, agentScript, keys, argv)
	if err != nil {
		return nil, wrapRedis("reserve agents", err)
	}
	out := make([]BidResult, len(bids))
	for i, c := range cmds {
		reply, err := c.Text()
		switch {
		case err != nil:
			out[i].Err = wrapRedis("agent "+bids[i].Agent+" reserve", err)
		default:
			if rest, ok := strings.CutPrefix(reply, "OK "); ok {
				leg, node, _ := strings.Cut(rest, " ")
				out[i].Reserved = Reserved{Session: leg, SessionNode: node}
			} else {
				out[i].Err = agentReply(bids[i].Agent, "reserve", reply)
			}
		}
	}
	return out, nil
}

// Agent events of a held agent (see agentScript).
const (
	AgentOffer        = "offer"
	AgentBridge       = "bridge"
	AgentEnd          = "end"
	AgentRelease      = "release"
	AgentMissed       = "missed"
	AgentRejected     = "rejected"
	AgentBusy         = "busy"
	AgentUnregistered = "unregistered"
)

// AgentEvent applies what happened to the agent an attempt holds: args
// are the event's (end: wrap-up and talk seconds; missed: delay and
// max no-answer; rejected, busy: delay). ErrLeaseLost when the attempt no
// longer holds it.
func (s *Store) AgentEvent(ctx context.Context, id, attemptID, event string, now time.Time, args ...int64) error {
	argv := []any{attemptID}
	for _, a := range args {
		argv = append(argv, a)
	}
	return s.agentOp(ctx, id, event, now, argv...)
}

// AdoptAgent makes owner the holder of the agent an adopted attempt
// holds; ErrLeaseLost when the attempt no longer holds it.
func (s *Store) AdoptAgent(ctx context.Context, id, attemptID, owner string, until, now time.Time) error {
	return s.agentOp(ctx, id, "adopt", now, attemptID, owner, until.UnixMilli())
}

// AgentSession is a dialer's hold on an agent's persistent leg.
type AgentSession struct {
	UUID, Node, Owner string
	Until             time.Time
}

// OpenSession records that a dialer calls a ready agent reached by a
// session, atomically across dialers: one agent, one session.
// ErrAgentNotReady (why: status, reserved, state, unregistered, session)
// when the agent may not be called now.
func (s *Store) OpenSession(ctx context.Context, id string, ss AgentSession, now time.Time) error {
	reply, err := s.agentScriptDurable(ctx, id, "sopen", now, ss.UUID, ss.Node, ss.Owner, ss.Until.UnixMilli())
	if err != nil {
		return err
	}
	return agentReply(id, "sopen", reply)
}

// SessionUp records that the agent answered the session leg uuid.
func (s *Store) SessionUp(ctx context.Context, id, uuid string, now time.Time) error {
	return s.agentOp(ctx, id, "sup", now, uuid)
}

// Why a session ended.
const (
	SessionHungUp   = "hung_up"  // the agent hung up: Logged Out
	SessionReleased = "released" // the dialer ended it (the agent left), or it was lost
)

// EndSession records that the session leg uuid ended and why: SessionHungUp,
// SessionReleased, or, when it never answered, as a call's AgentMissed,
// AgentRejected, AgentBusy or AgentUnregistered (args: delay and max
// no-answer as AgentEvent's). ErrLeaseLost when the agent has another.
func (s *Store) EndSession(ctx context.Context, id, uuid, why string, now time.Time, delay, maxNoAnswer int) error {
	return s.agentOp(ctx, id, "send", now, uuid, why, delay, maxNoAnswer)
}

// AdoptSession makes owner the keeper of the session leg uuid, whose
// keeper lapsed; ErrConflict while another still keeps it, ErrLeaseLost
// when the agent has another.
func (s *Store) AdoptSession(ctx context.Context, id, uuid, owner string, until, now time.Time) error {
	return s.agentOp(ctx, id, "sadopt", now, uuid, owner, until.UnixMilli())
}

// RenewSessions extends the sessions owner keeps; it returns how many it
// still kept.
func (s *Store) RenewSessions(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	return s.renew(ctx, "srenew", owner, ids, until)
}

// RenewAgents extends the reservations owner holds on the agents; it
// returns how many it still held.
func (s *Store) RenewAgents(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	return s.renew(ctx, "renew", owner, ids, until)
}

func (s *Store) renew(ctx context.Context, op, owner string, ids []string, until time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The script reads the i-th id's live hash as KEYS[4+i].
	keys := []string{agentLiveKey(ids[0]), agentChangesKey, agentSeqKey, agentDocsKey}
	argv := []any{"", op, 0, owner, until.UnixMilli()}
	for _, id := range ids {
		keys = append(keys, agentLiveKey(id))
		argv = append(argv, id)
	}
	reply, err := agentScript.Run(ctx, s.rdb, keys, argv...).Text()
	if err != nil {
		return 0, wrapRedis(op+" agents", err)
	}
	n, _ := strconv.Atoi(reply)
	return n, nil
}

func (s *Store) agentOp(ctx context.Context, id, op string, now time.Time, args ...any) error {
	reply, err := s.agentScript(ctx, id, op, now, args...)
	if err != nil {
		return err
	}
	return agentReply(id, op, reply)
}

func (s *Store) agentScript(ctx context.Context, id, op string, now time.Time, args ...any) (string, error) {
	argv := append([]any{id, op, now.UnixMilli()}, args...)
	reply, err := agentScript.Run(ctx, s.rdb, []string{agentLiveKey(id), agentChangesKey, agentSeqKey, agentDocsKey}, argv...).Text()
	if err != nil {
		return "", wrapRedis("agent "+id+" "+op, err)
	}
	return reply, nil
}

// agentScriptDurable is agentScript for a change that must survive a
// failover (durable).
func (s *Store) agentScriptDurable(ctx context.Context, id, op string, now time.Time, args ...any) (string, error) {
	argv := append([]any{id, op, now.UnixMilli()}, args...)
	reply, err := s.evalDurable(ctx, agentScript, []string{agentLiveKey(id), agentChangesKey, agentSeqKey, agentDocsKey}, argv...).Text()
	if err != nil {
		return "", wrapRedis("agent "+id+" "+op, err)
	}
	return reply, nil
}

// agentReply reads the script's answer.
func agentReply(id, op, reply string) error {
	switch reply {
	case "OK":
		return nil
	case "NOT_FOUND":
		return fmt.Errorf("agent %s: %w", id, ErrNotFound)
	case "NOT_HELD":
		return fmt.Errorf("agent %s: %w", id, ErrLeaseLost)
	case "BUSY":
		return fmt.Errorf("agent %s: %w: a call holds it now", id, ErrConflict)
	case "status", "reserved", "state", "unregistered", "session":
		return fmt.Errorf("agent %s: %w (%s)", id, ErrAgentNotReady, reply)
	}
	return fmt.Errorf("agent %s %s: unexpected reply %q", id, op, reply)
}

// AgentCursor is how far a reader of the agents' changes has come.
type AgentCursor struct {
	ID  string // the last stream entry read
	Seq int64  // its sequence number
}

// AgentCursorNow returns the cursor of the newest change: read it, then
// every agent, and the changes after it bring the view up to date.
func (s *Store) AgentCursorNow(ctx context.Context) (AgentCursor, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, agentChangesKey, "+", "-", 1).Result()
	if err != nil {
		return AgentCursor{}, wrapRedis("agent changes", err)
	}
	if len(msgs) == 0 {
		return AgentCursor{ID: "0-0"}, nil
	}
	seq, _ := strconv.ParseInt(fmt.Sprint(msgs[0].Values["s"]), 10, 64)
	return AgentCursor{ID: msgs[0].ID, Seq: seq}, nil
}

// AgentChanges returns the agents changed after the cursor (at most 1,000
// changes a call) and the cursor after them. missed is true when changes
// were trimmed from the stream before they were read: read every agent
// again, from AgentCursorNow.
func (s *Store) AgentChanges(ctx context.Context, after AgentCursor) (ids []string, next AgentCursor, missed bool, err error) {
	msgs, err := s.rdb.XRangeN(ctx, agentChangesKey, "("+after.ID, "+", 1000).Result()
	if err != nil {
		return nil, after, false, wrapRedis("agent changes", err)
	}
	next = after
	seen := map[string]bool{}
	for i, m := range msgs {
		seq, _ := strconv.ParseInt(fmt.Sprint(m.Values["s"]), 10, 64)
		if i == 0 && seq != after.Seq+1 {
			return nil, after, true, nil
		}
		next = AgentCursor{ID: m.ID, Seq: seq}
		if id, _ := m.Values["a"].(string); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, next, false, nil
}
