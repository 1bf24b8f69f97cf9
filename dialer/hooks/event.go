// Package hooks delivers the dialer's call events to CRMs' webhooks: the
// engine appends events to a campaign's outbox in Redis (with the member
// write they belong to, or on their own), and a Dispatcher sends each to
// every hook that asks for it, at least once, in order per member, with
// retries, a deadline and a signature.
//
// # Delivery
//
// Each (hook, campaign) pair is a lane, served by one dispatcher at a time
// (a lease in Redis, renewed; several dialers may share one Redis). A lane
// reads the campaign's outbox in the order the events were written and
// sends them through a pipeline of stages, as Alertmanager's notifier
// does: filter (the hook's events, campaign and enabledAt), dedup (an
// event id already finished), sign, then retry (a request with the hook's
// timeout, retried with exponential backoff and jitter until the hook's
// retries or deadline run out, when the event is dropped and counted). An
// event is marked finished in Redis only after a 2xx answer (or its drop),
// so a restart resends what was not answered: receivers de-duplicate by
// the event's id. Events of one member go one at a time, in order; other
// members' events go on meanwhile (Config.Parallel), so a slow call never
// holds the others and a receiver that is down holds only its own hook.
//
// # Signature
//
// A hook with a secret gets
//
//	X-Fsdialer-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
//
// over the exact bytes of the body. A receiver computes the same over the
// raw body it read (before any JSON parsing), compares in constant time
// (Verify does), and then de-duplicates by X-Fsdialer-Event-Id (the body's
// id, which the signature covers, as it covers the body's time: a replayed
// request is a duplicate). X-Fsdialer-Timestamp is when this try was sent
// (Unix seconds, not signed); X-Fsdialer-Attempt counts the tries.
package hooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// The events (seed 004 section 2: offering and bridged; the issue adds
// the rest).
const (
	Offering  = store.HookOffering  // a call is offered to an agent
	Bridged   = store.HookBridged   // agent and member connected
	Missed    = store.HookMissed    // the agent did not answer
	Ended     = store.HookEnded     // the call is over, with its classification
	MemberEnd = store.HookMemberEnd // the member is finished
)

// The directions of calls: the dialer's, and callers' who called in.
const (
	Outbound = "outbound"
	Inbound  = "inbound"
)

// Event is the body a hook receives, in the seed's names.
type Event struct {
	ID         string         `json:"id"` // unique: receivers de-duplicate by it
	Event      string         `json:"event"`
	Direction  string         `json:"direction"`
	Queue      string         `json:"queue"` // the campaign id
	QueueName  string         `json:"queue_name,omitempty"`
	Member     string         `json:"member"`
	MemberName string         `json:"member_name,omitempty"`
	Attempt    string         `json:"attempt,omitempty"`
	UUID       string         `json:"uuid,omitempty"` // the member's channel
	Agent      *Agent         `json:"agent,omitempty"`
	CID        string         `json:"cid,omitempty"` // the member's number
	Time       int64          `json:"time"`          // ms since the epoch
	Variables  map[string]any `json:"variables,omitempty"`
	// Preview: an offering of preview dialing, shown to the agent before
	// anything is dialed (they accept or skip it).
	Preview bool `json:"preview,omitempty"`
	// ended and member_end
	Cause      string `json:"cause,omitempty"`     // the hangup cause
	Outcome    string `json:"outcome,omitempty"`   // the attempt's classification
	EndCause   string `json:"end_cause,omitempty"` // why the member is finished
	BillMsec   *int64 `json:"bill_msec,omitempty"`
	AnsweredAt *int64 `json:"answered_at,omitempty"` // ms since the epoch; 0: never answered
}

// Agent is the agent of an offering, bridged or missed event.
type Agent struct {
	ID        string `json:"id"`
	Extension string `json:"extension,omitempty"`
}

// Call is what every event of one call says: the campaign, the member and
// the attempt. A member_end without a call (a member terminated through
// the API) leaves Attempt, UUID and CID empty.
type Call struct {
	Campaign, CampaignName string
	Member, MemberName     string
	Attempt, UUID          string
	CID                    string
	Variables              map[string]any // the member's
	Inbound                bool           // the member called in
}

// End is how a call or a member ended.
type End struct {
	Cause      string // the hangup cause
	Outcome    string // the attempt's classification
	EndCause   string // the member's end cause (member_end; ended when the call ended the member)
	BillMsec   int64
	AnsweredAt int64 // ms since the epoch; 0: never answered
}

// NewEvent returns an event of a call, with a new id.
func NewEvent(name string, c Call, at time.Time) Event {
	direction := Outbound
	if c.Inbound {
		direction = Inbound
	}
	return Event{ID: newID(), Event: name, Direction: direction, Queue: c.Campaign, QueueName: c.CampaignName,
		Member: c.Member, MemberName: c.MemberName, Attempt: c.Attempt, UUID: c.UUID, CID: c.CID,
		Time: at.UnixMilli(), Variables: c.Variables}
}

// NewOffering is a call offered to an agent.
func NewOffering(c Call, a Agent, at time.Time) Event { return withAgent(NewEvent(Offering, c, at), a) }

// NewBridged is an agent connected to the member.
func NewBridged(c Call, a Agent, at time.Time) Event { return withAgent(NewEvent(Bridged, c, at), a) }

// NewMissed is an agent who did not answer an offered call.
func NewMissed(c Call, a Agent, at time.Time) Event { return withAgent(NewEvent(Missed, c, at), a) }

// NewEnded is a call that is over, with its classification.
func NewEnded(c Call, e End, at time.Time) Event { return withEnd(NewEvent(Ended, c, at), e) }

// NewMemberEnd is a member that is finished (e.EndCause: NORMAL_CLEARING,
// MAX_TRY_COUNT, MEMBER_EXPIRED, TERMINATED ...).
func NewMemberEnd(c Call, e End, at time.Time) Event { return withEnd(NewEvent(MemberEnd, c, at), e) }

func withAgent(ev Event, a Agent) Event {
	ev.Agent = &a
	return ev
}

func withEnd(ev Event, e End) Event {
	bill, answered := e.BillMsec, e.AnsweredAt
	ev.Cause, ev.Outcome, ev.EndCause, ev.BillMsec, ev.AnsweredAt = e.Cause, e.Outcome, e.EndCause, &bill, &answered
	return ev
}

// Marshal encodes events for store.Write.Outbox or store.AppendOutbox.
func Marshal(events ...Event) ([][]byte, error) {
	out := make([][]byte, len(events))
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("event %s %s of member %s: %w", ev.Event, ev.ID, ev.Member, err)
		}
		out[i] = b
	}
	return out, nil
}

// Append adds events of one campaign to its outbox, in order, all or
// none. Events that come with a member write go in its store.Write.Outbox
// instead (see Marshal), so they are stored if and only if it is.
func Append(ctx context.Context, st *store.Store, campaign string, events ...Event) error {
	bodies, err := Marshal(events...)
	if err != nil {
		return err
	}
	return st.AppendOutbox(ctx, campaign, bodies...)
}

// newID is 128 random bits: unique without coordination between dialers.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Sign returns the X-Fsdialer-Signature value of a body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (the X-Fsdialer-Signature header) is
// the secret's over body, in constant time: what a receiver in Go does.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}
