package store

import (
	"context"
	"time"
)

// ClaimAs runs a claim under a given request token, as a client resending
// the same call would.
func (s *Store) ClaimAs(ctx context.Context, campaign string, n int, now, leaseUntil time.Time, token string) ([]Claimed, error) {
	return s.claim(ctx, campaign, n, now, leaseUntil, token)
}

// TakeLapsedAs runs a take of lapsed leases under a given request token.
func (s *Store) TakeLapsedAs(ctx context.Context, campaign string, limit int, now, leaseUntil time.Time, token string) ([]Claimed, error) {
	return s.takeAs(ctx, campaign, keysOf(campaign).leased, limit, now, leaseUntil, token)
}
