package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/viper"
)

func TestConfigFromFileAndEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dialerd.yaml")
	os.WriteFile(path, []byte(`
redis: {url: "redis://10.0.0.5:6379/2"}
freeswitch:
  nodes:
    - {name: fs1, address: "10.0.0.10:8021", password: secret, capacity: 300}
    - {address: "10.0.0.11:8021"}
dialer: {region: UA}
`), 0o600)
	t.Setenv("DIALER_API_TOKENS", "a, b")
	t.Setenv("DIALER_HTTP_LISTEN", "0.0.0.0:9000")
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	n := c.FreeSWITCH.Nodes
	if c.Redis.URL != "redis://10.0.0.5:6379/2" || len(n) != 2 || n[0].Capacity != 300 || n[1].Name != "10.0.0.11:8021" || n[1].Password != "ClueCon" ||
		strings.Join(c.API.Tokens, "|") != "a|b" || c.HTTP.Listen != "0.0.0.0:9000" || c.Dialer.Region != "UA" || c.Dialer.Tick != 200*time.Millisecond {
		t.Fatalf("config %+v", c)
	}
}

// TestSampleConfig: deploy/dialerd.yaml, the documented sample, loads and
// says what the defaults say.
func TestSampleConfig(t *testing.T) {
	c, err := loadConfig("../../deploy/dialerd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d Config
	v := viper.New()
	defaults(v)
	if err := v.Unmarshal(&d); err != nil {
		t.Fatal(err)
	}
	d.FreeSWITCH = c.FreeSWITCH
	if fmt.Sprintf("%+v", *c) != fmt.Sprintf("%+v", d) { // [] and nil lists alike
		t.Fatalf("the sample's values differ from the defaults:\n%+v\n%+v", c, d)
	}
	if n := c.FreeSWITCH.Nodes; len(n) != 1 || n[0].Address != "127.0.0.1:8021" {
		t.Fatalf("nodes %+v", n)
	}
}

func TestSentinelAddressesReplaceTheURL(t *testing.T) {
	t.Setenv("DIALER_REDIS_ADDRS", "10.0.0.1:26379,10.0.0.2:26379")
	t.Setenv("DIALER_REDIS_MASTER_NAME", "dialer")
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.URL != "" || len(c.Redis.Addrs) != 2 || c.Redis.MasterName != "dialer" {
		t.Fatalf("redis %+v", c.Redis)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"freeswitch: {nodes: [{name: a}]}", "freeswitch.nodes[0].address"},
		{"freeswitch: {nodes: [{name: a, address: x}, {name: a, address: y}]}", "freeswitch.nodes[1].name"},
		{"dialer: {tick: 2s}", "dialer.tick"},
		{"dialer: {lease_ttl: 1s}", "dialer.lease_ttl"},
		{"http: {max_body: lots}", "http.max_body"},
		{"log: {level: loud}", "log.level"},
		{"redis: [", "config"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(tc.yaml), 0o600)
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}

// syncBuffer is a Buffer safe to write from the demo and read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDemo runs "dialerd demo" as make run does (faster, smaller) and uses
// its API: the newcomer's first steps.
func TestDemo(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	t.Setenv("DIALER_API_TOKENS", "demo-token")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-listen", addr, "-time-scale", "50", "-members", "30", "-report", "200ms"}, &out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo ended with %v", err)
		}
	}()
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("X-Access-Token", "demo-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := get("/readyz"); code == 200 && strings.Contains(out.String(), "finished") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not come up:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "X-Access-Token: demo-token") {
		t.Fatalf("the demo does not print its token:\n%s", out.String())
	}
	code, body := get("/api/v2/dialer")
	if code != 200 || !strings.Contains(body, "Demo voice broadcast") {
		t.Fatalf("campaigns: %d %s", code, body)
	}
	for time.Now().Before(deadline) {
		if _, metrics := get("/metrics"); strings.Contains(metrics, "dialer_calls_placed_total{campaign=") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no calls placed:\n%s", out.String())
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out); err != nil || !strings.HasPrefix(out.String(), "dialerd ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"launch"}, &out); err == nil {
		t.Fatal("an unknown command was accepted")
	}
	fmt.Fprint(io.Discard)
}
