package lookup_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/dialer/lookup"
)

// crm is a CRM stub: answer runs for the n-th request (from 1).
func crm(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(int(n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/lookup?token=abc", &n
}

var mapping = map[string]string{"found": "crm_found", "debt": "crm_debt", "client.name": "crm_name", "client.balance": "crm_balance"}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answer   func(n int, w http.ResponseWriter, r *http.Request)
		want     map[string]string
		tries    int
		errMatch string
	}{
		{"answers", func(n int, w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cid") != "+380501112233" || r.URL.Query().Get("token") != "abc" || r.Header.Get("Authorization") != "Bearer x" {
				http.Error(w, "bad request "+r.URL.String(), 400)
				return
			}
			fmt.Fprint(w, `{"found": true, "debt": false, "client": {"name": "Ivan\nPetrenko", "balance": -12.50}, "other": 1}`)
		}, map[string]string{"crm_found": "true", "crm_debt": "false", "crm_name": "Ivan Petrenko", "crm_balance": "-12.50", "crm_route": "default", lookup.StatusVariable: "ok"}, 1, ""},
		{"leaves a field out", func(n int, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"found": false, "debt": null}`)
		}, map[string]string{"crm_found": "false", "crm_route": "default", lookup.StatusVariable: "ok"}, 1, ""},
		{"fails, then answers", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				http.Error(w, "busy", 503)
				return
			}
			fmt.Fprint(w, `{"found": true}`)
		}, map[string]string{"crm_found": "true", "crm_route": "default", lookup.StatusVariable: "ok"}, 2, ""},
		{"fails every time", func(n int, w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", 500)
		}, map[string]string{"crm_found": "unknown", "crm_route": "default", lookup.StatusVariable: "failed"}, 3, "500 Internal Server Error"},
		{"not found is not retried", func(n int, w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, map[string]string{"crm_found": "unknown", "crm_route": "default", lookup.StatusVariable: "failed"}, 1, "404 Not Found"},
		{"answers too slowly", func(n int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			fmt.Fprint(w, `{"found": true}`)
		}, map[string]string{"crm_found": "unknown", "crm_route": "default", lookup.StatusVariable: "failed"}, 1, "deadline exceeded"},
		{"bad JSON", func(n int, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"found": tru`)
		}, map[string]string{"crm_found": "unknown", "crm_route": "default", lookup.StatusVariable: "failed"}, 1, "not a JSON object"},
		{"an array", func(n int, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `[1,2]`)
		}, map[string]string{"crm_found": "unknown", "crm_route": "default", lookup.StatusVariable: "failed"}, 1, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := crm(t, tc.answer)
			c, err := lookup.New(lookup.Config{URL: url, Timeout: 300 * time.Millisecond, Variables: mapping,
				Headers:  map[string]string{"Authorization": "Bearer x"},
				Defaults: map[string]string{"crm_found": "unknown", "crm_route": "default"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res := c.Lookup(context.Background(), "+380501112233")
			if fmt.Sprint(res.Variables) != fmt.Sprint(tc.want) {
				t.Errorf("variables %v, want %v", res.Variables, tc.want)
			}
			if res.Tries != tc.tries {
				t.Errorf("%d tries, want %d", res.Tries, tc.tries)
			}
			switch {
			case tc.errMatch == "" && res.Err != nil:
				t.Errorf("error %v", res.Err)
			case tc.errMatch != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.errMatch)):
				t.Errorf("error %v, want one saying %q", res.Err, tc.errMatch)
			}
		})
	}
}

func TestLookupConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  lookup.Config
		want string
	}{
		{lookup.Config{URL: "ftp://crm"}, "lookup.url"},
		{lookup.Config{URL: "http://crm", Timeout: -1}, "lookup.timeout"},
		{lookup.Config{URL: "http://crm", Variables: map[string]string{"found": "a b"}}, "lookup.variables"},
		{lookup.Config{URL: "http://crm", Defaults: map[string]string{"x=y": "1"}}, "lookup.defaults"},
	} {
		if _, err := lookup.New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func FuzzMap(f *testing.F) {
	for _, s := range []string{`{"found": true}`, `{"client": {"name": "x"}}`, `null`, `[]`, `{"a":1}{`, `{"found": [1, {"x": null}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		vars, err := lookup.Map(body, mapping)
		if err != nil {
			return
		}
		for k, v := range vars {
			if strings.ContainsAny(v, "\r\n") {
				t.Fatalf("%s = %q: a line break in a variable", k, v)
			}
		}
	})
}

func ExampleClient_Lookup() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"found": true, "debt": %t}`, r.URL.Query().Get("cid") == "380501112233")
	}))
	defer srv.Close()
	c, err := lookup.New(lookup.Config{URL: srv.URL, Variables: map[string]string{"found": "crm_found", "debt": "crm_debt"}}, nil)
	if err != nil {
		panic(err)
	}
	res := c.Lookup(context.Background(), "380501112233")
	fmt.Println(res.Variables["crm_found"], res.Variables["crm_debt"], res.Variables[lookup.StatusVariable])
	// Output: true true ok
}
