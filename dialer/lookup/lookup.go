// Package lookup asks a CRM about a caller before the call is routed
// (seed 004, section 2): GET <url>?cid=<caller id number>, answered with a
// JSON object whose fields become channel variables by a configured
// mapping, so the dialplan and the dialer can route on them. A lookup has
// one deadline; failed tries are retried within it, and a lookup that
// fails or runs out of time yields the configured defaults instead: a
// caller is never left waiting on a CRM.
package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is a CRM lookup.
type Config struct {
	// URL is the CRM's endpoint; cid is added to its query.
	URL string
	// Timeout bounds the whole lookup, retries included (default 1 s).
	Timeout time.Duration
	// Retries is how many times a failed try is repeated within Timeout
	// (default 2; a negative value: none). A 4xx answer is not retried.
	Retries int
	// Headers go with every request (an Authorization token, say).
	Headers map[string]string
	// Variables maps a field of the answer (a dotted path into nested
	// objects: "client.debt") to the channel variable that takes its value.
	Variables map[string]string
	// Defaults are the variables of a lookup that failed. A variable the
	// answer leaves out keeps its default too.
	Defaults map[string]string
}

// StatusVariable is the channel variable that says how the lookup went:
// "ok", or "failed" when the defaults stand in for the answer.
const StatusVariable = "fsdialer_crm"

// Result is what a lookup found.
type Result struct {
	Variables map[string]string // channel variables to set, StatusVariable included
	Err       error             // why the defaults were used (nil: the CRM answered)
	Tries     int
}

// Client runs lookups.
type Client struct {
	cfg  Config
	http *http.Client
}

// New checks cfg and returns a client that sends its requests with hc
// (nil: http.DefaultClient).
func New(cfg Config, hc *http.Client) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("lookup.url: %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("lookup.timeout: %v must not be negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	for field, v := range cfg.Variables {
		if field == "" || v == "" || strings.ContainsAny(v, " =\n\r\t") {
			return nil, fmt.Errorf("lookup.variables: %q -> %q: a field and a channel variable name (no blanks or =) are needed", field, v)
		}
	}
	for v := range cfg.Defaults {
		if v == "" || strings.ContainsAny(v, " =\n\r\t") {
			return nil, fmt.Errorf("lookup.defaults: %q is not a channel variable name", v)
		}
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// Lookup asks the CRM about cid. It always returns variables to set: the
// answer's, else the defaults.
func (c *Client) Lookup(ctx context.Context, cid string) Result {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var res Result
	for {
		res.Tries++
		vars, retry, err := c.try(ctx, cid)
		if err == nil {
			res.Variables, res.Err = c.withDefaults(vars, "ok"), nil
			return res
		}
		res.Err = err
		if !retry || res.Tries > c.cfg.Retries || ctx.Err() != nil {
			break
		}
		select { // a short pause: a CRM that refuses at once is not hammered
		case <-ctx.Done():
		case <-time.After(min(50*time.Millisecond, c.cfg.Timeout/10)):
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil && !errors.Is(res.Err, context.DeadlineExceeded) {
		res.Err = fmt.Errorf("%w (then the lookup's %v ran out)", res.Err, c.cfg.Timeout)
	}
	res.Variables = c.withDefaults(nil, "failed")
	return res
}

func (c *Client) withDefaults(vars map[string]string, status string) map[string]string {
	out := make(map[string]string, len(c.cfg.Defaults)+len(vars)+1)
	for k, v := range c.cfg.Defaults {
		out[k] = v
	}
	for k, v := range vars {
		out[k] = v
	}
	out[StatusVariable] = status
	return out
}

// try sends one request; retry says whether another may do better.
func (c *Client) try(ctx context.Context, cid string) (map[string]string, bool, error) {
	u, _ := url.Parse(c.cfg.URL) // checked by New
	q := u.Query()
	q.Set("cid", cid)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("crm lookup: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("crm lookup: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, true, fmt.Errorf("crm lookup: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			fmt.Errorf("crm lookup: %s answered %s", u.Host, resp.Status)
	}
	vars, err := Map(body, c.cfg.Variables)
	if err != nil {
		return nil, false, err
	}
	return vars, false, nil
}

// Map reads a CRM's answer, a JSON object, and returns the channel
// variables mapping names: field path -> variable. Strings are taken as
// they are, numbers as written, true and false as such, objects and
// arrays as their JSON; null and absent fields are left out. An answer
// that is not a JSON object is an error that says where it went wrong.
func Map(body []byte, mapping map[string]string) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("crm lookup: the answer is not JSON: %v at byte %d", se, se.Offset)
		}
		return nil, fmt.Errorf("crm lookup: the answer is not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, errors.New("crm lookup: the answer is null, not a JSON object")
	}
	if dec.More() {
		return nil, fmt.Errorf("crm lookup: the answer has more after its object, at byte %d", dec.InputOffset())
	}
	fields := make([]string, 0, len(mapping))
	for f := range mapping {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	out := map[string]string{}
	for _, f := range fields {
		v, ok := lookupPath(doc, f)
		if !ok || v == nil {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		out[mapping[f]] = lineBreaks.Replace(s) // a variable is set on one line
	}
	return out, nil
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

func lookupPath(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
