package store_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

func sampleHook() *store.Hook {
	return &store.Hook{Event: []string{store.HookOffering, store.HookEnded},
		Action: store.HookAction{URL: "https://crm.example.com/dialer/events"}}
}

func TestHookValidationNamesTheField(t *testing.T) {
	three := 3
	tooMany := store.MaxHookRetries + 1
	cases := []struct {
		name  string
		edit  func(h *store.Hook)
		field string // "": valid
	}{
		{"defaults", func(h *store.Hook) {}, ""},
		{"every field", func(h *store.Hook) {
			h.Action.Method, h.Action.Headers = "put", map[string]string{"Authorization": "Bearer x\ty", "X-Crm-Tenant": "42"}
			h.Retries, h.Delay, h.Timeout, h.Deadline, h.Secret = &three, 0.5, 2, 600, strings.Repeat("s", 16)
			h.Description = "CRM"
		}, ""},
		{"http with a port", func(h *store.Hook) { h.Action.URL = "http://10.0.0.5:8080/hook?x=1" }, ""},
		{"no event", func(h *store.Hook) { h.Event = nil }, "event"},
		{"an unknown event", func(h *store.Hook) { h.Event = []string{"ended", "hangup"} }, "event[1]"},
		{"no url", func(h *store.Hook) { h.Action.URL = "" }, "action.url"},
		{"a relative url", func(h *store.Hook) { h.Action.URL = "/hook" }, "action.url"},
		{"another scheme", func(h *store.Hook) { h.Action.URL = "ftp://crm.example.com/x" }, "action.url"},
		{"no host", func(h *store.Hook) { h.Action.URL = "http:///x" }, "action.url"},
		{"a blank in the url", func(h *store.Hook) { h.Action.URL = "http://crm.example.com/a b" }, "action.url"},
		{"a line break in the url", func(h *store.Hook) { h.Action.URL = "http://crm.example.com/a\r\nX: y" }, "action.url"},
		{"a bad escape", func(h *store.Hook) { h.Action.URL = "http://crm.example.com/%zz" }, "action.url"},
		{"a huge url", func(h *store.Hook) { h.Action.URL = "http://crm.example.com/" + strings.Repeat("a", 3000) }, "action.url"},
		{"GET", func(h *store.Hook) { h.Action.Method = "GET" }, "action.method"},
		{"a header name with a blank", func(h *store.Hook) { h.Action.Headers = map[string]string{"X Crm": "1"} }, "action.headers.X Crm"},
		{"a header name with a colon", func(h *store.Hook) { h.Action.Headers = map[string]string{"X-Crm:": "1"} }, "action.headers.X-Crm:"},
		{"an empty header name", func(h *store.Hook) { h.Action.Headers = map[string]string{"": "1"} }, "action.headers."},
		{"a line break in a value", func(h *store.Hook) { h.Action.Headers = map[string]string{"X-Crm": "1\r\nEvil: 1"} }, "action.headers.X-Crm"},
		{"a NUL in a value", func(h *store.Hook) { h.Action.Headers = map[string]string{"X-Crm": "1\x00"} }, "action.headers.X-Crm"},
		{"Content-Length", func(h *store.Hook) { h.Action.Headers = map[string]string{"content-length": "1"} }, "action.headers.content-length"},
		{"the dialer's own header", func(h *store.Hook) { h.Action.Headers = map[string]string{"X-Fsdialer-Signature": "x"} }, "action.headers.X-Fsdialer-Signature"},
		{"negative retries", func(h *store.Hook) { n := -1; h.Retries = &n }, "retries"},
		{"too many retries", func(h *store.Hook) { h.Retries = &tooMany }, "retries"},
		{"negative delay", func(h *store.Hook) { h.Delay = -1 }, "delay"},
		{"a huge delay", func(h *store.Hook) { h.Delay = store.MaxHookDelay + 1 }, "delay"},
		{"NaN timeout", func(h *store.Hook) { h.Timeout = math.NaN() }, "timeout"},
		{"a timeout of hours", func(h *store.Hook) { h.Timeout = 7200 }, "timeout"},
		{"a deadline of a month", func(h *store.Hook) { h.Deadline = 30 * 86400 }, "deadline"},
		{"a short secret", func(h *store.Hook) { h.Secret = "short" }, "secret"},
		{"a campaign with braces", func(h *store.Hook) { h.Campaign = "a}b" }, "campaign"},
		{"a description with a line break", func(h *store.Hook) { h.Description = "a\nb" }, "description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := sampleHook()
			tc.edit(h)
			h.Normalize()
			err := h.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *store.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != tc.field {
				t.Fatalf("got %v, want one error naming %q", err, tc.field)
			}
		})
	}
}

func TestHooksCRUD(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCampaign(t, s, "")
		h := sampleHook()
		h.Secret = "0123456789abcdef"
		if err := s.CreateHook(ctx, h, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetHook(ctx, h.ID)
		if err != nil || got.Action.Method != "POST" || got.Delay != store.DefaultHookDelay || got.Timeout != store.DefaultHookTimeout ||
			got.Deadline != store.DefaultHookDeadline || !got.IsEnabled() || got.Secret != h.Secret || got.EnabledAt != t0.UnixMilli() {
			t.Fatalf("stored %+v, %v", got, err)
		}
		bad := sampleHook()
		bad.Campaign = "no-such-campaign"
		var ve *store.ValidationError
		if err := s.CreateHook(ctx, bad, t0); !errors.As(err, &ve) || ve.Errors[0].Field != "campaign" {
			t.Fatalf("a hook for a campaign that does not exist: %v", err)
		}
		second := sampleHook()
		second.Campaign = c.ID
		if err := s.CreateHook(ctx, second, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if !second.Wants(c.ID, store.HookEnded) || second.Wants("other", store.HookEnded) || second.Wants(c.ID, store.HookBridged) {
			t.Fatal("the filter is not the hook's")
		}
		list, err := s.ListHooks(ctx)
		if err != nil || len(list) != 2 || list[0].ID != h.ID || list[1].ID != second.ID {
			t.Fatalf("list %v, %v", list, err)
		}
		// replaced keeping the secret, and disabled
		off := false
		rep := sampleHook()
		rep.ID, rep.Enabled, rep.Event = h.ID, &off, []string{store.HookMemberEnd}
		if err := s.ReplaceHook(ctx, rep, true, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetHook(ctx, h.ID)
		if got.Secret != h.Secret || got.IsEnabled() || got.CreatedAt != t0.UnixMilli() || got.EnabledAt != t0.UnixMilli() || got.Event[0] != store.HookMemberEnd {
			t.Fatalf("replaced: %+v", got)
		}
		// enabled again, secret dropped: it starts from now
		on := true
		rep.Enabled, rep.Secret = &on, ""
		if err := s.ReplaceHook(ctx, rep, false, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetHook(ctx, h.ID)
		if got.Secret != "" || got.EnabledAt != t0.Add(2*time.Minute).UnixMilli() || got.UpdatedAt != got.EnabledAt {
			t.Fatalf("enabled again: %+v", got)
		}
		rep.Action.URL = "mailto:x"
		if err := s.ReplaceHook(ctx, rep, true, t0); !errors.As(err, &ve) || ve.Errors[0].Field != "action.url" {
			t.Fatalf("an invalid replacement: %v", err)
		}
		ghost := sampleHook()
		ghost.ID = "none"
		if err := s.ReplaceHook(ctx, ghost, true, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("replacing a hook that does not exist: %v", err)
		}
		if err := s.DeleteHook(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteHook(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		if _, err := s.GetHook(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
	})
}
