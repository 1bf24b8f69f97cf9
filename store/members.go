package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReadyScore orders a campaign's ready queue (lowest first). With
// next-tries-circuit: higher priority first, then the earlier due time.
// With strict-circuit: fewer passes over the list first, then higher
// priority; a retry waits until the whole list has had its turn. Ties go by
// member id, that is, by insertion. Scores are integers below 2^53, exact
// in a Redis double.
func ReadyScore(strategy string, priority int, dueMs int64, round int) float64 {
	prio := float64(MaxPriority - priority + 1) // 1 .. 2,000,001 < 2^21
	if strategy == MembersStrict {
		round = min(max(round, 0), 255)
		return float64(round)*(1<<45) + prio*(1<<24)
	}
	sec := max(dueMs/1000, 0)
	return prio*(1<<32) + float64(sec)
}

// Placement is where a member goes after a change: ready now, waiting until
// NextTryAt, awaiting a call result, or done.
type Placement struct {
	Place string // MemberReady, MemberWaiting, MemberResult, MemberDone, "keep", "delete"
	Score float64
	Rank  float64 // ready score once a waiting member falls due
}

// PlaceMember decides a member's placement from its record.
func PlaceMember(strategy string, m *Member, now time.Time) Placement {
	nowMs := now.UnixMilli()
	switch {
	case m.EndCause != "":
		return Placement{Place: MemberDone, Score: float64(nowMs)}
	case m.WaitingResult != "":
		return Placement{Place: MemberResult, Score: float64(m.ResultDeadline)}
	case m.NextTryAt <= nowMs:
		due := max(m.NextTryAt, m.CreatedAt)
		return Placement{Place: MemberReady, Score: ReadyScore(strategy, m.Priority, due, m.Round)}
	default:
		return Placement{Place: MemberWaiting, Score: float64(m.NextTryAt), Rank: ReadyScore(strategy, m.Priority, m.NextTryAt, m.Round)}
	}
}

// InsertResult is the fate of one member of a bulk insert.
type InsertResult struct {
	ID  string // set when created
	Err error  // a *ValidationError or a *DuplicateNumberError
}

// Bulk insert chunking: one script call takes at most this many members
// and numbers (Lua's unpack limit is 8000 values).
const (
	insertChunkMembers = 500
	insertChunkNumbers = 1500
	insertPipeline     = 40 // chunks per round trip
)

// InsertMembers adds members to a campaign, ready now. Each member is
// validated and checked for duplicate numbers on its own: one bad item
// never keeps the others out. The result has one entry per member.
func (s *Store) InsertMembers(ctx context.Context, c *Campaign, members []*Member, now time.Time) ([]InsertResult, error) {
	results := make([]InsertResult, len(members))
	valid := make([]int, 0, len(members))
	for i, m := range members {
		m.Normalize()
		if err := m.Validate(); err != nil {
			results[i].Err = err
			continue
		}
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		return results, nil
	}
	last, err := s.rdb.IncrBy(ctx, key(c.ID, "seq"), int64(len(valid))).Result()
	if err != nil {
		return nil, wrapRedis("insert members", err)
	}
	first := last - int64(len(valid)) + 1
	k := keysOf(c.ID)
	keys := []string{k.members, k.numbers, k.ready, k.stats}
	nowMs := now.UnixMilli()

	type chunk struct {
		argv []any
		idx  []int
	}
	var chunks []chunk
	cur := chunk{argv: []any{0}}
	numbers := 0
	for n, i := range valid {
		m := members[i]
		m.ID = memberID(first + int64(n))
		m.V, m.CreatedAt, m.UpdatedAt = 1, nowMs, 0
		b, err := json.Marshal(m)
		if err != nil {
			results[i].Err = fmt.Errorf("encode member: %w", err)
			continue
		}
		if len(cur.idx) == insertChunkMembers || numbers+len(m.Communications) > insertChunkNumbers && len(cur.idx) > 0 {
			cur.argv[0] = len(cur.idx)
			chunks = append(chunks, cur)
			cur, numbers = chunk{argv: []any{0}}, 0
		}
		cur.argv = append(cur.argv, m.ID, b, ReadyScore(c.MembersStrategy, m.Priority, nowMs, 0), len(m.Communications))
		for _, cm := range m.Communications {
			cur.argv = append(cur.argv, cm.Number)
		}
		cur.idx = append(cur.idx, i)
		numbers += len(m.Communications)
	}
	if len(cur.idx) > 0 {
		cur.argv[0] = len(cur.idx)
		chunks = append(chunks, cur)
	}
	for start := 0; start < len(chunks); start += insertPipeline {
		batch := chunks[start:min(start+insertPipeline, len(chunks))]
		argv := make([][]any, len(batch))
		for j, ch := range batch {
			argv[j] = ch.argv
		}
		cmds, err := evalPipelined(ctx, s.rdb, insertScript, keys, argv)
		if err != nil {
			return nil, wrapRedis("insert members", err)
		}
		for j, ch := range batch {
			replies, err := cmds[j].StringSlice()
			if err != nil || len(replies) != len(ch.idx) {
				return nil, fmt.Errorf("insert members: bad reply %v: %w", replies, err)
			}
			for r, i := range ch.idx {
				if replies[r] == "ok" {
					results[i].ID = members[i].ID
					continue
				}
				number, member := splitDup(replies[r])
				results[i].Err = &DuplicateNumberError{Number: number, Member: member}
				members[i].ID = ""
			}
		}
	}
	return results, nil
}

func splitDup(reply string) (number, member string) {
	rest := reply[len("dup:"):]
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i] == ':' {
			return rest[:i], rest[i+1:]
		}
	}
	return rest, ""
}

// GetMember returns a member and its state.
func (s *Store) GetMember(ctx context.Context, campaign, id string) (*Member, string, error) {
	k := keysOf(campaign)
	var get *redis.StringCmd
	var scores [5]*redis.FloatCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.HGet(ctx, k.members, id)
		for i, set := range []string{k.ready, k.waiting, k.leased, k.result, k.done} {
			scores[i] = p.ZScore(ctx, set, id)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", wrapRedis("member "+id, err)
	}
	b, err := get.Bytes()
	if err != nil {
		return nil, "", wrapRedis("member "+id, err)
	}
	m, err := decodeMember(id, b)
	if err != nil {
		return nil, "", err
	}
	state := ""
	for i, name := range []string{MemberReady, MemberWaiting, MemberLeased, MemberResult, MemberDone} {
		if scores[i].Err() == nil {
			state = name
			break
		}
	}
	return m, state, nil
}

func decodeMember(id string, b []byte) (*Member, error) {
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("member %s: stored record: %w", id, err)
	}
	m.ID = id
	return &m, nil
}

// MemberIDByNumber returns the member that has a number.
func (s *Store) MemberIDByNumber(ctx context.Context, campaign, number string) (string, error) {
	n, err := NormalizeNumber(number)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, err := s.rdb.HGet(ctx, keysOf(campaign).numbers, n).Result()
	return id, wrapRedis("number "+n, err)
}

// MemberPage is a page of members.
type MemberPage struct {
	Members []*Member
	States  []string
	Total   int64  // in the listed state, or all members
	Next    string // the cursor of the next page ("" when done); unfiltered lists only
}

// ListMembers lists a campaign's members: with a state, in queue order
// from offset; without, in the order they were added, from cursor ("" or
// "0" to start, then each page's Next). Unfiltered pages walk the member
// ids, which are the insertion sequence, instead of HSCAN: the embedded
// Redis ignores HSCAN's COUNT and a small hash returns whole on any Redis,
// so neither the page size nor the cursor held. A page has at most limit
// members, and fewer while Next is set when the ids it looked at were
// mostly deleted: one call looks at no more than 4*limit+100 ids.
func (s *Store) ListMembers(ctx context.Context, campaign, state string, offset int, cursor string, limit int) (*MemberPage, error) {
	k := keysOf(campaign)
	page := &MemberPage{}
	var ids []string
	var bodies []string
	if state != "" {
		set := map[string]string{MemberReady: k.ready, MemberWaiting: k.waiting, MemberLeased: k.leased, MemberResult: k.result, MemberDone: k.done}[state]
		if set == "" {
			return nil, &ValidationError{Errors: []FieldError{{Field: "state", Message: fmt.Sprintf("%q is not one of ready, waiting, leased, result, done", state)}}}
		}
		var err error
		if ids, err = s.rdb.ZRange(ctx, set, int64(offset), int64(offset+limit-1)).Result(); err != nil {
			return nil, wrapRedis("list members", err)
		}
		if page.Total, err = s.rdb.ZCard(ctx, set).Result(); err != nil {
			return nil, wrapRedis("list members", err)
		}
		if len(ids) > 0 {
			vals, err := s.rdb.HMGet(ctx, k.members, ids...).Result()
			if err != nil {
				return nil, wrapRedis("list members", err)
			}
			found := ids[:0]
			for i, v := range vals {
				if b, ok := v.(string); ok { // else deleted meanwhile
					found, bodies = append(found, ids[i]), append(bodies, b)
				}
			}
			ids = found
		}
	} else {
		from := int64(1)
		if cursor != "" && cursor != "0" {
			n, err := strconv.ParseInt(cursor, 36, 64)
			if err != nil || n < 1 || memberID(n) != cursor {
				return nil, &ValidationError{Errors: []FieldError{{Field: "cursor", Message: fmt.Sprintf("%q is not a cursor of this list: start with 0 (or none), then give each page's next", cursor)}}}
			}
			from = n
		}
		var seq *redis.StringCmd
		var total *redis.IntCmd
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			seq, total = p.Get(ctx, key(campaign, "seq")), p.HLen(ctx, k.members)
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return nil, wrapRedis("list members", err)
		}
		page.Total = total.Val()
		last, _ := seq.Int64() // none yet: 0
		for budget := int64(4*limit + 100); from <= last && len(ids) < limit && budget > 0; {
			window := min(last-from+1, budget, int64(max(limit-len(ids), 64)))
			want := make([]string, window)
			for i := range want {
				want[i] = memberID(from + int64(i))
			}
			vals, err := s.rdb.HMGet(ctx, k.members, want...).Result()
			if err != nil {
				return nil, wrapRedis("list members", err)
			}
			looked := window
			for i, v := range vals {
				if b, ok := v.(string); ok {
					ids, bodies = append(ids, want[i]), append(bodies, b)
					if len(ids) == limit {
						looked = int64(i + 1)
						break
					}
				}
			}
			from += looked
			budget -= looked
		}
		if from <= last {
			page.Next = memberID(from)
		}
	}
	if len(ids) == 0 {
		return page, nil
	}
	scores := make([][5]*redis.FloatCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			for j, set := range []string{k.ready, k.waiting, k.leased, k.result, k.done} {
				scores[i][j] = p.ZScore(ctx, set, id)
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapRedis("list members", err)
	}
	for i, id := range ids {
		m, err := decodeMember(id, []byte(bodies[i]))
		if err != nil {
			return nil, err
		}
		state := ""
		for j, name := range []string{MemberReady, MemberWaiting, MemberLeased, MemberResult, MemberDone} {
			if scores[i][j].Err() == nil {
				state = name
				break
			}
		}
		page.Members = append(page.Members, m)
		page.States = append(page.States, state)
	}
	return page, nil
}

// Write is one change to a member, applied atomically by WriteMember.
type Write struct {
	Member  *Member // the new record; its version becomes ExpectV+1
	ExpectV int64   // the version the change was made from; 0: do not check
	Token   string  // the lease the writer holds; "": none (and the member must not be leased unless Place is keep)
	Placement
	AddNumbers []string // numbers the member gains
	DelNumbers []string // numbers it loses
	Attempt    string   // journal entry to close
	Record     *CallRecord
	Stats      map[string]int64 // campaign counters to add to
	Window     map[string]int64 // windowed counters (see WindowFields)
	// Outbox are webhook events (JSON, see dialer/hooks) appended to the
	// campaign's outbox with the write: stored if and only if it is.
	Outbox [][]byte
}

// WriteMember applies a Write: the lease, the version and the new numbers
// are checked first; then the record, its placement, the numbers index,
// the journal, the history, the counters and the webhook outbox change
// together.
func (s *Store) WriteMember(ctx context.Context, campaign string, w *Write) error {
	k := keysOf(campaign)
	var body, expect, history string
	if w.Place != "delete" {
		if w.ExpectV > 0 {
			w.Member.V = w.ExpectV + 1
		}
		b, err := json.Marshal(w.Member)
		if err != nil {
			return fmt.Errorf("write member: %w", err)
		}
		body = string(b)
	}
	if w.ExpectV > 0 {
		expect = strconv.FormatInt(w.ExpectV, 10)
	}
	if w.Record != nil {
		b, err := json.Marshal(w.Record)
		if err != nil {
			return fmt.Errorf("write member: %w", err)
		}
		history = string(b)
	}
	argv := []any{w.Member.ID, w.Token, expect, body, w.Place, w.Score, w.Rank, w.Attempt, history, s.historyLen}
	argv = append(argv, len(w.AddNumbers))
	for _, n := range w.AddNumbers {
		argv = append(argv, n)
	}
	argv = append(argv, len(w.DelNumbers))
	for _, n := range w.DelNumbers {
		argv = append(argv, n)
	}
	for _, counters := range []map[string]int64{w.Stats, w.Window} {
		argv = append(argv, len(counters))
		for f, n := range counters {
			argv = append(argv, f, n)
		}
	}
	argv = append(argv, len(w.Outbox))
	for _, e := range w.Outbox {
		argv = append(argv, e)
	}
	reply, err := s.evalDurable(ctx, writeScript, append(k.all(), outboxKey(campaign)), argv...).Text()
	if err != nil {
		return wrapRedis("write member "+w.Member.ID, err)
	}
	return scriptReply("member "+w.Member.ID, reply)
}

// Claimed is a member leased to a dialer.
type Claimed struct {
	Member *Member
	Token  string // the lease, required to write the member
	Prior  string // the token it replaced (a lapsed lease), if any
}

// ClaimMembers leases up to n ready members of a campaign until leaseUntil,
// in queue order; members that fell due are moved to ready first (at most
// 10,000 per call).
func (s *Store) ClaimMembers(ctx context.Context, campaign string, n int, now, leaseUntil time.Time) ([]Claimed, error) {
	if n <= 0 {
		return nil, nil
	}
	return s.claim(ctx, campaign, n, now, leaseUntil, NewToken())
}

func (s *Store) claim(ctx context.Context, campaign string, n int, now, leaseUntil time.Time, token string) ([]Claimed, error) {
	k := keysOf(campaign)
	vals, err := claimScript.Run(ctx, s.rdb, []string{k.ready, k.waiting, k.rank, k.leased, k.lease, k.members, k.last},
		now.UnixMilli(), n, leaseUntil.UnixMilli(), token, 10000).StringSlice()
	if err != nil {
		return nil, wrapRedis("claim members of "+campaign, err)
	}
	return s.decodeTaken(ctx, campaign, vals, token, false)
}

// ClaimMember leases one member by id until leaseUntil, from wherever it
// is (ready, waiting, awaiting a result, or done); ErrConflict when it is
// leased already (in a call), ErrNotFound when there is no such member.
// The member keeps its counters; a done member's end is the caller's to
// clear before it writes the member back.
func (s *Store) ClaimMember(ctx context.Context, campaign, id string, leaseUntil time.Time) (Claimed, error) {
	k := keysOf(campaign)
	token := NewToken()
	vals, err := claimOneScript.Run(ctx, s.rdb, []string{k.ready, k.waiting, k.rank, k.leased, k.lease, k.result, k.done, k.members},
		id, leaseUntil.UnixMilli(), token).StringSlice()
	if err != nil {
		return Claimed{}, wrapRedis("claim member "+id+" of "+campaign, err)
	}
	switch vals[0] {
	case "OK":
		m, err := decodeMember(id, []byte(vals[1]))
		if err != nil {
			return Claimed{}, err
		}
		return Claimed{Member: m, Token: token}, nil
	case "LEASED":
		return Claimed{}, fmt.Errorf("%w: member %s of %s is in a call", ErrConflict, id, campaign)
	default:
		return Claimed{}, fmt.Errorf("%w: member %s of %s", ErrNotFound, id, campaign)
	}
}

// TakeLapsedLeases re-leases members whose lease ran out (their dialer died
// or lost Redis too long): they must be reconciled with the switches.
func (s *Store) TakeLapsedLeases(ctx context.Context, campaign string, limit int, now, leaseUntil time.Time) ([]Claimed, error) {
	k := keysOf(campaign)
	return s.take(ctx, campaign, k.leased, limit, now, leaseUntil)
}

// TakeDueResults leases members whose wait for a call result is over.
func (s *Store) TakeDueResults(ctx context.Context, campaign string, limit int, now, leaseUntil time.Time) ([]Claimed, error) {
	return s.take(ctx, campaign, keysOf(campaign).result, limit, now, leaseUntil)
}

func (s *Store) take(ctx context.Context, campaign, from string, limit int, now, leaseUntil time.Time) ([]Claimed, error) {
	return s.takeAs(ctx, campaign, from, limit, now, leaseUntil, NewToken())
}

func (s *Store) takeAs(ctx context.Context, campaign, from string, limit int, now, leaseUntil time.Time, token string) ([]Claimed, error) {
	k := keysOf(campaign)
	vals, err := takeScript.Run(ctx, s.rdb, []string{from, k.leased, k.lease, k.members, k.last},
		now.UnixMilli(), limit, leaseUntil.UnixMilli(), token).StringSlice()
	if err != nil {
		return nil, wrapRedis("take members of "+campaign, err)
	}
	return s.decodeTaken(ctx, campaign, vals, token, true)
}

// decodeTaken reads id/(score|token)/json triples. A member deleted while
// leased has no record: its lease is dropped (an error there leaves it to
// lapse and be dropped by the next sweep).
func (s *Store) decodeTaken(ctx context.Context, campaign string, vals []string, token string, withPrior bool) ([]Claimed, error) {
	out := make([]Claimed, 0, len(vals)/3)
	var gone []string
	for i := 0; i+2 < len(vals); i += 3 {
		id, second, body := vals[i], vals[i+1], vals[i+2]
		if body == "" {
			gone = append(gone, id)
			continue
		}
		m, err := decodeMember(id, []byte(body))
		if err != nil {
			return nil, err
		}
		c := Claimed{Member: m, Token: token}
		if withPrior {
			c.Prior = second
		}
		out = append(out, c)
	}
	if len(gone) > 0 {
		k := keysOf(campaign)
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, k.leased, gone)
			p.HDel(ctx, k.lease, gone...)
			return nil
		})
		if err != nil {
			return out, wrapRedis("drop the leases of deleted members of "+campaign, err)
		}
	}
	return out, nil
}

// RenewLeases extends the leases a dialer holds under token; it returns how
// many it still held.
func (s *Store) RenewLeases(ctx context.Context, campaign, token string, ids []string, until time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	k := keysOf(campaign)
	argv := make([]any, 0, len(ids)+2)
	argv = append(argv, token, until.UnixMilli())
	for _, id := range ids {
		argv = append(argv, id)
	}
	n, err := renewScript.Run(ctx, s.rdb, []string{k.leased, k.lease}, argv...).Int()
	return n, wrapRedis("renew leases of "+campaign, err)
}

// MemberCounts returns how many members are in each state.
func (s *Store) MemberCounts(ctx context.Context, campaign string) (map[string]int64, error) {
	k := keysOf(campaign)
	sets := map[string]string{MemberReady: k.ready, MemberWaiting: k.waiting, MemberLeased: k.leased, MemberResult: k.result, MemberDone: k.done}
	cmds := map[string]*redis.IntCmd{}
	// one transaction: a member that moves between two sets while they are
	// counted one by one would be counted twice or not at all, and a
	// campaign whose counts add up to nothing left is finished
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for state, set := range sets {
			cmds[state] = p.ZCard(ctx, set)
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("member counts of "+campaign, err)
	}
	out := make(map[string]int64, len(cmds))
	for state, c := range cmds {
		out[state] = c.Val()
	}
	return out, nil
}
