package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/httpapi"
	"github.com/fsdialer/fsdialer/sim/simtest"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// benchAPI is the API of a dialer on the real clock, dialing fsim (its own
// process) with Redis in its own process.
type benchAPI struct {
	url    string
	eng    *dialer.Engine
	client *http.Client
}

func newBenchAPI(b *testing.B) *benchAPI {
	addr := simtest.StartFsim(b, "gateways: [{name: gw}]\ndefault: {answer: 0.5, busy: 0.2, ring: 2, talk: 20}\nplayback: 8\n")
	st := storetest.Open(b)
	var eng *dialer.Engine
	client := esl.NewClient(esl.ClientConfig{Config: esl.Config{Password: "ClueCon", OnEvent: func(ev *esl.Event) { eng.HandleEvent("fs1", ev) }},
		Name: "fs1", Address: addr, Events: dialer.Events(), OnState: func(n string, s esl.State, err error) { eng.HandleState(n, s, err) }})
	pool := esl.NewPool(esl.NewNode(client, 0))
	eng = dialer.New(dialer.Config{Store: st, Switches: dialer.PoolSwitches(pool), Clock: clock.Real{}, Instance: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go pool.Run(ctx)
	go func() { eng.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Engine: eng, Store: st, Tokens: []string{writer}, MaxBody: 64 << 20}))
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	return &benchAPI{url: srv.URL, eng: eng, client: &http.Client{Transport: tr}}
}

func (a *benchAPI) send(b *testing.B, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	req.Header.Set("X-Access-Token", writer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (a *benchAPI) campaign(b *testing.B, limit int) string {
	code, body := a.send(b, "POST", "/api/v2/dialer", strings.Replace(minimal, `"limit":5`, fmt.Sprintf(`"limit":%d`, limit), 1))
	if code != 200 {
		b.Fatal(body)
	}
	i := strings.Index(body, `"insertedIds":["`) + len(`"insertedIds":["`)
	return body[i : i+24]
}

// bulkBody is seed 004's items shape with n members of two numbers.
func bulkBody(base, n int) string {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := base; i < base+n; i++ {
		if i > base {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":"Member %d","priority":%d,"variables":{"debt":%d},"communications":[{"destination":"38091%07d","priority":1,"type":{"id":"1"}},{"destination":"38092%07d","priority":0,"type":{"id":"2"}}]}`, i, i%10, i*7, i, i)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

// BenchmarkBulkUpload posts 100,000 members (seed 004's items, two numbers
// each) in requests of 10,000 over loopback HTTP and reports members/s.
func BenchmarkBulkUpload(b *testing.B) {
	a := newBenchAPI(b)
	const perRequest, requests = 10000, 10
	bodies := make([]string, requests)
	for r := range bodies {
		bodies[r] = bulkBody(r*perRequest, perRequest)
	}
	for it := 0; it < b.N; it++ {
		id := a.campaign(b, 10)
		start := time.Now()
		for _, body := range bodies {
			if code, out := a.send(b, "POST", "/api/v2/dialer/"+id+"/members", body); code != 200 || strings.Contains(out, `"errors"`) {
				b.Fatalf("%d %.300s", code, out)
			}
		}
		b.ReportMetric(float64(perRequest*requests)/time.Since(start).Seconds(), "members/s")
	}
}

// BenchmarkStatusLatencyWhileDialing sends PUT .../status at 500 requests a
// second for 10 s (an open loop: requests go out on schedule whatever the
// answers do) while the campaign dials 200 lines, and reports the
// latency's p50 and p99.
func BenchmarkStatusLatencyWhileDialing(b *testing.B) {
	a := newBenchAPI(b)
	const (
		members  = 20000
		rate     = 500
		duration = 10 * time.Second
	)
	for it := 0; it < b.N; it++ {
		id := a.campaign(b, 200)
		var ids []string
		for base := 0; base < members; base += 10000 {
			_, out := a.send(b, "POST", "/api/v2/dialer/"+id+"/members", bulkBody(base, 10000))
			i := strings.Index(out, `"insertedIds":[`) + len(`"insertedIds":[`)
			for _, q := range strings.Split(out[i:strings.Index(out[i:], "]")+i], ",") {
				ids = append(ids, strings.Trim(q, `"`))
			}
		}
		if code, out := a.send(b, "PUT", "/api/v2/dialer/"+id+"/state/1", ""); code != 200 {
			b.Fatal(out)
		}
		time.Sleep(2 * time.Second) // the dialer is busy by now
		var (
			mu   sync.Mutex
			lat  []time.Duration
			errs int
			wg   sync.WaitGroup
		)
		bodies := []string{
			`{"success": false, "next_after_sec": 3600, "comment": "call back"}`,
			`{"success": false, "reset_retries": true}`,
			`{"success": false, "next_after_sec": 600, "description": "busy"}`,
		}
		// Open loop on a schedule: request i is due at begin+i/rate and its
		// latency counts from then, so a stall delays (and is charged to)
		// the requests behind it instead of quietly lowering the rate.
		begin := time.Now()
		for i := 0; i < int(rate*duration.Seconds()); i++ {
			due := begin.Add(time.Duration(i) * time.Second / rate)
			time.Sleep(time.Until(due))
			mid, body := ids[rand.IntN(len(ids))], bodies[rand.IntN(len(bodies))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _ := a.send(b, "PUT", "/api/v2/dialer/"+id+"/members/"+mid+"/status", body)
				d := time.Since(due)
				mu.Lock()
				lat = append(lat, d)
				if code != 200 && code != 409 { // 409: a member that ended meanwhile
					errs++
				}
				mu.Unlock()
			}()
		}
		sent := time.Since(begin)
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		placed := int64(0)
		for _, p := range a.eng.Progress() {
			placed += p.Placed
		}
		if errs > 0 || placed == 0 {
			b.Fatalf("%d failed requests, %d calls placed", errs, placed)
		}
		b.ReportMetric(float64(len(lat))/sent.Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(placed), "calls-placed")
	}
}
