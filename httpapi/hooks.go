package httpapi

import (
	"errors"
	"fmt"
	"math"

	"github.com/labstack/echo/v4"

	"github.com/fsdialer/fsdialer/store"
)

// The webhooks resource, /api/v2/hooks (seed 004 section 2): which call
// events go to which CRM URL. Every route needs a write token, reads too:
// a hook's headers usually carry the CRM's credentials. Its secret is never
// shown.

// secretKept is what the API shows for a secret, and what a PUT may send
// back to keep it.
const secretKept = "set"

// hookIn is a hook as a client sends it: event is a name or a list of
// names (the seeds' engine takes one event per hook), durations are
// seconds and may have decimals.
type hookIn struct {
	Description string       `json:"description"`
	Event       any          `json:"event"`
	Action      hookActionIn `json:"action"`
	Retries     *int         `json:"retries"`
	Delay       *float64     `json:"delay"`
	Timeout     *float64     `json:"timeout"`
	Deadline    *float64     `json:"deadline"`
	Secret      *string      `json:"secret"`
	Campaign    string       `json:"campaign"`
	Enabled     *bool        `json:"enabled"`
}

type hookActionIn struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers,omitempty"`
}

// hook converts to the store's hook, with what only the body's shape can
// tell wrong: an event that is neither a name nor a list of names, a
// duration given as 0 (which the store would take for "the default").
func (in *hookIn) hook() (*store.Hook, []store.FieldError) {
	var bad []store.FieldError
	h := &store.Hook{Description: in.Description, Retries: in.Retries, Campaign: in.Campaign, Enabled: in.Enabled,
		Action: store.HookAction{URL: in.Action.URL, Method: in.Action.Method, Headers: in.Action.Headers}}
	h.Event, bad = eventNames(in.Event)
	for _, d := range []struct {
		field string
		in    *float64
		out   *float64
	}{{"delay", in.Delay, &h.Delay}, {"timeout", in.Timeout, &h.Timeout}, {"deadline", in.Deadline, &h.Deadline}} {
		if d.in == nil {
			continue
		}
		if *d.in <= 0 || math.IsNaN(*d.in) {
			bad = append(bad, store.FieldError{Field: d.field, Message: fmt.Sprintf("must be seconds above 0, is %g (leave it out for the default)", *d.in)})
			continue
		}
		*d.out = *d.in
	}
	if in.Secret != nil {
		h.Secret = *in.Secret
	}
	return h, bad
}

// eventNames reads event: "ended" or ["ended", "member_end"].
func eventNames(v any) ([]string, []store.FieldError) {
	switch x := v.(type) {
	case nil:
		return nil, nil // the store names it as missing
	case string:
		return []string{x}, nil
	case []any:
		names := make([]string, 0, len(x))
		var bad []store.FieldError
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				bad = append(bad, store.FieldError{Field: fmt.Sprintf("event[%d]", i), Message: "must be an event name, not " + describe(e)})
				continue
			}
			names = append(names, s)
		}
		if len(x) == 0 {
			bad = append(bad, store.FieldError{Field: "event", Message: "is an empty list: name at least one of offering, bridged, missed, ended, member_end"})
		}
		return names, bad
	}
	return nil, []store.FieldError{{Field: "event", Message: "must be an event name or a list of them, not " + describe(v)}}
}

// hookOut is a hook as the API shows it: never its secret.
type hookOut struct {
	ID          string       `json:"_id"`
	Description string       `json:"description,omitempty"`
	Event       []string     `json:"event"`
	Action      hookActionIn `json:"action"`
	Retries     *int         `json:"retries,omitempty"`
	Delay       float64      `json:"delay"`
	Timeout     float64      `json:"timeout"`
	Deadline    float64      `json:"deadline"`
	Secret      string       `json:"secret,omitempty"` // "set" when it has one
	Campaign    string       `json:"campaign,omitempty"`
	Enabled     bool         `json:"enabled"`
	EnabledAt   int64        `json:"enabledAt"`
	CreatedAt   int64        `json:"createdAt"`
	UpdatedAt   int64        `json:"updatedAt"`
}

func outHook(h *store.Hook) hookOut {
	o := hookOut{ID: h.ID, Description: h.Description, Event: h.Event, Retries: h.Retries, Delay: h.Delay, Timeout: h.Timeout,
		Deadline: h.Deadline, Campaign: h.Campaign, Enabled: h.IsEnabled(), EnabledAt: h.EnabledAt, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
		Action: hookActionIn{URL: h.Action.URL, Method: h.Action.Method, Headers: h.Action.Headers}}
	if h.Secret != "" {
		o.Secret = secretKept
	}
	return o
}

// readHook decodes and checks a hook body: a 422 names every field wrong.
func readHook(c echo.Context) (*hookIn, *store.Hook, error) {
	in, bad, err := decodeBody[hookIn](c)
	if err != nil {
		return nil, nil, err
	}
	h, shapeBad := in.hook()
	bad = append(bad, shapeBad...)
	if len(bad) > 0 {
		h.Normalize()
		return nil, nil, in.renamed(refuse(bad, h.Validate()))
	}
	return &in, h, nil
}

// renamed names an event given as one name "event", not "event[0]" (the
// store sees a list).
func (in *hookIn) renamed(err error) error {
	var ve *store.ValidationError
	if _, one := in.Event.(string); one && errors.As(err, &ve) {
		for i := range ve.Errors {
			if ve.Errors[i].Field == "event[0]" {
				ve.Errors[i].Field = "event"
			}
		}
	}
	return err
}

func (a *api) createHook(c echo.Context) error {
	in, h, err := readHook(c)
	if err != nil {
		return err
	}
	if err := a.st.CreateHook(c.Request().Context(), h, a.clock.Now()); err != nil {
		return in.renamed(err)
	}
	return ok(c, newInsertResult([]string{h.ID}))
}

func (a *api) listHooks(c echo.Context) error {
	list, err := a.st.ListHooks(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]hookOut, len(list))
	for i, h := range list {
		out[i] = outHook(h)
	}
	return ok(c, out)
}

func (a *api) getHook(c echo.Context) error {
	h, err := a.st.GetHook(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, outHook(h))
}

// replaceHook replaces a hook. A secret left out, or sent back as "set"
// (what GET shows), stays; "" removes it.
func (a *api) replaceHook(c echo.Context) error {
	in, h, err := readHook(c)
	if err != nil {
		return err
	}
	h.ID = c.Param("id")
	keep := in.Secret == nil || *in.Secret == secretKept
	if err := a.st.ReplaceHook(c.Request().Context(), h, keep, a.clock.Now()); err != nil {
		return in.renamed(err)
	}
	return ok(c, outHook(h))
}

func (a *api) deleteHook(c echo.Context) error {
	if err := a.st.DeleteHook(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return ok(c, deleted())
}

// hookSchemas are the OpenAPI schemas of the resource.
func hookSchemas() obj {
	events := obj{"type": "string", "enum": []string{store.HookOffering, store.HookBridged, store.HookMissed, store.HookEnded, store.HookMemberEnd}}
	seconds := func(def float64, max float64, what string) obj {
		return obj{"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": max, "default": def, "description": what}
	}
	return obj{
		"Hook": object(obj{
			"_id":         obj{"type": "string", "readOnly": true},
			"description": str(),
			"event":       obj{"oneOf": []obj{events, array(events)}, "description": "the events sent (shown as a list)"},
			"action": object(obj{
				"url":     obj{"type": "string", "format": "uri", "description": "absolute http or https URL"},
				"method":  obj{"type": "string", "enum": []string{"POST", "PUT"}, "default": "POST"},
				"headers": obj{"type": "object", "additionalProperties": str(), "description": "sent with every request; names are tokens, values have no control characters"},
			}, "url"),
			"retries":   obj{"type": "integer", "minimum": 0, "maximum": store.MaxHookRetries, "description": "tries after the first; left out: until the deadline"},
			"delay":     seconds(store.DefaultHookDelay, store.MaxHookDelay, "seconds before the first retry, doubled on each (with jitter, at most 5 minutes)"),
			"timeout":   seconds(store.DefaultHookTimeout, store.MaxHookTimeout, "seconds per request"),
			"deadline":  seconds(store.DefaultHookDeadline, store.MaxHookDeadline, "seconds after the event before an undelivered one is dropped"),
			"secret":    obj{"type": "string", "minLength": store.MinHookSecretLen, "description": "HMAC-SHA256 key of X-Fsdialer-Signature; never shown (\"set\" when there is one); on PUT, left out or \"set\" keeps it, \"\" removes it"},
			"campaign":  obj{"type": "string", "description": "only this campaign's events; left out: every campaign's"},
			"enabled":   obj{"type": "boolean", "default": true},
			"enabledAt": obj{"type": "integer", "readOnly": true, "description": "events from before it are not sent"},
			"createdAt": obj{"type": "integer", "readOnly": true},
			"updatedAt": obj{"type": "integer", "readOnly": true},
		}, "event", "action"),
		"HookList": array(ref("Hook")),
	}
}

// withHookSchemas adds the hook schemas to the document's.
func withHookSchemas(s obj) obj {
	for k, v := range hookSchemas() {
		s[k] = v
	}
	return s
}
