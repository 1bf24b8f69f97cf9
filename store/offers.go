package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Offer is a member shown to an agent before anything is dialed (preview
// dialing): the agent accepts it (the call is placed) or skips it (the
// member goes back, no attempt counted). It is kept in Redis so any API
// instance can show it and take the agent's answer, whichever dialer runs
// the campaign.
type Offer struct {
	Agent     string `json:"agent"`
	Campaign  string `json:"campaign"`
	Attempt   string `json:"attempt"`
	Member    string `json:"member"`
	Name      string `json:"member_name,omitempty"`
	Number    string `json:"number"`
	OfferedAt int64  `json:"offered_at"` // ms since the epoch
	ExpiresAt int64  `json:"expires_at"` // ms: then OnTimeout applies
	OnTimeout string `json:"on_timeout"` // PreviewSkip or PreviewDial
	// Decision is the agent's answer, once given: PreviewAccept or
	// PreviewSkip, with the reason given for a skip.
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// An agent's answers to an offer, and what a campaign does with an offer
// left unanswered.
const (
	PreviewAccept = "accept"
	PreviewSkip   = "skip"
	PreviewDial   = "dial"
)

const (
	offersKey        = "dialer:{agents}:offers"         // hash: agent -> Offer JSON
	offerAttemptsKey = "dialer:{agents}:offer-attempts" // hash: agent -> attempt
	offerDecisionKey = "dialer:{agents}:offer-decided"  // hash: attempt -> "decision reason"
)

// PutOffer shows an offer to its agent (the agent's reservation holds it).
func (s *Store) PutOffer(ctx context.Context, o *Offer) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("offer to %s: %w", o.Agent, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, offersKey, o.Agent, b)
		p.HSet(ctx, offerAttemptsKey, o.Agent, o.Attempt)
		return nil
	})
	return wrapRedis("offer to "+o.Agent, err)
}

// GetOffer returns the offer an agent has, with its answer if given;
// ErrNotFound when it has none.
func (s *Store) GetOffer(ctx context.Context, agent string) (*Offer, error) {
	raw, err := s.rdb.HGet(ctx, offersKey, agent).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("agent %s: %w: no offer", agent, ErrNotFound)
	}
	if err != nil {
		return nil, wrapRedis("offer of "+agent, err)
	}
	var o Offer
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, fmt.Errorf("offer of %s: %w", agent, err)
	}
	d, err := s.rdb.HGet(ctx, offerDecisionKey, o.Attempt).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapRedis("offer of "+agent, err)
	}
	o.Decision, o.Reason, _ = strings.Cut(d, " ")
	return &o, nil
}

// DecideOffer records an agent's answer to their offer: the first answer
// stands (ErrConflict for another), ErrNotFound when they have no offer.
func (s *Store) DecideOffer(ctx context.Context, agent, decision, reason string) (*Offer, error) {
	reply, err := decideOfferScript.Run(ctx, s.rdb, []string{offerAttemptsKey, offerDecisionKey}, agent, decision+" "+reason).Text()
	if err != nil {
		return nil, wrapRedis("answer of "+agent, err)
	}
	o, err := s.GetOffer(ctx, agent)
	switch {
	case reply == "NOT_FOUND" || errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("agent %s: %w: no offer", agent, ErrNotFound)
	case err != nil:
		return nil, err
	case reply != "OK":
		return o, fmt.Errorf("agent %s: %w: the offer was already answered (%s)", agent, ErrConflict, o.Decision)
	}
	return o, nil
}

// decideOfferScript sets the answer to an agent's offer unless it has one.
// KEYS: offer-attempts offer-decided  ARGV: agent "decision reason"
var decideOfferScript = redis.NewScript(`
local attempt = redis.call('HGET', KEYS[1], ARGV[1])
if not attempt then return 'NOT_FOUND' end
if redis.call('HSETNX', KEYS[2], attempt, ARGV[2]) == 0 then return 'DECIDED' end
return 'OK'`)

// OfferDecision returns the answer given to an attempt's offer ("" while
// none).
func (s *Store) OfferDecision(ctx context.Context, attempt string) (decision, reason string, err error) {
	d, err := s.rdb.HGet(ctx, offerDecisionKey, attempt).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", nil
	}
	if err != nil {
		return "", "", wrapRedis("answer to "+attempt, err)
	}
	decision, reason, _ = strings.Cut(d, " ")
	return decision, reason, nil
}

// DropOffer removes an attempt's offer once it is answered or over; an
// agent's newer offer stays.
func (s *Store) DropOffer(ctx context.Context, agent, attempt string) error {
	err := dropOfferScript.Run(ctx, s.rdb, []string{offersKey, offerAttemptsKey, offerDecisionKey}, agent, attempt).Err()
	return wrapRedis("drop the offer of "+agent, err)
}

// dropOfferScript: KEYS offers offer-attempts offer-decided  ARGV agent attempt
var dropOfferScript = redis.NewScript(`
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
redis.call('HDEL', KEYS[3], ARGV[2])
return 1`)
