package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Do-not-call lists: a global one and one per campaign, each a set of
// numbers and a set of prefixes (an entry ending in *). Numbers are kept
// as their digits (NormalizeNumber's, without a leading +), so that
// +380501234567 and 380501234567 are one number. A check is one SMISMEMBER
// per set for a whole batch of numbers, their prefixes included: O(digits)
// per number whatever the lists' size.

// DNCPrefixMark ends a do-not-call entry that is a prefix: 38050* lists
// every number starting 38050.
const DNCPrefixMark = "*"

// MaxDNCBatch bounds the entries one call adds or removes.
const MaxDNCBatch = 100000

// dncKeys are a list's sets: the global list's under its own hash tag,
// a campaign's under the campaign's.
func dncKeys(campaign string) (numbers, prefixes string) {
	if campaign == "" {
		return "dialer:{dnc}:numbers", "dialer:{dnc}:prefixes"
	}
	return key(campaign, "dnc"), key(campaign, "dncp")
}

// NormalizeDNC reads a do-not-call entry: a number, or a prefix (at
// least two digits, then *). It returns the digits and whether it is a
// prefix.
func NormalizeDNC(entry string) (digits string, prefix bool, err error) {
	s, prefix := strings.CutSuffix(strings.TrimSpace(entry), DNCPrefixMark)
	n, err := NormalizeNumber(s)
	if err != nil {
		return "", false, err
	}
	return strings.TrimPrefix(n, "+"), prefix, nil
}

// DNCEntry is how an entry is shown: its digits, with * for a prefix.
func DNCEntry(digits string, prefix bool) string {
	if prefix {
		return digits + DNCPrefixMark
	}
	return digits
}

// AddDNC lists entries (numbers, or prefixes ending in *) on a campaign's
// list, or the global one for campaign "". It returns how many were not
// listed before. Entries are checked first; one bad entry adds nothing.
func (s *Store) AddDNC(ctx context.Context, campaign string, entries []string) (int, error) {
	return s.editDNC(ctx, campaign, entries, true)
}

// RemoveDNC takes entries off a list; it returns how many were listed.
func (s *Store) RemoveDNC(ctx context.Context, campaign string, entries []string) (int, error) {
	return s.editDNC(ctx, campaign, entries, false)
}

func (s *Store) editDNC(ctx context.Context, campaign string, entries []string, add bool) (int, error) {
	if len(entries) > MaxDNCBatch {
		return 0, fmt.Errorf("%w: at most %d entries at once, %d given", ErrInvalid, MaxDNCBatch, len(entries))
	}
	var v validator
	var numbers, prefixes []any
	for i, e := range entries {
		d, prefix, err := NormalizeDNC(e)
		switch {
		case err != nil:
			v.add("numbers["+strconv.Itoa(i)+"]", "%v", err)
		case prefix:
			prefixes = append(prefixes, d)
		default:
			numbers = append(numbers, d)
		}
	}
	if err := v.err(); err != nil {
		return 0, err
	}
	nk, pk := dncKeys(campaign)
	var cmds []*redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, set := range []struct {
			key     string
			members []any
		}{{nk, numbers}, {pk, prefixes}} {
			for start := 0; start < len(set.members); start += 5000 {
				chunk := set.members[start:min(start+5000, len(set.members))]
				if add {
					cmds = append(cmds, p.SAdd(ctx, set.key, chunk...))
				} else {
					cmds = append(cmds, p.SRem(ctx, set.key, chunk...))
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrapRedis("do-not-call list "+dncName(campaign), err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

func dncName(campaign string) string {
	if campaign == "" {
		return "(global)"
	}
	return "of " + campaign
}

// DNCPage is a page of a do-not-call list.
type DNCPage struct {
	Entries []string // numbers, and prefixes ending in *
	Next    string   // the cursor of the next page; "" at the end
}

// ListDNC pages through a list: its prefixes first (cursor "" or "0"),
// then its numbers. A page holds about limit entries (Redis's SSCAN
// count is a hint), and an entry may show twice if it is added while
// the list is read.
func (s *Store) ListDNC(ctx context.Context, campaign, cursor string, limit int) (*DNCPage, error) {
	nk, pk := dncKeys(campaign)
	set, prefix, pos := pk, true, cursor
	if rest, ok := strings.CutPrefix(cursor, "n"); ok {
		set, prefix, pos = nk, false, rest
	}
	if pos == "" {
		pos = "0"
	}
	at, err := strconv.ParseUint(pos, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: cursor %q is not one a page gave", ErrInvalid, cursor)
	}
	page := &DNCPage{Entries: []string{}}
	for {
		keys, next, err := s.rdb.SScan(ctx, set, at, "", int64(limit)).Result()
		if err != nil {
			return nil, wrapRedis("do-not-call list "+dncName(campaign), err)
		}
		for _, k := range keys {
			page.Entries = append(page.Entries, DNCEntry(k, prefix))
		}
		switch {
		case next != 0:
			page.Next = strconv.FormatUint(next, 10)
			if !prefix {
				page.Next = "n" + page.Next
			}
			return page, nil
		case prefix: // the prefixes are done: the numbers next
			set, prefix, at = nk, false, 0
			if len(page.Entries) >= limit {
				page.Next = "n0"
				return page, nil
			}
		default:
			return page, nil
		}
	}
}

// DNCCount returns how many numbers and prefixes a list has.
func (s *Store) DNCCount(ctx context.Context, campaign string) (numbers, prefixes int64, err error) {
	nk, pk := dncKeys(campaign)
	var n, p *redis.IntCmd
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		n, p = pl.SCard(ctx, nk), pl.SCard(ctx, pk)
		return nil
	})
	if err != nil {
		return 0, 0, wrapRedis("do-not-call list "+dncName(campaign), err)
	}
	return n.Val(), p.Val(), nil
}

// DNCHit says why a number may not be called: the list ("" global, else
// the campaign's id) and the entry that lists it.
type DNCHit struct {
	List  string `json:"list"`
	Entry string `json:"entry"`
}

// CheckDNC looks numbers up on the global list and on a campaign's (none
// for campaign ""), each with every prefix of it, in one round trip. The
// answer maps each listed number, as given, to why; numbers that are not
// numbers are left out (they cannot be dialed either).
func (s *Store) CheckDNC(ctx context.Context, campaign string, numbers []string) (map[string]DNCHit, error) {
	type probe struct {
		number string // as given
		digits string
	}
	var probes []probe
	seen := map[string]bool{}
	var whole, parts []any
	for _, n := range numbers {
		d, prefix, err := NormalizeDNC(n)
		if err != nil || prefix {
			continue
		}
		probes = append(probes, probe{n, d})
		if !seen[d] {
			seen[d] = true
			whole = append(whole, d)
		}
		for i := 1; i < len(d); i++ {
			if p := d[:i]; !seen["p"+p] {
				seen["p"+p] = true
				parts = append(parts, p)
			}
		}
	}
	if len(probes) == 0 {
		return nil, nil
	}
	lists := []string{""}
	if campaign != "" {
		lists = append(lists, campaign)
	}
	type answer struct {
		list  string
		cmd   *redis.BoolSliceCmd
		asked []any
		pfx   bool
	}
	var answers []answer
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range lists {
			nk, pk := dncKeys(l)
			answers = append(answers, answer{l, p.SMIsMember(ctx, nk, whole...), whole, false})
			if len(parts) > 0 {
				answers = append(answers, answer{l, p.SMIsMember(ctx, pk, parts...), parts, true})
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("check the do-not-call lists", err)
	}
	listed := map[string]DNCHit{} // by digits, or "p"+prefix
	for _, a := range answers {
		for i, in := range a.cmd.Val() {
			if !in {
				continue
			}
			d := a.asked[i].(string)
			k := d
			if a.pfx {
				k = "p" + d
			}
			if _, ok := listed[k]; !ok {
				listed[k] = DNCHit{List: a.list, Entry: DNCEntry(d, a.pfx)}
			}
		}
	}
	if len(listed) == 0 {
		return nil, nil
	}
	out := map[string]DNCHit{}
	for _, pr := range probes {
		if h, ok := listed[pr.digits]; ok {
			out[pr.number] = h
			continue
		}
		for i := 1; i < len(pr.digits); i++ { // the shortest prefix listed
			if h, ok := listed["p"+pr.digits[:i]]; ok {
				out[pr.number] = h
				break
			}
		}
	}
	return out, nil
}
