package main

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/dialer/hooks"
	"github.com/fsdialer/fsdialer/httpapi"
)

// names records the metric names collectors describe as they register.
type names map[string]bool

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (n names) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		name := fqName.FindStringSubmatch(d.String())[1]
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			n[name+suffix] = true
		}
	}
	return nil
}

func (n names) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = n.Register(c)
	}
}

func (n names) Unregister(prometheus.Collector) bool { return false }

// TestDeployReferencesRealMetrics: every dialer_* series the alert rules and
// the Grafana dashboard query is one dialerd exports, so neither rots when
// a metric is renamed.
func TestDeployReferencesRealMetrics(t *testing.T) {
	exported := names{}
	dialer.NewMetrics(exported)
	httpapi.New(httpapi.Config{Registerer: exported})
	hooks.New(hooks.Config{Registerer: exported})

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	raw, err := os.ReadFile("../../deploy/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("prometheus-rules.yml: %v", err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("a rule without alert or expr: %+v", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	raw, err = os.ReadFile("../../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d queries found", len(exprs))
	}
	series := regexp.MustCompile(`\bdialer_[a-z0-9_]+`)
	used := names{}
	for _, e := range exprs {
		for _, s := range series.FindAllString(e, -1) {
			used[s] = true
			if !exported[s] {
				t.Errorf("%q queries %s, which dialerd does not export", e, s)
			}
		}
	}
	for n := range exported {
		if !used[n] && !regexp.MustCompile(`_(bucket|sum|count)$`).MatchString(n) && !used[n+"_bucket"] {
			t.Errorf("%s is on no dashboard panel and in no alert", n)
		}
	}
}
