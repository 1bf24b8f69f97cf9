package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

// TestOnlyRedisFailingIs503: Redis not serving answers 503 "the store is
// unavailable"; an error that is not Redis failing (a stored document that
// does not decode, a key Redis refuses to read as asked) is a bug: 500
// "internal error", logged at ERROR with the path, never a 503 that sends
// the operator to look at Redis.
func TestOnlyRedisFailingIs503(t *testing.T) {
	for _, tc := range []struct {
		name string
		// break_ spoils the store for the campaign id and returns the request
		break_       func(t *testing.T, f *fixture, id string) (method, path string)
		code         int
		message, log string
	}{
		{
			name: "a stored campaign that does not decode",
			break_: func(t *testing.T, f *fixture, id string) (string, string) {
				f.redisDo(t, "SET", "dialer:{"+id+"}:campaign", `{"name": "half a docu`)
				return "GET", "/api/v2/dialer/" + id
			},
			code: 500, message: "internal error", log: `level=ERROR msg="httpapi: internal error"`,
		},
		{
			name: "a stored calendar that does not decode",
			break_: func(t *testing.T, f *fixture, _ string) (string, string) {
				f.redisDo(t, "HSET", "dialer:calendars", "cal1", "not json")
				return "GET", "/api/v2/calendars/cal1"
			},
			code: 500, message: "internal error", log: `level=ERROR msg="httpapi: internal error"`,
		},
		{
			name: "a key of the wrong type (WRONGTYPE)",
			break_: func(t *testing.T, f *fixture, id string) (string, string) {
				f.redisDo(t, "DEL", "dialer:{"+id+"}:members")
				f.redisDo(t, "SET", "dialer:{"+id+"}:members", "a string")
				return "GET", "/api/v2/dialer/" + id + "/members/0000001"
			},
			code: 500, message: "internal error", log: `level=ERROR msg="httpapi: internal error"`,
		},
		{
			name: "redis paused",
			break_: func(t *testing.T, f *fixture, id string) (string, string) {
				if err := f.redis.Pause(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.redis.Resume() })
				return "GET", "/api/v2/dialer/" + id
			},
			code: 503, message: "the store is unavailable", log: `level=WARN msg="httpapi: store unavailable"`,
		},
		{
			// store.UpdateCampaign does not mark its WATCH's errors
			name: "redis paused: stopping a campaign",
			break_: func(t *testing.T, f *fixture, id string) (string, string) {
				if err := f.redis.Pause(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.redis.Resume() })
				return "PUT", "/api/v2/dialer/" + id + "/state/0"
			},
			code: 503, message: "the store is unavailable", log: `level=WARN msg="httpapi: store unavailable"`,
		},
		{
			name: "redis out of memory (OOM)",
			break_: func(t *testing.T, f *fixture, id string) (string, string) {
				f.redisDo(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")
				f.redisDo(t, "CONFIG", "SET", "maxmemory", "1")
				return "POST", "/api/v2/dialer/" + id + "/members"
			},
			code: 503, message: "OOM", log: `level=WARN msg="httpapi: store unavailable"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncbuf.Buffer
			f := newFixture(t, func(c *httpapi.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&log, nil))
			})
			id := f.campaign()
			f.do("POST", "/api/v2/dialer/"+id+"/members", `{"name":"a","communications":[{"number":"380500000001"}]}`).want(t, 200)
			method, path := tc.break_(t, f, id)
			r := f.do(method, path, `{"name":"b","communications":[{"number":"380500000002"}]}`).want(t, tc.code)
			if r.body.Status != "error" || !strings.Contains(r.body.Error, tc.message) {
				t.Errorf("answer %s; want an error saying %q", r.raw, tc.message)
			}
			out := log.String()
			if !strings.Contains(out, tc.log) || !strings.Contains(out, "path="+path) {
				t.Errorf("log has no %s with path=%s:\n%s", tc.log, path, out)
			}
			if tc.code == 500 && strings.Contains(r.raw, "unavailable") {
				t.Errorf("a bug answered as an outage: %s", r.raw)
			}
			if tc.code == 503 && strings.Contains(out, "internal error") {
				t.Errorf("an outage logged as a bug:\n%s", out)
			}
		})
	}
}

// redisDo runs a command on the fixture's Redis behind the store's back.
func (f *fixture) redisDo(t *testing.T, args ...any) {
	t.Helper()
	if err := f.st.Client().Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}

// TestRequestContextEnded: a request whose client hung up is answered 499
// (nobody reads it; not a server error, not counted as one), one whose own
// deadline ran out while the store worked 503, whatever the store said.
func TestRequestContextEnded(t *testing.T) {
	var cfg httpapi.Config
	f := newFixture(t, func(c *httpapi.Config) { cfg = *c })
	id := f.campaign()
	h := httpapi.New(cfg)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, stop := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer stop()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code int
	}{
		{"the client hung up", cancelled, 499},
		{"the request's deadline passed", expired, http.StatusServiceUnavailable},
		{"neither", context.Background(), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(tc.ctx, "GET", "/api/v2/dialer/"+id, nil)
			req.Header.Set("X-Access-Token", writer)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
		})
	}
}
