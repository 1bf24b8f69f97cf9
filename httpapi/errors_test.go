package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/encoding/charmap"

	"github.com/fsdialer/fsdialer/httpapi"
)

func TestErrorClasses(t *testing.T) {
	f := newFixture(t)
	id := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+id+"/members", `{"name":"a","communications":[{"number":"380500000001"}]}`).want(t, 200).insertedID(t)
	for _, tc := range []struct {
		name, method, path, token, body string
		code                            int
		fields                          []string
		message                         string
	}{
		{"no token", "GET", "/api/v2/dialer", "", "", 401, nil, "missing access token"},
		{"wrong token", "GET", "/api/v2/dialer", "nope", "", 401, nil, "invalid access token"},
		{"read token writing", "POST", "/api/v2/dialer", reader, minimal, 403, nil, "may read but not write"},
		{"read token reading", "GET", "/api/v2/dialer", reader, "", 200, nil, ""},
		{"unknown campaign", "GET", "/api/v2/dialer/000000000000000000000000", writer, "", 404, nil, "not found"},
		{"unknown member", "GET", "/api/v2/dialer/" + id + "/members/zzzzzzz", writer, "", 404, nil, "not found"},
		{"malformed JSON", "POST", "/api/v2/dialer", writer, "{\n  \"name\": \"x\",\n  \"type\" \"Voice Broadcasting\"\n}", 400, nil, "line 3, column 10"},
		{"truncated JSON", "POST", "/api/v2/dialer", writer, `{"name": "x"`, 400, nil, "ends early"},
		{"wrong type", "POST", "/api/v2/dialer", writer, `{"name": "x", "priority": "high"}`, 422, []string{"priority"}, ""},
		{"bad campaign", "POST", "/api/v2/dialer", writer,
			`{"name":"","type":"Robocall","parameters":{"limit":0,"originateTimeout":9999},"resources":[{"dialledNumber":"(","destinations":[{"gwName":"","limit":-1,"enabled":true}]}],"causes":{"error":["MADE_UP"]}}`,
			422, []string{"name", "type", "parameters.limit", "parameters.originateTimeout", "resources[0].dialledNumber", "resources[0].destinations[0].gwName", "resources[0].destinations[0].limit", "causes.error[0]"}, ""},
		{"bad member", "POST", "/api/v2/dialer/" + id + "/members", writer,
			`{"name":"b","priority":5000000,"timezone":"Mars/Olympus","communications":[{"number":"call me"},{"number":"+380500000002"},{"number":"+380 50 000 00 02"}],"variables":{"1bad":"x","ok":"it's"}}`,
			422, []string{"priority", "timezone", "communications[0].number", "communications[2].number", "variables.1bad", "variables.ok"}, ""},
		{"duplicate number", "POST", "/api/v2/dialer/" + id + "/members", writer, `{"name":"c","communications":[{"number":"380 50 000 0001"}]}`, 409, nil, "number 380500000001 already belongs to member"},
		{"bad state", "PUT", "/api/v2/dialer/" + id + "/state/5", writer, "", 422, []string{"state"}, ""},
		{"bad paging", "GET", "/api/v2/dialer?limit=0", writer, "", 422, []string{"limit"}, ""},
		{"bad member state filter", "GET", "/api/v2/dialer/" + id + "/members?state=asleep", writer, "", 422, []string{"state"}, ""},
		{"bad call result", "PUT", "/api/v2/dialer/" + id + "/members/" + mid + "/status", writer, `{"stop_communications": "some", "next_after_sec": -5}`, 422, []string{"stop_communications"}, ""},
		{"bad next_after_sec", "PUT", "/api/v2/dialer/" + id + "/members/" + mid + "/status", writer, `{"next_after_sec": -5}`, 422, []string{"next_after_sec"}, ""},
		{"body too large", "POST", "/api/v2/dialer", writer, `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, nil, "limit"},
		{"unknown calendar", "DELETE", "/api/v2/calendars/nothing", writer, "", 404, nil, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.call(tc.method, tc.path, tc.token, "", tc.body).want(t, tc.code)
			if tc.code >= 400 && r.body.Status != "error" {
				t.Fatalf("error answer without status error: %s", r.raw)
			}
			if tc.message != "" && !strings.Contains(r.body.Error, tc.message) {
				t.Fatalf("error %q does not say %q", r.body.Error, tc.message)
			}
			r.names(t, tc.fields...)
		})
	}
	f.do("DELETE", "/api/v2/dialer/"+id+"/members/"+mid, "").want(t, 200)
	f.do("GET", "/api/v2/dialer/"+id+"/members/"+mid, "").want(t, 404)
	f.do("DELETE", "/api/v2/dialer/"+id+"/members/"+mid, "").want(t, 404)
	// a running campaign cannot be deleted
	f.do("PUT", "/api/v2/dialer/"+id+"/state/1", "").want(t, 200)
	if r := f.do("DELETE", "/api/v2/dialer/"+id, "").want(t, 409); !strings.Contains(r.body.Error, "stop it first") {
		t.Fatal(r.raw)
	}
	f.do("PUT", "/api/v2/dialer/"+id+"/state/0", "").want(t, 200)
	f.do("DELETE", "/api/v2/dialer/"+id, "").want(t, 200)
	f.do("GET", "/api/v2/dialer/"+id, "").want(t, 404)
}

// TestStoreDownIs503: with Redis not answering the API says so, and
// health stays up while readiness goes down.
func TestStoreDownIs503(t *testing.T) {
	f := newFixture(t)
	if err := f.redis.Pause(); err != nil {
		t.Fatal(err)
	}
	defer f.redis.Resume()
	if r := f.do("GET", "/api/v2/dialer", "").want(t, 503); !strings.Contains(r.body.Error, "store is unavailable") {
		t.Fatal(r.raw)
	}
	f.call("GET", "/healthz", "", "", "").want(t, 200)
	f.call("GET", "/readyz", "", "", "").want(t, 503)
}

func TestCSVUpload(t *testing.T) {
	f := newFixture(t)
	id := f.campaign()
	upload := func(query, contentType, body string) *response {
		return f.call("POST", "/api/v2/dialer/"+id+"/members/csv"+query, writer, contentType, body)
	}
	type result struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []struct {
			Index, Line int
			Error       string
			Number      string
			Fields      []struct{ Field string }
		}
	}
	// the header names the columns; a bad line and a duplicate are reported, the rest loaded
	var res result
	upload("", "text/csv", "name,number:1,number:2,var:debt,priority\n"+
		"Ann,380501000001,380671000001,100,5\n"+
		"Bob,not-a-number,,200,1\n"+
		"\n"+
		"Cid,380501000001,,300,x\n"+
		"Dee,380501000002,,400,\n").want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 2 || len(res.Errors) != 2 || res.Errors[0].Line != 3 || res.Errors[1].Line != 5 {
		t.Fatalf("csv result %+v", res)
	}
	var m struct {
		Name           string
		Priority       int
		Variables      map[string]any
		Communications []struct {
			Number, Type string
			Priority     int
		}
	}
	f.do("GET", "/api/v2/dialer/"+id+"/members/"+res.InsertedIDs[0], "").want(t, 200).data(t, &m)
	if m.Name != "Ann" || m.Priority != 5 || m.Variables["debt"] != "100" || m.Communications[1].Type != "2" || m.Communications[0].Priority <= m.Communications[1].Priority {
		t.Fatalf("member from csv %+v", m)
	}
	// columns given, semicolons, windows-1251, a header to skip
	cp1251, _ := charmap.Windows1251.NewEncoder().String("имя;телефон\nІван Іванов;380502000001\n")
	upload("?columns=name,number&separator=%3B&charset=windows-1251&skipHeader=true", "text/csv", cp1251).want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 1 {
		t.Fatalf("cp1251 upload %+v", res)
	}
	f.do("GET", "/api/v2/dialer/"+id+"/members/"+res.InsertedIDs[0], "").want(t, 200).data(t, &m)
	if m.Name != "Іван Іванов" {
		t.Fatalf("name %q", m.Name)
	}
	upload("?columns=name,number&separator=semicolon&skipHeader=true", "text/csv", "name;number\nJo;380502000002\n").want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 1 {
		t.Fatalf("named separator %+v", res)
	}
	// a multipart form, as a browser sends a file
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "members.csv")
	fmt.Fprint(fw, "name,number\nEve,380503000001\n")
	mw.Close()
	upload("", mw.FormDataContentType(), buf.String()).want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 1 {
		t.Fatalf("multipart upload %+v", res)
	}
	// mapping errors name the parameter
	upload("?columns=name,phone", "text/csv", "a,1\n").want(t, 422).names(t, "columns")
	upload("?charset=klingon", "text/csv", "a,1\n").want(t, 422).names(t, "charset")
	upload("", "text/csv", "name,phone\na,1\n").want(t, 422)
}

func TestListsAndHistory(t *testing.T) {
	f := newFixture(t)
	id := f.campaign()
	var items []string
	for i := 0; i < 25; i++ {
		items = append(items, fmt.Sprintf(`{"name":"m%d","communications":[{"number":"38050400%04d"}]}`, i, i))
	}
	f.do("POST", "/api/v2/dialer/"+id+"/members", `{"items":[`+strings.Join(items, ",")+`]}`).want(t, 200)
	r := f.do("GET", "/api/v2/dialer/"+id+"/members?state=ready&limit=10&offset=20", "").want(t, 200)
	var page []struct{ Name, State string }
	r.data(t, &page)
	if len(page) != 5 || *r.body.Total != 25 || page[0].Name != "m20" || page[0].State != "ready" {
		t.Fatalf("page %+v total %v", page, r.body.Total)
	}
	seen := map[string]bool{}
	for cursor := "0"; ; {
		r := f.do("GET", "/api/v2/dialer/"+id+"/members?limit=7&cursor="+cursor, "").want(t, 200)
		r.data(t, &page)
		for _, m := range page {
			seen[m.Name] = true
		}
		if r.body.Next == "" {
			break
		}
		cursor = r.body.Next
	}
	if len(seen) != 25 {
		t.Fatalf("scanned %d members", len(seen))
	}
	f.do("GET", "/api/v2/dialer/"+id+"/members?number=380504000007", "").want(t, 200).data(t, &page)
	if len(page) != 1 || page[0].Name != "m7" {
		t.Fatalf("by number %+v", page)
	}
	var hist []any
	f.do("GET", "/api/v2/dialer/"+id+"/history", "").want(t, 200).data(t, &hist)
	var stats struct {
		Members     map[string]int
		AbandonRate map[string]float64
	}
	f.do("GET", "/api/v2/dialer/"+id+"/stats", "").want(t, 200).data(t, &stats)
	if stats.Members["ready"] != 25 || len(stats.AbandonRate) != 3 {
		t.Fatalf("stats %+v", stats)
	}
	var list []struct {
		ID string `json:"_id"`
	}
	f.do("GET", "/api/v2/dialer?page=1&limit=5", "").want(t, 200).data(t, &list)
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("campaigns %+v", list)
	}
}

func TestCalendarsCRUD(t *testing.T) {
	f := newFixture(t)
	id := f.do("POST", "/api/v2/calendars", `{"name":"office","timezone":"Europe/Kyiv","week":[{"day":1,"startTime":540,"endTime":1080}]}`).want(t, 200).insertedID(t)
	f.do("PUT", "/api/v2/calendars/"+id, `{"name":"office","timezone":"America/New_York","startDate":"2026-01-01","week":[{"day":2,"startTime":540,"endTime":600}],"holidays":[{"date":"2026-12-25","repeat":true}]}`).want(t, 200)
	var cal struct{ Timezone string }
	f.do("GET", "/api/v2/calendars/"+id, "").want(t, 200).data(t, &cal)
	if cal.Timezone != "America/New_York" {
		t.Fatalf("calendar %+v", cal)
	}
	f.do("PUT", "/api/v2/calendars/"+id, `{"name":"office","timezone":"Nowhere/Land","week":[]}`).want(t, 422).names(t, "timezone", "week")
	camp := strings.Replace(minimal, `"name":"b"`, `"name":"b","calendar":{"id":"`+id+`"}`, 1)
	cid := f.do("POST", "/api/v2/dialer", camp).want(t, 200).insertedID(t)
	if r := f.do("DELETE", "/api/v2/calendars/"+id, "").want(t, 409); !strings.Contains(r.body.Error, cid) {
		t.Fatal(r.raw)
	}
	f.do("DELETE", "/api/v2/dialer/"+cid, "").want(t, 200)
	f.do("DELETE", "/api/v2/calendars/"+id, "").want(t, 200)
	var all []any
	f.do("GET", "/api/v2/calendars", "").want(t, 200).data(t, &all)
	if len(all) != 0 {
		t.Fatalf("calendars left: %v", all)
	}
}

// TestOpenAPIMatchesTheRoutes: every route the server answers is in the
// document with its method, and every documented operation is routed.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	f := newFixture(t)
	r := f.call("GET", "/api/v2/openapi.json", "", "", "").want(t, 200)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil || doc.OpenAPI != "3.0.3" {
		t.Fatalf("document: %v %s", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range httpapi.New(httpapi.Config{}).Routes() {
		if !strings.HasPrefix(rt.Path, "/api/v2/") || rt.Path == "/api/v2/openapi.json" || rt.Method == echo.RouteNotFound || rt.Name == "method not allowed" {
			continue
		}
		p := rt.Path
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		routed[rt.Method+" "+p] = true
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("%s is served but not documented", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("%s is documented but not served", k)
		}
	}
	if len(routed) < 20 {
		t.Fatalf("only %d routes found", len(routed))
	}
	_ = http.MethodGet
}

// TestAutoRunThatCannotStart: members posted with autoRun to a campaign
// that cannot run are added all the same, and the answer says why the
// campaign did not start.
func TestAutoRunThatCannotStart(t *testing.T) {
	f := newFixture(t)
	id := f.do("POST", "/api/v2/dialer", minimal).want(t, 200).insertedID(t)
	// stored before the API refused such a value: the campaign cannot start
	k := "dialer:{" + id + "}:campaign"
	raw, err := f.st.Client().Get(t.Context(), k).Result()
	if err != nil {
		t.Fatal(err)
	}
	raw = strings.Replace(raw, `"limit":`, `"limit":0,"x":`, 1)
	if err := f.st.Client().Set(t.Context(), k, raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{
		`{"name":"a","communications":[{"number":"380500000001"}]}`,
		`{"items":[{"name":"b","communications":[{"destination":"380500000002"}]}]}`,
	} {
		r := f.do("POST", "/api/v2/dialer/"+id+"/members?autoRun=true", body).want(t, 200)
		var out struct {
			InsertedIDs []string `json:"insertedIds"`
			Errors      []struct {
				Index int
				Error string
			}
		}
		r.data(t, &out)
		if len(out.InsertedIDs) != 1 || len(out.Errors) != 1 || out.Errors[0].Index != -1 || !strings.Contains(out.Errors[0].Error, "parameters.limit") {
			t.Fatalf("request %d: %s", i, r.raw)
		}
	}
}
