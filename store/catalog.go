package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// CreateCampaign validates a campaign, gives it an id and stores it.
func (s *Store) CreateCampaign(ctx context.Context, c *Campaign, now time.Time) error {
	c.ID = NewID()
	c.State = StateIdle
	c.CreatedAt, c.UpdatedAt = now.UnixMilli(), now.UnixMilli()
	c.Normalize()
	if err := s.checkCampaign(ctx, c); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	// The document first, the index second: a crash in between leaves an
	// unlisted campaign, never a listed one without a document.
	if err := s.rdb.Set(ctx, key(c.ID, "campaign"), b, 0).Err(); err != nil {
		return wrapRedis("create campaign", err)
	}
	return wrapRedis("create campaign", s.rdb.ZAdd(ctx, campaignIndexKey, redis.Z{Score: float64(c.CreatedAt), Member: c.ID}).Err())
}

// checkCampaign validates a campaign and that its calendar exists.
func (s *Store) checkCampaign(ctx context.Context, c *Campaign) error {
	err := c.Validate()
	if c.Calendar.ID != "" {
		ok, rerr := s.rdb.HExists(ctx, calendarsKey, c.Calendar.ID).Result()
		if rerr != nil {
			return wrapRedis("check calendar", rerr)
		}
		if !ok {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				ve = &ValidationError{}
			}
			ve.Errors = append(ve.Errors, FieldError{Field: "calendar.id", Message: fmt.Sprintf("no calendar has id %q", c.Calendar.ID)})
			return ve
		}
	}
	return err
}

// GetCampaign returns a campaign.
func (s *Store) GetCampaign(ctx context.Context, id string) (*Campaign, error) {
	b, err := s.rdb.Get(ctx, key(id, "campaign")).Bytes()
	if err != nil {
		return nil, wrapRedis("campaign "+id, err)
	}
	var c Campaign
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("campaign %s: stored document: %w", id, err)
	}
	return &c, nil
}

// UpdateCampaign changes a campaign with fn, atomically against concurrent
// updates. fn sees the stored campaign and changes it in place; the id,
// creation time and (unless fn is a state change) the state stay.
func (s *Store) UpdateCampaign(ctx context.Context, id string, now time.Time, fn func(c *Campaign) error) (*Campaign, error) {
	return s.updateCampaign(ctx, id, now, fn, true)
}

func (s *Store) updateCampaign(ctx context.Context, id string, now time.Time, fn func(c *Campaign) error, check bool) (*Campaign, error) {
	k := key(id, "campaign")
	var out *Campaign
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, k).Bytes()
		if err != nil {
			return wrapRedis("campaign "+id, err)
		}
		var c Campaign
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("campaign %s: stored document: %w", id, err)
		}
		created := c.CreatedAt
		if err := fn(&c); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.UpdatedAt = id, created, now.UnixMilli()
		c.Normalize()
		if check {
			if err := s.checkCampaign(ctx, &c); err != nil {
				return err
			}
		}
		nb, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, k, nb, 0)
			return nil
		})
		out = &c
		return err
	}
	for i := 0; i < 10; i++ {
		err := s.rdb.Watch(ctx, txf, k)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			if redisUnavailable(err) { // from WATCH itself, not from the update
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return nil, fmt.Errorf("update campaign %s: %w", id, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("update campaign %s: %w: too many concurrent updates", id, ErrConflict)
}

// SetCampaignState changes only a campaign's state.
// Only a start checks the campaign: stopping or finishing one must work
// whatever became of it (its calendar deleted, a field stored before a
// check the API now makes).
func (s *Store) SetCampaignState(ctx context.Context, id, state string, now time.Time) (*Campaign, error) {
	switch state {
	case StateIdle, StateRunning, StateStopped, StateFinished:
	default:
		return nil, &ValidationError{Errors: []FieldError{{Field: "state", Message: fmt.Sprintf("%q is not a campaign state", state)}}}
	}
	return s.updateCampaign(ctx, id, now, func(c *Campaign) error {
		c.State = state
		return nil
	}, state == StateRunning)
}

// DeleteCampaign removes a campaign and everything it holds.
func (s *Store) DeleteCampaign(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, campaignIndexKey, id).Err(); err != nil {
		return wrapRedis("delete campaign "+id, err)
	}
	keys := append(keysOf(id).all(), key(id, "campaign"), key(id, "seq"), key(id, "runner"))
	n, err := s.rdb.Del(ctx, keys...).Result()
	if err != nil {
		return wrapRedis("delete campaign "+id, err)
	}
	if n == 0 {
		return fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListCampaigns returns campaigns by creation, and how many there are.
func (s *Store) ListCampaigns(ctx context.Context, offset, limit int) ([]*Campaign, int, error) {
	total, err := s.rdb.ZCard(ctx, campaignIndexKey).Result()
	if err != nil {
		return nil, 0, wrapRedis("list campaigns", err)
	}
	ids, err := s.rdb.ZRange(ctx, campaignIndexKey, int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, 0, wrapRedis("list campaigns", err)
	}
	out := make([]*Campaign, 0, len(ids))
	for _, id := range ids { // campaigns live in different slots: one GET each
		c, err := s.GetCampaign(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, int(total), nil
}

// CampaignIDs returns every campaign id.
func (s *Store) CampaignIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, campaignIndexKey, 0, -1).Result()
	return ids, wrapRedis("campaign ids", err)
}

// CreateCalendar validates and stores a new calendar.
func (s *Store) CreateCalendar(ctx context.Context, c *Calendar, now time.Time) error {
	c.ID = NewID()
	c.CreatedAt, c.UpdatedAt = now.UnixMilli(), now.UnixMilli()
	return s.putCalendar(ctx, c, true)
}

// UpdateCalendar replaces a calendar.
func (s *Store) UpdateCalendar(ctx context.Context, c *Calendar, now time.Time) error {
	old, err := s.GetCalendar(ctx, c.ID)
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = old.CreatedAt, now.UnixMilli()
	return s.putCalendar(ctx, c, false)
}

func (s *Store) putCalendar(ctx context.Context, c *Calendar, create bool) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if create {
		ok, err := s.rdb.HSetNX(ctx, calendarsKey, c.ID, b).Result()
		if err == nil && !ok {
			return fmt.Errorf("calendar %s: %w: exists", c.ID, ErrConflict)
		}
		return wrapRedis("create calendar", err)
	}
	return wrapRedis("update calendar", s.rdb.HSet(ctx, calendarsKey, c.ID, b).Err())
}

// GetCalendar returns a calendar.
func (s *Store) GetCalendar(ctx context.Context, id string) (*Calendar, error) {
	return hashDoc[Calendar](ctx, s, calendarsKey, id, "calendar")
}

// ListCalendars returns every calendar by name.
func (s *Store) ListCalendars(ctx context.Context) ([]*Calendar, error) {
	out, err := hashDocs[Calendar](ctx, s, calendarsKey, "calendar")
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out, nil
}

// DeleteCalendar removes a calendar no campaign uses.
func (s *Store) DeleteCalendar(ctx context.Context, id string) error {
	ids, err := s.CampaignIDs(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, cid := range ids {
		c, err := s.GetCampaign(ctx, cid)
		if err == nil && c.Calendar.ID == id {
			users = append(users, cid)
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("calendar %s: %w: used by campaigns %s", id, ErrConflict, strings.Join(users, ", "))
	}
	n, err := s.rdb.HDel(ctx, calendarsKey, id).Result()
	if err != nil {
		return wrapRedis("delete calendar", err)
	}
	if n == 0 {
		return fmt.Errorf("calendar %s: %w", id, ErrNotFound)
	}
	return nil
}

// hashDoc reads the JSON document stored under field id of a hash; what
// names it in errors.
func hashDoc[T any](ctx context.Context, s *Store, key, id, what string) (*T, error) {
	b, err := s.rdb.HGet(ctx, key, id).Bytes()
	if err != nil {
		return nil, wrapRedis(what+" "+id, err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s %s: stored document: %w", what, id, err)
	}
	return &v, nil
}

// hashDocs reads every JSON document of a hash, in no order.
func hashDocs[T any](ctx context.Context, s *Store, key, what string) ([]*T, error) {
	all, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, wrapRedis("read every "+what, err)
	}
	out := make([]*T, 0, len(all))
	for id, b := range all {
		var v T
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, fmt.Errorf("%s %s: stored document: %w", what, id, err)
		}
		out = append(out, &v)
	}
	return out, nil
}
