package hooks_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/hooks"
)

// The body of an ended event, as a hook receives it.
func ExampleNewEnded() {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	call := hooks.Call{Campaign: "6563a0c1e4b0a1b2c3d4e5f6", CampaignName: "Debt reminder", Member: "000001r", MemberName: "Ivan",
		Attempt: "a-17", UUID: "1b4f0c2e-8d7a-4c8e-9f1e-2a3b4c5d6e7f", CID: "+380441234567", Variables: map[string]any{"debt": 120.5}}
	ev := hooks.NewEnded(call, hooks.End{Cause: "NORMAL_CLEARING", Outcome: "success", EndCause: "NORMAL_CLEARING",
		BillMsec: 42300, AnsweredAt: at.Add(-45 * time.Second).UnixMilli()}, at)
	ev.ID = "5f0c2e8d7a4c8e9f1e2a3b4c5d6e7f1b" // random otherwise
	bodies, _ := hooks.Marshal(ev)
	fmt.Println(string(bodies[0]))
	// Output:
	// {"id":"5f0c2e8d7a4c8e9f1e2a3b4c5d6e7f1b","event":"ended","direction":"outbound","queue":"6563a0c1e4b0a1b2c3d4e5f6","queue_name":"Debt reminder","member":"000001r","member_name":"Ivan","attempt":"a-17","uuid":"1b4f0c2e-8d7a-4c8e-9f1e-2a3b4c5d6e7f","cid":"+380441234567","time":1795428000000,"variables":{"debt":120.5},"cause":"NORMAL_CLEARING","outcome":"success","end_cause":"NORMAL_CLEARING","bill_msec":42300,"answered_at":1795427955000}
}

// A receiver checks the signature over the raw body before it trusts the
// event, then de-duplicates by the event id.
func ExampleVerify() {
	const secret = "the hook's secret, 16+ bytes"
	seen := map[string]bool{}
	crm := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || !hooks.Verify(secret, body, r.Header.Get("X-Fsdialer-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("X-Fsdialer-Event-Id")
		if !seen[id] {
			seen[id] = true
			fmt.Println("new event", id)
		}
		w.WriteHeader(http.StatusNoContent) // a 2xx, even for a duplicate: it is delivered
	})
	body := `{"id":"e1","event":"bridged"}`
	for _, sig := range []string{hooks.Sign(secret, []byte(body)), hooks.Sign(secret, []byte(body)), "sha256=00"} {
		req := httptest.NewRequest(http.MethodPost, "/crm", strings.NewReader(body))
		req.Header.Set("X-Fsdialer-Signature", sig)
		req.Header.Set("X-Fsdialer-Event-Id", "e1")
		rec := httptest.NewRecorder()
		crm.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// new event e1
	// 204
	// 204
	// 401
}
