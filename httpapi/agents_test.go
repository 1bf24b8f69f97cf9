package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// agentDoc is the part of an agent document the tests read.
type agentDoc struct {
	ID, Name, Contact, Status, State, Reason string
	Skills                                   []string
	ReadyTime                                int64 `json:"ready_time"`
	LastStatusChange                         int64 `json:"last_status_change"`
	CallTimeout                              int   `json:"call_timeout"`
	WrapUpTime                               int   `json:"wrap_up_time"`
}

// The agent resource of the seeds' engine: create, read, replace, status,
// state, filters, bulk load, delete.
func TestAgentResource(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/api/v2/callcenter/agent", `{"id":"100","name":"Olena","skills":["uk","sales"],"wrap_up_time":30}`).want(t, 200)
	f.do("POST", "/api/v2/callcenter/agent", `{"id":"100"}`).want(t, 409)
	var got agentDoc
	f.do("GET", "/api/v2/callcenter/agent/100", "").want(t, 200).data(t, &got)
	if got.Contact != "user/100" || got.Status != "Logged Out" || got.State != "Idle" || got.CallTimeout != 15 || got.WrapUpTime != 30 {
		t.Fatalf("new agent %+v", got)
	}
	f.do("POST", "/api/v2/callcenter/agent/100/status", `{"status":"Available"}`).want(t, 200).data(t, &got)
	if got.Status != "Available" || got.State != "Waiting" || got.LastStatusChange != f.clk.Now().Unix() {
		t.Fatalf("available agent %+v", got)
	}
	r := f.do("POST", "/api/v2/callcenter/agent/100/status", `{"status":"Sleeping"}`).want(t, 422)
	r.names(t, "status")
	f.do("POST", "/api/v2/callcenter/agent/100/state", `{"state":"In a queue call"}`).want(t, 422).names(t, "state")
	f.do("POST", "/api/v2/callcenter/agent/100/state", `{"state":"Waiting"}`).want(t, 200)
	f.do("POST", "/api/v2/callcenter/agent/999/status", `{"status":"Available"}`).want(t, 404)
	// a replacement keeps the status
	f.do("PUT", "/api/v2/callcenter/agent/100", `{"name":"Olena K.","contact":"sofia/internal/100@pbx.example.com","skills":["uk"]}`).want(t, 200).data(t, &got)
	if got.Name != "Olena K." || got.Status != "Available" || got.Contact != "sofia/internal/100@pbx.example.com" {
		t.Fatalf("replaced agent %+v", got)
	}
	f.do("PUT", "/api/v2/callcenter/agent/100", `{"id":"101"}`).want(t, 422).names(t, "id")
	// bulk: one bad item is refused alone
	r = f.do("POST", "/api/v2/callcenter/agent", `{"items":[{"id":"200","skills":["sales"]},{"id":"201","reach":"telepathy"},{"id":"202","skills":["uk"]}]}`).want(t, 200)
	if !strings.Contains(r.raw, `"insertedCount":2`) || !strings.Contains(r.raw, `"index":1`) || !strings.Contains(r.raw, `"field":"reach"`) {
		t.Fatalf("bulk answer %s", r.raw)
	}
	list := func(query string) string {
		var out []agentDoc
		f.do("GET", "/api/v2/callcenter/agent"+query, "").want(t, 200).data(t, &out)
		var ids []string
		for _, a := range out {
			ids = append(ids, a.ID)
		}
		return strings.Join(ids, ",")
	}
	camp := f.do("POST", "/api/v2/dialer", strings.Replace(minimal, `"type":"Voice Broadcasting"`, `"type":"Progressive Dialer","skills":["uk"],"agents":["200"]`, 1)).want(t, 200).insertedID(t)
	for _, tc := range []struct{ query, want string }{
		{"", "100,200,202"},
		{"?status=Available", "100"},
		{"?state=Idle", "200,202"},
		{"?skill=sales", "200"},
		{"?campaign=" + camp, "100,200,202"},
		{"?limit=2", "100,200"},
		{"?offset=2", "202"},
	} {
		if got := list(tc.query); got != tc.want {
			t.Errorf("agents%s: %s, want %s", tc.query, got, tc.want)
		}
	}
	f.do("GET", "/api/v2/callcenter/agent?campaign=nosuch", "").want(t, 404)
	f.do("DELETE", "/api/v2/callcenter/agent/202", "").want(t, 200)
	f.do("GET", "/api/v2/callcenter/agent/202", "").want(t, 404)
	var stats []map[string]any
	f.do("GET", "/api/v2/dialer/"+camp+"/agents/stats", "").want(t, 200).data(t, &stats)
	if len(stats) != 0 {
		t.Fatalf("stats of a campaign that never dialed: %v", stats)
	}
}

// TestPreviewOfferAPI: an agent of a preview campaign sees the member
// offered to them, skips it with a reason, and a second answer is a 409;
// an agent with no offer gets a 404, a bad reason a 422 naming it.
func TestPreviewOfferAPI(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/api/v2/callcenter/agent", `{"id":"a1","name":"Ann"}`).want(t, 200)
	f.do("POST", "/api/v2/callcenter/agent/a1/status", `{"status":"Available"}`).want(t, 200)
	f.do("GET", "/api/v2/callcenter/agent/a1/offer", "").want(t, 404)
	camp := strings.NewReplacer(`"Voice Broadcasting"`, `"Preview Dialer"`, `"broadcast":{"file":"/msg.wav"}`, `"agents":["a1"],"preview":{"offerTimeout":600}`).Replace(minimal)
	id := f.do("POST", "/api/v2/dialer", camp).want(t, 200).insertedID(t)
	f.do("POST", "/api/v2/dialer/"+id+"/members?autoRun=true", `{"name":"Ivan","communications":[{"number":"+380501112233"}]}`).want(t, 200)
	var offer store.Offer
	f.runUntil("the offer", time.Minute, func() bool {
		r := f.do("GET", "/api/v2/callcenter/agent/a1/offer", "")
		if r.code != 200 {
			return false
		}
		r.data(t, &offer)
		return true
	})
	if offer.Campaign != id || offer.Name != "Ivan" || offer.Number != "+380501112233" || offer.OnTimeout != store.PreviewSkip {
		t.Fatalf("offer %+v", offer)
	}
	f.do("POST", "/api/v2/callcenter/agent/a1/offer/skip", `{"reason":"x\ny"}`).want(t, 422).names(t, "reason")
	var answered store.Offer
	f.do("POST", "/api/v2/callcenter/agent/a1/offer/skip", `{"reason":"wrong person"}`).want(t, 200).data(t, &answered)
	if answered.Decision != store.PreviewSkip || answered.Reason != "wrong person" || answered.Attempt != offer.Attempt {
		t.Fatalf("answer %+v", answered)
	}
	if r := f.do("POST", "/api/v2/callcenter/agent/a1/offer/accept", ""); r.code != 409 && r.code != 404 {
		t.Fatalf("a second answer: %d %s", r.code, r.raw)
	}
	f.do("POST", "/api/v2/callcenter/agent/nobody/offer/accept", "").want(t, 404)
}
