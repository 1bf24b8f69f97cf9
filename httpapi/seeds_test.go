package httpapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/store"
)

// The seed documents' example requests, as printed, are in
// testdata/seeds (the demo's test replays them too). Where the print is
// not valid JSON (003's regular expression escapes, 002's missing comma)
// or holds placeholders (004's "Destination" and "string"), the verbatim
// request must get a clear error, and the repaired one must work.
var (
	seed003Campaign = seedBody("003-campaign.json") // POST /api/v2/dialer
	seed003Member   = seedBody("003-member.json")   // POST .../members?autoRun=true
	seed002Member   = seedBody("002-member.json")   // its name was Cyrillic in the original
	seed002Status   = seedBody("002-status.json")   // verbatim: a comma is missing after the array
	seed003Status   = seedBody("003-status.json")
	seed004Items    = seedBody("004-items.json") // 4.1.2, its comments removed (JSON has none)
)

func seedBody(name string) string {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "seeds", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestSeedRequests(t *testing.T) {
	f := newFixture(t)
	// A calendar for the campaign to refer to.
	cal := f.do("POST", "/api/v2/calendars", `{"name":"WorksDay","timezone":"Europe/Kyiv","week":[{"day":1,"startTime":540,"endTime":1080}]}`).want(t, 200).insertedID(t)

	// 003 create, as printed: "\+" is not a JSON escape.
	r := f.do("POST", "/api/v2/dialer", seed003Campaign).want(t, 400)
	if !strings.Contains(r.body.Error, "line 48, column 34") {
		t.Fatalf("the error does not give the position: %s", r.body.Error)
	}
	// repaired, with a real calendar id
	campaign := strings.NewReplacer(`"^\+\d{8,11}\$"`, `"^\\+\\d{8,11}$"`, `"0\$1"`, `"0$1"`, "594225b53c1956000b41db7b", cal).Replace(seed003Campaign)
	id := f.do("POST", "/api/v2/dialer", campaign).want(t, 200).insertedID(t)
	var got store.Campaign
	f.do("GET", "/api/v2/dialer/"+id, "").want(t, 200).data(t, &got)
	if got.Name != "myPredictiveDialer" || !got.Parameters.WaitingForResultStatus || got.AgentStrategy != "longest-idle-agent" ||
		got.Resources[0].Destinations[0].CallerIDNumber != "000000000" || len(got.Communications.Types) != 2 || got.State != "idle" {
		t.Fatalf("stored campaign %+v", got)
	}
	// 003 update with PUT: the other spelling of waitingForResultStatus
	put := strings.Replace(campaign, `"waitingForResultStatus" : true`, `"waitForResultStatus" : false`, 1)
	f.do("PUT", "/api/v2/dialer/"+id, put).want(t, 200).data(t, &got)
	if got.Parameters.WaitingForResultStatus {
		t.Fatal("waitForResultStatus was not read")
	}
	// 003 state: the seed's predictive campaign starts and stops
	f.do("PUT", "/api/v2/dialer/"+id+"/state/1", "").want(t, 200)
	f.do("PUT", "/api/v2/dialer/"+id+"/state/0", "").want(t, 200)

	// 003 member, with autoRun as printed
	bc := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+bc+"/members?autoRun=true", seed003Member).want(t, 200).insertedID(t)
	var m struct {
		ID             string `json:"_id"`
		Name           string
		Priority       int
		Expire         int64
		Communications []struct{ Number, Type, Description string }
	}
	f.do("GET", "/api/v2/dialer/"+bc+"/members/"+mid, "").want(t, 200).data(t, &m)
	if m.ID != mid || m.Name != "Ivan Ivanov" || m.Priority != 10 || m.Expire != 1497992400000 || m.Communications[0].Type != "1" || m.Communications[1].Description != "old one, without communication type" {
		t.Fatalf("member %+v", m)
	}
	var camp store.Campaign
	f.do("GET", "/api/v2/dialer/"+bc, "").want(t, 200).data(t, &camp)
	if camp.State != "running" {
		t.Fatalf("autoRun left the campaign %s", camp.State)
	}
	// 002 member
	f.do("POST", "/api/v2/dialer/"+bc+"/members", seed002Member).want(t, 200).insertedID(t)

	// 004 items as printed: placeholders, each item refused with every
	// field named as the seed spells it
	var refused struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []struct {
			Index  int
			Fields []struct{ Field string }
		}
	}
	f.do("POST", "/api/v2/dialer/"+bc+"/members", seed004Items).want(t, 200).data(t, &refused)
	if len(refused.InsertedIDs) != 0 || len(refused.Errors) != 2 {
		t.Fatalf("placeholders: %+v", refused)
	}
	for i, e := range refused.Errors {
		var names []string
		for _, fe := range e.Fields {
			names = append(names, fe.Field)
		}
		want := []string{"expire_at", "communications[0].destination", "communications[1].destination", "communications[2].destination"}[:2+2*i]
		if e.Index != i || strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("item %d: fields %v, want %v", i, names, want)
		}
	}
	// with the placeholders filled in: both created, buckets kept
	items := strings.Replace(seed004Items, `"expire_at": "string"`, `"expire_at": "2030-01-01"`, -1)
	for i, n := range []string{"380501110001", "380501110002", "380501110003", "380501110004"} {
		items = strings.Replace(items, `"destination": "Destination"`, `"destination": "`+n+`"`, 1)
		_ = i
	}
	r = f.do("POST", "/api/v2/dialer/"+bc+"/members", items).want(t, 200)
	var ins struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []any
	}
	r.data(t, &ins)
	if len(ins.InsertedIDs) != 2 || len(ins.Errors) != 0 {
		t.Fatalf("items: %s", r.raw)
	}
	var m2 struct {
		Bucket         struct{ ID string }
		Expire         int64
		Communications []struct{ Number, Type string }
	}
	f.do("GET", "/api/v2/dialer/"+bc+"/members/"+ins.InsertedIDs[1], "").want(t, 200).data(t, &m2)
	if m2.Bucket.ID != "2" || len(m2.Communications) != 3 || m2.Communications[2].Type != "2" || m2.Expire == 0 {
		t.Fatalf("seed 004 member %+v", m2)
	}

	// 002 status, as printed: the missing comma is named. A result answers
	// a call: both members had theirs answered and await a result.
	bc, awaiting := f.awaitingResults("380920000000,380930000000,380940000000", "380920000001", "380920000002")
	target, target2, target3 := awaiting[0], awaiting[1], awaiting[2]
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target+"/status", seed002Status).want(t, 400)
	if !strings.Contains(r.body.Error, "line 1, column 163") {
		t.Fatalf("the error does not give the position: %s", r.body.Error)
	}
	// repaired
	var after struct {
		State          string
		NextTryAt      int64
		Communications []struct {
			Number  string
			Stopped bool
		}
	}
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target+"/status", strings.Replace(seed002Status, `] "comment"`, `], "comment"`, 1)).want(t, 200).data(t, &after)
	if after.State != "waiting" || after.NextTryAt != f.clk.Now().Add(3600e9).UnixMilli() || !after.Communications[0].Stopped || !after.Communications[1].Stopped ||
		after.Communications[2].Stopped || after.Communications[3].Number != "380910000000" {
		t.Fatalf("after the result: %+v", after)
	}
	// 003 status: stop.communications and description
	// as printed: its next_communication is now the first member's number
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/status", seed003Status).want(t, 409)
	if !strings.Contains(r.body.Error, "380910000000 already belongs to member "+target) {
		t.Fatalf("conflict not named: %s", r.raw)
	}
	// numbers to stop that are not the member's (the seed's are another
	// member's) are ignored, and said so: the rest of the result applies
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target3+"/status", strings.Replace(seed003Status, `"next_communication": "380910000000",`, "", 1)).want(t, 200)
	var applied struct {
		State     string
		NextTryAt int64
	}
	r.data(t, &applied)
	var ignored struct{ Ignored []string }
	_ = json.Unmarshal([]byte(r.raw), &ignored)
	if applied.State != "waiting" || applied.NextTryAt != f.clk.Now().Add(3600e9).UnixMilli() || len(ignored.Ignored) != 2 ||
		!strings.HasPrefix(ignored.Ignored[0], "stop_communications[0]: 380920000000 is not a number of member "+target3) {
		t.Fatalf("seed 003's result with another member's numbers: %s", r.raw)
	}
	var all struct {
		Communications []struct {
			Number  string
			Stopped bool
		}
	}
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/status", `{"success": false, "next_communication": "380910000001", "stop.communications": "all", "description": "busy line"}`).want(t, 200).data(t, &all)
	if !all.Communications[0].Stopped || all.Communications[1].Number != "380910000001" || all.Communications[1].Stopped {
		t.Fatalf("stop all but the next: %+v", all)
	}
	// 003 terminate
	var term struct{ State, EndCause string }
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/terminate", "").want(t, 200).data(t, &term)
	if term.State != "done" || term.EndCause != "TERMINATED" {
		t.Fatalf("terminated member %+v", term)
	}
}
