package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

// TestNotReadyIsNotAnError: /readyz answering 503 is an expected state: it
// is logged at WARN once when it begins, not at ERROR per probe, and it is
// not counted in the API's request series the 5xx alert watches.
func TestNotReadyIsNotAnError(t *testing.T) {
	var down atomic.Bool
	var log syncbuf.Buffer
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(c *httpapi.Config) {
		c.Ready = func(context.Context) error {
			if down.Load() {
				return errors.New("redis: connection refused")
			}
			return nil
		}
		c.Registerer, c.Gatherer = reg, reg
		c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	probe := func(n, code int) {
		t.Helper()
		for i := 0; i < n; i++ {
			f.call("GET", "/readyz", "", "", "").want(t, code)
		}
	}
	probe(3, 200)
	down.Store(true)
	probe(5, 503)
	down.Store(false)
	probe(2, 200)
	down.Store(true)
	probe(1, 503)

	out := log.String()
	if n := strings.Count(out, "level=WARN"); n != 2 || !strings.Contains(out, "connection refused") {
		t.Errorf("want 2 warnings, one per time it went down:\n%s", out)
	}
	if n := strings.Count(out, "ready again"); n != 1 {
		t.Errorf("want one line when it came back:\n%s", out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("not being ready was logged as an error:\n%s", out)
	}
	f.do("GET", "/api/v2/dialer", "").want(t, 200)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, mf := range families {
		if mf.GetName() != "dialer_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
	}
	if routes["/readyz"] || !routes["/api/v2/dialer"] {
		t.Errorf("the API's request series counts %v: the probe is not an API request", routes)
	}
}
