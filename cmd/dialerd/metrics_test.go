package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/internal/syncbuf"
)

// TestMetricsListener: with metrics.listen set, that listener serves
// /metrics alone, without a token when metrics.public is true and only
// with one otherwise; the API's listener keeps /metrics behind the token
// either way, so a public scrape port does not open the API's.
func TestMetricsListener(t *testing.T) {
	type probe struct {
		listener string // "api" or "metrics"
		path     string
		token    string
		code     int
	}
	for _, tc := range []struct {
		public bool
		probes []probe
	}{
		{public: true, probes: []probe{
			{"metrics", "/metrics", "", 200},
			{"metrics", "/metrics", "t", 200},
			{"metrics", "/api/v2/dialer", "t", 404},
			{"metrics", "/healthz", "", 404},
			{"api", "/metrics", "", 401},
			{"api", "/metrics", "t", 200},
			{"api", "/api/v2/dialer", "t", 200},
		}},
		{public: false, probes: []probe{
			{"metrics", "/metrics", "", 401},
			{"metrics", "/metrics", "wrong", 401},
			{"metrics", "/metrics", "t", 200},
			{"metrics", "/metrics", "r", 200}, // a read token reads metrics too
			{"metrics", "/api/v2/dialer", "t", 404},
			{"api", "/metrics", "", 401},
			{"api", "/metrics", "t", 200},
		}},
	} {
		t.Run(fmt.Sprintf("public=%v", tc.public), func(t *testing.T) {
			t.Setenv("DIALER_REDIS_URL", "embedded")
			t.Setenv("DIALER_FREESWITCH_ADDRESS", closedAddr(t))
			t.Setenv("DIALER_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("DIALER_METRICS_LISTEN", "127.0.0.1:0")
			t.Setenv("DIALER_METRICS_PUBLIC", fmt.Sprint(tc.public))
			t.Setenv("DIALER_API_TOKENS", "t")
			t.Setenv("DIALER_API_READ_TOKENS", "r")
			var out syncbuf.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"run"}, &out, &out) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("dialerd ended with %v", err)
				}
			}()
			// The API's listener is opened and logged first, then the
			// metrics one.
			listening := regexp.MustCompile(`msg="http listening" address=(\S+)`)
			var addrs []string
			waitFor(t, "both listeners", &out, func(s string) bool {
				addrs = nil
				for _, m := range listening.FindAllStringSubmatch(s, -1) {
					addrs = append(addrs, m[1])
				}
				return len(addrs) == 2
			})
			at := map[string]string{"api": addrs[0], "metrics": addrs[1]}
			for _, p := range tc.probes {
				req, _ := http.NewRequest("GET", "http://"+at[p.listener]+p.path, nil)
				if p.token != "" {
					req.Header.Set("X-Access-Token", p.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != p.code {
					t.Errorf("%s listener, GET %s with token %q: %d, want %d", p.listener, p.path, p.token, resp.StatusCode, p.code)
				}
			}
			if strings.Contains(out.String(), "level=ERROR") {
				t.Errorf("errors logged:\n%s", out.String())
			}
		})
	}
}
