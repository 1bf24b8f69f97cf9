package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/fsdialer/fsdialer/dialer"
	crm "github.com/fsdialer/fsdialer/dialer/lookup"
)

// Config is dialerd's configuration: a YAML file, DIALER_* environment
// variables (DIALER_REDIS_URL for redis.url), then flags. Every key, its
// default and its meaning are in deploy/dialerd.yaml.
type Config struct {
	Instance string `mapstructure:"instance"`
	Redis    struct {
		URL          string        `mapstructure:"url"`
		Addrs        []string      `mapstructure:"addrs"`
		MasterName   string        `mapstructure:"master_name"`
		Username     string        `mapstructure:"username"`
		Password     string        `mapstructure:"password"`
		DB           int           `mapstructure:"db"`
		Timeout      time.Duration `mapstructure:"timeout"`
		HistoryLen   int64         `mapstructure:"history_len"`
		WaitReplicas int           `mapstructure:"wait_replicas"`
		WaitTimeout  time.Duration `mapstructure:"wait_timeout"`
	} `mapstructure:"redis"`
	FreeSWITCH struct {
		Nodes []Node `mapstructure:"nodes"`
	} `mapstructure:"freeswitch"`
	HTTP struct {
		Listen          string        `mapstructure:"listen"`
		MaxBody         string        `mapstructure:"max_body"`
		ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	} `mapstructure:"http"`
	Metrics struct {
		Listen string `mapstructure:"listen"`
		Public bool   `mapstructure:"public"`
	} `mapstructure:"metrics"`
	API struct {
		Tokens       []string `mapstructure:"tokens"`
		ReadTokens   []string `mapstructure:"read_tokens"`
		PublicHealth bool     `mapstructure:"public_health"`
		AllowOpen    bool     `mapstructure:"allow_open"`
	} `mapstructure:"api"`
	Dialer struct {
		Tick           time.Duration `mapstructure:"tick"`
		LeaseTTL       time.Duration `mapstructure:"lease_ttl"`
		MaxPerTick     int           `mapstructure:"max_per_tick"`
		CallsPerSecond float64       `mapstructure:"calls_per_second"`
		EndRecords     bool          `mapstructure:"end_records"`
		RecordPath     string        `mapstructure:"record_path"`
		Region         string        `mapstructure:"region"`
		TimeScale      float64       `mapstructure:"time_scale"`
		TimeOrigin     string        `mapstructure:"time_origin"`
		CallsCampaign  string        `mapstructure:"calls_campaign"`
		PacingPolicy   string        `mapstructure:"predictive_pacing"`
	} `mapstructure:"dialer"`
	Inbound struct {
		Listen      string        `mapstructure:"listen"`
		Wait        time.Duration `mapstructure:"wait"`
		HoldMusic   string        `mapstructure:"hold_music"`
		KeepMembers bool          `mapstructure:"keep_members"`
		Lookup      struct {
			URL       string            `mapstructure:"url"`
			Timeout   time.Duration     `mapstructure:"timeout"`
			Retries   int               `mapstructure:"retries"`
			Headers   map[string]string `mapstructure:"headers"`
			Variables map[string]string `mapstructure:"variables"`
			Defaults  map[string]string `mapstructure:"defaults"`
		} `mapstructure:"lookup"`
	} `mapstructure:"inbound"`
	Hooks struct {
		Enabled  bool          `mapstructure:"enabled"`
		Poll     time.Duration `mapstructure:"poll"`
		Refresh  time.Duration `mapstructure:"refresh"`
		LeaseTTL time.Duration `mapstructure:"lease_ttl"`
		Parallel int           `mapstructure:"parallel"`
	} `mapstructure:"hooks"`
	Log struct {
		Level  string `mapstructure:"level"`
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`
}

// Node is a FreeSWITCH event socket.
type Node struct {
	Name     string `mapstructure:"name"`
	Address  string `mapstructure:"address"`
	Password string `mapstructure:"password"`
	Capacity int    `mapstructure:"capacity"`
	// CallsPerSecond paces this node's originates; 0 takes
	// dialer.calls_per_second, a negative value does not pace.
	CallsPerSecond float64 `mapstructure:"calls_per_second"`
}

func defaults(v *viper.Viper) {
	v.SetDefault("redis.url", "redis://127.0.0.1:6379/0")
	v.SetDefault("redis.timeout", 5*time.Second)
	v.SetDefault("redis.history_len", 100000)
	v.SetDefault("redis.wait_replicas", 1)
	v.SetDefault("redis.wait_timeout", time.Second)
	v.SetDefault("http.listen", "127.0.0.1:8080")
	v.SetDefault("http.max_body", "64MiB")
	v.SetDefault("http.shutdown_timeout", 10*time.Second)
	v.SetDefault("metrics.public", true)
	v.SetDefault("api.public_health", true)
	v.SetDefault("api.allow_open", false)
	v.SetDefault("dialer.tick", 200*time.Millisecond)
	v.SetDefault("dialer.lease_ttl", 60*time.Second)
	v.SetDefault("dialer.max_per_tick", 250)
	v.SetDefault("dialer.calls_per_second", 20)
	v.SetDefault("dialer.end_records", true)
	v.SetDefault("dialer.time_scale", 1)
	v.SetDefault("dialer.predictive_pacing", "forecast")
	v.SetDefault("dialer.record_path", "/var/lib/fsdialer/recordings/{campaign}/{date}/{attempt}.wav")
	v.SetDefault("inbound.wait", 30*time.Second)
	v.SetDefault("inbound.hold_music", "local_stream://moh")
	v.SetDefault("inbound.lookup.timeout", time.Second)
	v.SetDefault("inbound.lookup.retries", 2)
	v.SetDefault("hooks.enabled", true)
	v.SetDefault("hooks.poll", 500*time.Millisecond)
	v.SetDefault("hooks.refresh", 5*time.Second)
	v.SetDefault("hooks.lease_ttl", 30*time.Second)
	v.SetDefault("hooks.parallel", 4)
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "text")
}

// loadConfig reads the file (if given) and the environment.
func loadConfig(path string) (*Config, error) {
	v := viper.New()
	defaults(v)
	v.SetEnvPrefix("DIALER")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// AutomaticEnv only sees keys viper already knows: bind every key of
	// Config, defaulted or not.
	for _, key := range configKeys(reflect.TypeFor[Config](), "") {
		_ = v.BindEnv(key) // fails only without a key
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Lists from the environment are comma-separated.
	for env, dst := range map[string]*[]string{"DIALER_API_TOKENS": &c.API.Tokens, "DIALER_API_READ_TOKENS": &c.API.ReadTokens, "DIALER_REDIS_ADDRS": &c.Redis.Addrs} {
		if s, ok := os.LookupEnv(env); ok {
			*dst = splitList(s)
		}
	}
	// Addresses replace the URL (whose default would otherwise win).
	if len(c.Redis.Addrs) > 0 {
		c.Redis.URL = ""
	}
	// One node can be given in the environment alone.
	if addr := os.Getenv("DIALER_FREESWITCH_ADDRESS"); addr != "" {
		c.FreeSWITCH.Nodes = []Node{{Name: "fs1", Address: addr, Password: os.Getenv("DIALER_FREESWITCH_PASSWORD")}}
	}
	return &c, c.check()
}

// configKeys lists the dotted keys of a config struct's scalar and list
// fields (not inside lists: freeswitch.nodes comes whole or not at all).
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		key := prefix + f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			keys = append(keys, configKeys(f.Type, key+".")...)
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// check names the first key that is wrong.
func (c *Config) check() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config %s: "+format, append([]any{key}, args...)...))
	}
	if c.Redis.URL == "" && len(c.Redis.Addrs) == 0 {
		bad("redis.url", "empty, and no redis.addrs")
	}
	if c.Redis.WaitReplicas < 0 {
		bad("redis.wait_replicas", "%d: must be 0 (do not wait) or more", c.Redis.WaitReplicas)
	}
	if c.Redis.WaitTimeout <= 0 {
		bad("redis.wait_timeout", "%s: must be above 0", c.Redis.WaitTimeout)
	}
	names := map[string]bool{}
	for i := range c.FreeSWITCH.Nodes {
		n := &c.FreeSWITCH.Nodes[i]
		key := fmt.Sprintf("freeswitch.nodes[%d]", i)
		if n.Address == "" {
			bad(key+".address", "missing")
		}
		if n.Name == "" {
			n.Name = n.Address
		}
		if names[n.Name] {
			bad(key+".name", "%q is used twice", n.Name)
		}
		names[n.Name] = true
		if n.Password == "" {
			n.Password = "ClueCon"
		}
		if n.Capacity < 0 {
			bad(key+".capacity", "must not be negative")
		}
		if !finite(n.CallsPerSecond) {
			bad(key+".calls_per_second", "%v is not a number of calls", n.CallsPerSecond)
		}
	}
	if c.Dialer.Tick <= 0 || c.Dialer.Tick > 200*time.Millisecond {
		bad("dialer.tick", "%v: must be above 0 and at most 200ms", c.Dialer.Tick)
	}
	if c.Dialer.LeaseTTL < 5*time.Second {
		bad("dialer.lease_ttl", "%v: must be at least 5s", c.Dialer.LeaseTTL)
	}
	// The engine reads 0 as its default: a 0 written here would pace at
	// 20 a second while looking like "no pace".
	if c.Dialer.CallsPerSecond == 0 || !finite(c.Dialer.CallsPerSecond) {
		bad("dialer.calls_per_second", "%v: must be above 0, or negative for no pace", c.Dialer.CallsPerSecond)
	}
	if !(c.Dialer.TimeScale > 0) || !finite(c.Dialer.TimeScale) {
		bad("dialer.time_scale", "%v: must be above 0", c.Dialer.TimeScale)
	}
	if p := c.Dialer.PacingPolicy; p != dialer.PacingPredictive && p != dialer.PacingForecast {
		bad("dialer.predictive_pacing", "%q is not %q or %q", p, dialer.PacingPredictive, dialer.PacingForecast)
	}
	if c.Dialer.TimeOrigin != "" {
		origin, err := time.Parse(time.RFC3339Nano, c.Dialer.TimeOrigin)
		switch {
		case err != nil:
			bad("dialer.time_origin", "%q is not an RFC 3339 time such as 2026-05-01T09:00:00Z", c.Dialer.TimeOrigin)
		case origin.After(time.Now()):
			bad("dialer.time_origin", "%s is in the future", c.Dialer.TimeOrigin)
		case float64(time.Since(origin))*c.Dialer.TimeScale > float64(100*365*24*time.Hour):
			// A time.Duration holds 292 years.
			bad("dialer.time_origin", "%s is too long ago for dialer.time_scale %v", c.Dialer.TimeOrigin, c.Dialer.TimeScale)
		}
	}
	if c.Inbound.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Inbound.Listen); err != nil {
			bad("inbound.listen", "%q is not host:port", c.Inbound.Listen)
		}
		if c.Inbound.Wait <= 0 {
			bad("inbound.wait", "%v: must be above 0", c.Inbound.Wait)
		}
		if c.Inbound.Lookup.URL != "" {
			if _, err := c.crmLookup(); err != nil {
				bad("inbound.lookup", "%v", err)
			}
		}
	}
	if _, err := parseSize(c.HTTP.MaxBody); err != nil {
		bad("http.max_body", "%v", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// lookup is the CRM lookup of inbound calls (nil: none configured).
func (c *Config) crmLookup() (*crm.Client, error) {
	l := c.Inbound.Lookup
	if l.URL == "" {
		return nil, nil
	}
	retries := l.Retries
	if retries == 0 {
		retries = -1 // 0 in the file means none; the package reads 0 as its default
	}
	return crm.New(crm.Config{URL: l.URL, Timeout: l.Timeout, Retries: retries, Headers: l.Headers,
		Variables: l.Variables, Defaults: l.Defaults}, &http.Client{})
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// parseSize reads sizes like 512KiB, 64MiB, 1048576.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	return n * mult, nil
}

// checkOpenAPI refuses an API without tokens on an address others can
// reach, unless api.allow_open says it is meant: an open API lets anyone
// start campaigns, that is, place calls.
func (c *Config) checkOpenAPI() error {
	if len(c.API.Tokens)+len(c.API.ReadTokens) > 0 || c.API.AllowOpen || isLoopback(c.HTTP.Listen) {
		return nil
	}
	return fmt.Errorf("config api.tokens: empty, and http.listen %s is reachable from other hosts: anyone there could "+
		"start campaigns. Set api.tokens (DIALER_API_TOKENS=<secret>), or listen on loopback (http.listen: 127.0.0.1:8080), "+
		"or, to serve an open API on purpose, set api.allow_open: true (DIALER_API_ALLOW_OPEN=true)", c.HTTP.Listen)
}

// isLoopback: addr's host is a loopback address or localhost. An empty
// host, 0.0.0.0 and :: are every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redisWhere names the Redis the config points at, without its password.
func (c *Config) redisWhere() string {
	if c.Redis.URL == "" {
		return strings.Join(c.Redis.Addrs, ",")
	}
	if u, err := url.Parse(c.Redis.URL); err == nil {
		return u.Redacted()
	}
	return "redis.url"
}
