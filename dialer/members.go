package dialer

import (
	"context"
	"errors"
	"fmt"

	"github.com/fsdialer/fsdialer/dialer/attempt"
	"github.com/fsdialer/fsdialer/store"
)

// AddMembers inserts members into a campaign (see store.InsertMembers) and
// wakes its runner; with autoRun a campaign that is not running is started.
func (e *Engine) AddMembers(ctx context.Context, campaignID string, members []*store.Member, autoRun bool) ([]store.InsertResult, error) {
	c, err := e.st.GetCampaign(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	res, err := e.st.InsertMembers(ctx, c, members, e.clock.Now())
	if err != nil {
		return nil, err
	}
	if autoRun && c.State != store.StateRunning {
		if _, err := e.StartCampaign(ctx, campaignID); err != nil {
			return res, fmt.Errorf("members added, campaign not started: %w", err)
		}
	}
	e.Wake()
	return res, nil
}

// rulesOf prepares a campaign's rules outside its loop.
func (e *Engine) rulesOf(ctx context.Context, campaignID string) (*store.Campaign, *rules, error) {
	c, err := e.st.GetCampaign(ctx, campaignID)
	if err != nil {
		return nil, nil, err
	}
	p, err := buildPlan(ctx, e.st, c)
	if err != nil {
		return nil, nil, err
	}
	return c, p.rules, nil
}

// memberEdit changes a member read in a given state; it returns an error to
// refuse the change.
type memberEdit func(m *store.Member, state string, r *rules) error

// editMember reads a member, applies edit and writes it back, placed where
// its new record says, or kept where it is while it is being called. A
// member changed meanwhile is read again and the edit redone.
func (e *Engine) editMember(ctx context.Context, campaignID, memberID string, edit memberEdit) (*store.Member, string, error) {
	c, r, err := e.rulesOf(ctx, campaignID)
	if err != nil {
		return nil, "", err
	}
	for try := 0; try < 10; try++ {
		m, state, err := e.st.GetMember(ctx, campaignID, memberID)
		if err != nil {
			return nil, "", err
		}
		old := cloneMember(m)
		if err := edit(m, state, r); err != nil {
			return nil, "", err
		}
		now := e.clock.Now()
		m.UpdatedAt = now.UnixMilli()
		place := store.PlaceMember(c.MembersStrategy, m, now)
		if state == store.MemberLeased {
			place = store.Placement{Place: "keep"}
		}
		w := &store.Write{Member: m, ExpectV: old.V, Placement: place, AddNumbers: addedNumbers(old, m), DelNumbers: addedNumbers(m, old)}
		if m.EndCause != "" && old.EndCause == "" {
			w.Stats = map[string]int64{"end:" + m.EndCause: 1, "finished": 1}
			w.Outbox = e.outcomeEvents(c, m, nil, nil, attempt.Outcome{NotPlaced: true}, verdict{}, now)
		}
		err = e.st.WriteMember(ctx, campaignID, w)
		switch {
		case err == nil:
			if place.Place != "keep" {
				state = place.Place
			}
			if len(w.Outbox) > 0 {
				e.notifyHooks(campaignID)
			}
			e.Wake()
			return m, state, nil
		case errors.Is(err, store.ErrChanged), errors.Is(err, store.ErrBeingCalled):
			e.m.WriteConflicts.Inc()
			continue // read it again: it changed or a dialer took it
		default:
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("member %s: %w: too many concurrent changes", memberID, store.ErrConflict)
}

func refuseDone(m *store.Member, state string) error {
	if state == store.MemberDone {
		return fmt.Errorf("member %s: %w: it has ended (%s)", m.ID, store.ErrConflict, m.EndCause)
	}
	return nil
}

// UpdateMember replaces what a member is (name, priority, time zone,
// variables, expiry, bucket, numbers) and keeps what happened to it: the
// counters of the numbers it keeps, its attempts and history.
func (e *Engine) UpdateMember(ctx context.Context, campaignID, memberID string, upd *store.Member) (*store.Member, string, error) {
	upd.Normalize()
	if err := upd.Validate(); err != nil {
		return nil, "", err
	}
	return e.editMember(ctx, campaignID, memberID, func(m *store.Member, _ string, _ *rules) error {
		comms := make([]store.Communication, len(upd.Communications))
		for i, cm := range upd.Communications {
			if j := indexOfNumber(m, cm.Number); j >= 0 {
				kept := m.Communications[j]
				kept.Priority, kept.Type, kept.Description = cm.Priority, cm.Type, cm.Description
				cm = kept
			}
			comms[i] = cm
		}
		m.Name, m.Priority, m.Timezone, m.Variables = upd.Name, upd.Priority, upd.Timezone, upd.Variables
		m.Expire, m.Bucket, m.Communications = upd.Expire, upd.Bucket, comms
		return nil
	})
}

// DeleteMember removes a member; a call in progress goes on, and its end
// is then ignored.
func (e *Engine) DeleteMember(ctx context.Context, campaignID, memberID string) error {
	m, _, err := e.st.GetMember(ctx, campaignID, memberID)
	if err != nil {
		return err
	}
	numbers := make([]string, len(m.Communications))
	for i, cm := range m.Communications {
		numbers[i] = cm.Number
	}
	err = e.st.WriteMember(ctx, campaignID, &store.Write{Member: m, Placement: store.Placement{Place: "delete"}, DelNumbers: numbers})
	if errors.Is(err, store.ErrBeingCalled) {
		return fmt.Errorf("%w; terminate it to stop further calls, or delete it when the call ends", err)
	}
	return err
}

// TerminateMember stops dialing a member and keeps it (seed 003
// "terminate"): it ends TERMINATED, after the call in progress if any.
func (e *Engine) TerminateMember(ctx context.Context, campaignID, memberID string) (*store.Member, string, error) {
	return e.editMember(ctx, campaignID, memberID, func(m *store.Member, state string, _ *rules) error {
		if err := refuseDone(m, state); err != nil {
			return err
		}
		if state == store.MemberLeased {
			m.Terminate = true
			return nil
		}
		m.EndCause, m.WaitingResult, m.ResultDeadline = EndTerminated, "", 0
		return nil
	})
}

// ResetRetries clears a member's attempts on every number so it is dialed
// from the beginning; a member that ended by its attempts (MAX_TRY_COUNT),
// or because its data could not be sent (DIALER_INVALID_MEMBER, once
// fixed), is dialed again.
func (e *Engine) ResetRetries(ctx context.Context, campaignID, memberID string) (*store.Member, string, error) {
	return e.editMember(ctx, campaignID, memberID, func(m *store.Member, state string, _ *rules) error {
		revivable := m.EndCause == EndMaxTryCount || m.EndCause == EndInvalidMember
		if state == store.MemberDone && !revivable {
			return refuseDone(m, state)
		}
		m.Attempts, m.Round = 0, 0
		for i := range m.Communications {
			cm := &m.Communications[i]
			cm.Attempts, cm.RangeAttempts, cm.RangeDay = 0, nil, ""
		}
		if revivable {
			m.EndCause, m.NextTryAt = "", 0
		}
		return nil
	})
}

// SubmitResult applies a call result (seed 000/002/003) to a member. A
// member awaiting one gets it at once; one still in its call gets it when
// the call ends; one that ended refuses it. Numbers to stop that are not
// the member's are ignored: ignored says which, and why.
func (e *Engine) SubmitResult(ctx context.Context, campaignID, memberID string, res store.CallResult) (m *store.Member, state string, ignored []string, err error) {
	if res.NextCommunication != "" {
		n, err := store.NormalizeNumber(res.NextCommunication)
		if err != nil {
			return nil, "", nil, &store.ValidationError{Errors: []store.FieldError{{Field: "next_communication", Message: err.Error()}}}
		}
		owner, err := e.st.MemberIDByNumber(ctx, campaignID, n)
		switch {
		case err == nil && owner != memberID:
			return nil, "", nil, fmt.Errorf("next_communication: %w", &store.DuplicateNumberError{Number: n, Member: owner})
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, "", nil, err
		}
	}
	m, state, err = e.editMember(ctx, campaignID, memberID, func(m *store.Member, state string, r *rules) error {
		if err := refuseDone(m, state); err != nil {
			return err
		}
		if state == store.MemberReady || state == store.MemberWaiting {
			// A result answers a call: one for a member in no call and
			// awaiting none would count an attempt never made. Checked on
			// the member as written over, so no call starts or ends between.
			return &NoResultAwaitedError{Member: m.ID, State: state}
		}
		var err error
		if ignored, err = checkResult(m, res); err != nil {
			var re *ResultError
			errors.As(err, &re)
			return &store.ValidationError{Errors: []store.FieldError{{Field: re.Field, Message: re.Message}}}
		}
		if state == store.MemberLeased {
			pending := res
			m.PendingResult = &pending
			return nil
		}
		r.applyResult(m, res, e.clock.Now())
		return nil
	})
	return m, state, ignored, err
}

// NoResultAwaitedError refuses a call result for a member that is neither
// in a call nor waiting for a result; a conflict.
type NoResultAwaitedError struct {
	Member, State string
}

func (e *NoResultAwaitedError) Error() string {
	return fmt.Sprintf("no call result is awaited for member %s: it is not in a call and not waiting for a result (it is %s)", e.Member, e.State)
}

// Unwrap makes it a store.ErrConflict.
func (e *NoResultAwaitedError) Unwrap() error { return store.ErrConflict }
