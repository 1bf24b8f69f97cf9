package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// hooksKey holds every webhook's document (a hash: id -> JSON). Hooks are
// few and read whole by every dispatcher, so one key, outside any
// campaign's slot, is enough.
const hooksKey = "dialer:hooks"

// The events a webhook can ask for (seed 004 section 2, and the issue's
// additions).
const (
	HookOffering  = "offering"   // a call is offered to an agent
	HookBridged   = "bridged"    // agent and member connected
	HookMissed    = "missed"     // the agent did not answer
	HookEnded     = "ended"      // the call is over, with its classification
	HookMemberEnd = "member_end" // the member is finished
)

// IsHookEvent reports whether name is one of the events above.
func IsHookEvent(name string) bool {
	switch name {
	case HookOffering, HookBridged, HookMissed, HookEnded, HookMemberEnd:
		return true
	}
	return false
}

// Hook defaults and bounds. The bounds keep a hook from holding a
// campaign's outbox for ever (deadline) or a delivery lane for ever
// (timeout).
const (
	DefaultHookDelay    = 2.0     // seconds before the first retry; doubles on each
	DefaultHookTimeout  = 10.0    // seconds per request
	DefaultHookDeadline = 86400.0 // seconds after the event before it is dropped
	MaxHookDelay        = 3600.0
	MaxHookTimeout      = 300.0
	MaxHookDeadline     = 7 * 86400.0
	MaxHookRetries      = 1000
	MinHookSecretLen    = 16 // bytes: shorter keys are guessable
	MaxHookSecretLen    = 1024
	MaxHookURLLen       = 2048
	MaxHookHeaders      = 50
	minHookSeconds      = 0.001
)

// Hook is a webhook: which events, of which campaigns, go where. The
// document is the seeds' engine's (event, action with url, method and
// headers, retries, delay) plus what delivery needs.
type Hook struct {
	ID          string     `json:"_id"`
	Description string     `json:"description,omitempty"`
	Event       []string   `json:"event"`
	Action      HookAction `json:"action"`
	// Retries bounds the tries after the first; nil: retried until the
	// deadline.
	Retries  *int    `json:"retries,omitempty"`
	Delay    float64 `json:"delay"`    // seconds before the first retry, doubled on each
	Timeout  float64 `json:"timeout"`  // seconds per request
	Deadline float64 `json:"deadline"` // seconds after the event's time before it is dropped
	// Secret signs each body (HMAC-SHA256); the API never shows it.
	Secret   string `json:"secret,omitempty"`
	Campaign string `json:"campaign,omitempty"` // only this campaign's events; "": every campaign's
	Enabled  *bool  `json:"enabled,omitempty"`  // nil: true
	// EnabledAt is when the hook was created or last enabled: events that
	// happened before it are not sent, so enabling a hook never replays
	// what is left of older events.
	EnabledAt int64 `json:"enabledAt"`
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
}

// HookAction is where a hook's events go.
type HookAction struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"` // POST (default) or PUT
	Headers map[string]string `json:"headers,omitempty"`
}

// IsEnabled reports whether the hook delivers.
func (h *Hook) IsEnabled() bool { return h.Enabled == nil || *h.Enabled }

// Wants reports whether the hook takes an event of a campaign.
func (h *Hook) Wants(campaign, event string) bool {
	if !h.IsEnabled() || h.Campaign != "" && h.Campaign != campaign {
		return false
	}
	for _, e := range h.Event {
		if e == event {
			return true
		}
	}
	return false
}

// Normalize fills the defaults.
func (h *Hook) Normalize() {
	h.Action.Method = strings.ToUpper(strings.TrimSpace(h.Action.Method))
	if h.Action.Method == "" {
		h.Action.Method = "POST"
	}
	h.Action.URL = strings.TrimSpace(h.Action.URL)
	if h.Delay == 0 {
		h.Delay = DefaultHookDelay
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHookTimeout
	}
	if h.Deadline == 0 {
		h.Deadline = DefaultHookDeadline
	}
}

// reservedHeaders are set by the dialer or by HTTP itself: a hook that set
// them would break the request's framing or its signature.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "proxy-connection": true, "te": true, "trailer": true, "upgrade": true, "expect": true,
}

// Validate checks a hook; every field that is wrong is named.
func (h *Hook) Validate() error {
	var v validator
	checkText(&v, "description", h.Description, MaxNameLen)
	if len(h.Event) == 0 {
		v.add("event", "is required: one of offering, bridged, missed, ended, member_end, or a list of them")
	}
	for i, e := range h.Event {
		if !IsHookEvent(e) {
			v.add(fmt.Sprintf("event[%d]", i), "%q is not offering, bridged, missed, ended or member_end", clipText(e))
		}
	}
	checkHookURL(&v, h.Action.URL)
	v.check(h.Action.Method == "POST" || h.Action.Method == "PUT", "action.method", "%q is not POST or PUT", clipText(h.Action.Method))
	v.check(len(h.Action.Headers) <= MaxHookHeaders, "action.headers", "at most %d headers, are %d", MaxHookHeaders, len(h.Action.Headers))
	names := make([]string, 0, len(h.Action.Headers))
	for name := range h.Action.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		field := "action.headers." + name
		switch {
		case !httpToken(name) || len(name) > MaxNameLen:
			v.add(field, "a header name is letters, digits and !#$%%&'*+-.^_`|~ (at most %d), not %q", MaxNameLen, clipText(name))
		case reservedHeaders[strings.ToLower(name)] || strings.HasPrefix(strings.ToLower(name), "x-fsdialer-"):
			v.add(field, "is set by the dialer")
		}
		value := h.Action.Headers[name]
		switch {
		case len(value) > MaxTextLen:
			v.add(field, "a value must be at most %d bytes, is %d", MaxTextLen, len(value))
		case !headerValue(value):
			v.add(field, "a value must not contain control characters (line breaks, NUL)")
		}
	}
	if h.Retries != nil {
		v.check(*h.Retries >= 0 && *h.Retries <= MaxHookRetries, "retries", "must be 0 to %d (leave it out to retry until the deadline), is %d", MaxHookRetries, *h.Retries)
	}
	checkSeconds(&v, "delay", h.Delay, MaxHookDelay)
	checkSeconds(&v, "timeout", h.Timeout, MaxHookTimeout)
	checkSeconds(&v, "deadline", h.Deadline, MaxHookDeadline)
	if h.Secret != "" {
		v.check(len(h.Secret) >= MinHookSecretLen && len(h.Secret) <= MaxHookSecretLen, "secret",
			"must be %d to %d bytes, is %d", MinHookSecretLen, MaxHookSecretLen, len(h.Secret))
	}
	if h.Campaign != "" {
		checkText(&v, "campaign", h.Campaign, MaxIDLen)
		v.check(!strings.ContainsAny(h.Campaign, "{}"), "campaign", "is a campaign id, without braces")
	}
	return v.err()
}

func checkSeconds(v *validator, field string, s, max float64) {
	// NaN fails both comparisons.
	v.check(s >= minHookSeconds && s <= max, field, "must be seconds from %g to %g, is %g", minHookSeconds, max, s)
}

func checkHookURL(v *validator, s string) {
	const field = "action.url"
	if s == "" {
		v.add(field, "is required: an absolute http or https URL")
		return
	}
	if len(s) > MaxHookURLLen {
		v.add(field, "must be at most %d bytes, is %d", MaxHookURLLen, len(s))
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			v.add(field, "must not contain blanks or control characters (escape them: %%20)")
			return
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		v.add(field, "is not a URL: %v", err)
		return
	}
	scheme := strings.ToLower(u.Scheme)
	v.check(scheme == "http" || scheme == "https", field, "must be an absolute http or https URL, not %q", clipText(s))
	if scheme == "http" || scheme == "https" {
		v.check(u.Hostname() != "", field, "has no host")
	}
}

// httpToken reports whether s is an RFC 9110 token, which a header name is.
func httpToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// headerValue reports whether s can be sent as a header's value: no control
// character but the tab, so no value can end the header or the head.
func headerValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func clipText(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// checkHook validates a hook and that the campaign it names exists.
func (s *Store) checkHook(ctx context.Context, h *Hook) error {
	err := h.Validate()
	if h.Campaign != "" && !errors.Is(err, ErrInvalid) {
		n, rerr := s.rdb.Exists(ctx, key(h.Campaign, "campaign")).Result()
		if rerr != nil {
			return wrapRedis("check the hook's campaign", rerr)
		}
		if n == 0 {
			return &ValidationError{Errors: []FieldError{{Field: "campaign", Message: fmt.Sprintf("no campaign has id %q", h.Campaign)}}}
		}
	}
	return err
}

// CreateHook validates a hook, gives it an id and stores it.
func (s *Store) CreateHook(ctx context.Context, h *Hook, now time.Time) error {
	h.ID = NewID()
	h.CreatedAt, h.UpdatedAt, h.EnabledAt = now.UnixMilli(), now.UnixMilli(), now.UnixMilli()
	h.Normalize()
	if err := s.checkHook(ctx, h); err != nil {
		return err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("create hook: %w", err)
	}
	ok, err := s.rdb.HSetNX(ctx, hooksKey, h.ID, b).Result()
	if err == nil && !ok {
		return fmt.Errorf("hook %s: %w: exists", h.ID, ErrConflict)
	}
	return wrapRedis("create hook", err)
}

// ReplaceHook replaces a hook's document. Its creation time stays; with
// keepSecret its secret stays too (a client never sees it, so cannot send
// it back). Enabling a disabled hook starts it from now: it is not sent
// what happened while it was off.
func (s *Store) ReplaceHook(ctx context.Context, h *Hook, keepSecret bool, now time.Time) error {
	h.Normalize()
	txf := func(tx *redis.Tx) error {
		b, err := tx.HGet(ctx, hooksKey, h.ID).Bytes()
		if err != nil {
			return wrapRedis("hook "+h.ID, err)
		}
		var cur Hook
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("hook %s: stored document: %w", h.ID, err)
		}
		h.CreatedAt, h.UpdatedAt, h.EnabledAt = cur.CreatedAt, now.UnixMilli(), cur.EnabledAt
		if keepSecret {
			h.Secret = cur.Secret
		}
		if h.IsEnabled() && !cur.IsEnabled() {
			h.EnabledAt = now.UnixMilli()
		}
		if err := s.checkHook(ctx, h); err != nil {
			return err
		}
		nb, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("hook %s: %w", h.ID, err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, hooksKey, h.ID, nb)
			return nil
		})
		return wrapRedis("replace hook "+h.ID, err)
	}
	for i := 0; i < 10; i++ {
		err := s.rdb.Watch(ctx, txf, hooksKey)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil && redisUnavailable(err) && !errors.Is(err, ErrUnavailable) { // from WATCH itself
			err = fmt.Errorf("replace hook %s: %w: %w", h.ID, ErrUnavailable, err)
		}
		return err
	}
	return fmt.Errorf("replace hook %s: %w: too many concurrent updates", h.ID, ErrConflict)
}

// GetHook returns a hook.
func (s *Store) GetHook(ctx context.Context, id string) (*Hook, error) {
	return hashDoc[Hook](ctx, s, hooksKey, id, "hook")
}

// ListHooks returns every hook, oldest first.
func (s *Store) ListHooks(ctx context.Context) ([]*Hook, error) {
	out, err := hashDocs[Hook](ctx, s, hooksKey, "hook")
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt < out[j].CreatedAt || out[i].CreatedAt == out[j].CreatedAt && out[i].ID < out[j].ID
	})
	return out, nil
}

// DeleteHook removes a hook. Its undelivered events are forgotten by the
// dispatchers' next trim.
func (s *Store) DeleteHook(ctx context.Context, id string) error {
	n, err := s.rdb.HDel(ctx, hooksKey, id).Result()
	if err != nil {
		return wrapRedis("delete hook", err)
	}
	if n == 0 {
		return fmt.Errorf("hook %s: %w", id, ErrNotFound)
	}
	return nil
}
