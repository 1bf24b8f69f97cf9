package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/httpapi"
)

// Bad input, one table per body type. A row puts a value of the wrong type
// at a path of a body that is otherwise valid; the answer must be a 422
// naming exactly that field, as the client wrote it (with indexes), and
// saying in plain words what belongs there. A new field joins by a row.

// badType is one wrong value: where it goes ("/" between keys, so that a
// key may hold a dot) and what the answer must say belongs there.
type badType struct {
	path  string
	value any
	want  string
}

// field is the API's name of a path: "resources/0/limit" is
// "resources[0].limit".
func (b badType) field() string {
	var out strings.Builder
	for _, seg := range strings.Split(b.path, "/") {
		if _, err := strconv.Atoi(seg); err == nil {
			out.WriteString("[" + seg + "]")
			continue
		}
		if out.Len() > 0 {
			out.WriteString(".")
		}
		out.WriteString(seg)
	}
	return out.String()
}

// with returns base with the value put at path.
func (b badType) with(t *testing.T, base string) string {
	t.Helper()
	var doc any
	dec := json.NewDecoder(strings.NewReader(base))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("base document: %v", err)
	}
	segs := strings.Split(b.path, "/")
	cur := doc
	for i, seg := range segs {
		last := i == len(segs)-1
		switch node := cur.(type) {
		case map[string]any:
			if last {
				node[seg] = b.value
			} else {
				cur = node[seg]
			}
		case []any:
			n, _ := strconv.Atoi(seg)
			if last {
				node[n] = b.value
			} else {
				cur = node[n]
			}
		default:
			t.Fatalf("%s: the base document has no %s", b.path, seg)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// fullCampaign has every field of a campaign, lists with two elements.
const fullCampaign = `{"name":"full","description":"d","type":"Voice Broadcasting","priority":1,
 "calendar":{"id":"","name":"n"},
 "parameters":{"limit":5,"minBillSec":3,"originateTimeout":30,"maxTryCount":2,"intervalTryCount":60,"wrapUpTime":10,
   "predictAdjust":150,"targetPredictiveSilentCalls":2.5,"maxPredictiveSilentCalls":3,"waitingForResultStatus":false,
   "recordSession":false,"eternalQueue":false,"retryAbandoned":false,"retriesByNumber":false,"oneDayTask":false},
 "amd":{"enabled":false,"allowNotSure":false,"maximumWordLength":5000,"maximumNumberOfWords":3,"betweenWordsSilence":50,
   "minWordLength":100,"totalAnalysisTime":5000,"silenceThreshold":256,"afterGreetingSilence":800,"greeting":1500,"initialSilence":2500},
 "variables":{"tag":"x"},"numberStrategy":"by-priority","membersStrategy":"next-tries-circuit","autoResetStats":false,
 "resources":[{"dialledNumber":"^\\+?(\\d+)$","destinations":[
   {"gwName":"gw","dialString":"$1","gwProto":"sip","order":0,"limit":10,"enabled":true,"callerIdNumber":"380440000000"},
   {"gwName":"gw2","dialString":"$1","gwProto":"sip","order":1,"limit":10,"enabled":true,"callerIdNumber":"380440000001"}]}],
 "agentParams":{"callTimeout":20,"wrapUpTime":40,"maxNoAnswer":2,"busyDelayTime":10,"rejectDelayTime":10,"noAnswerDelayTime":10},
 "agents":["100","200"],"skills":["english","ukrainian"],"agentStrategy":"random",
 "communications":{"types":[{"name":"Personal","code":"1","ranges":[{"startTime":540,"endTime":1080,"attempts":2,"priority":10}]}]},
 "causes":{"error":["UNALLOCATED_NUMBER"],"retry":["NO_ANSWER","USER_BUSY"],"ok":[],"minus":["LOSE_RACE"]},
 "broadcast":{"file":"/msg.wav","extension":"","dialplan":"XML","context":"default"}}`

var campaignBadTypes = []badType{
	{"name", 5, "a string"},
	{"description", true, "a string"},
	{"type", []any{}, "a string"},
	{"priority", "high", "a whole number"},
	{"priority", json.Number("1.5"), "a whole number"},
	{"calendar", "594225b53c1956000b41db7b", "an object"},
	{"calendar/id", json.Number("5"), "a string"},
	{"calendar/name", map[string]any{}, "a string"},
	{"parameters", []any{}, "an object"},
	{"parameters/limit", "a", "a whole number"},
	{"parameters/minBillSec", "10s", "a whole number"},
	{"parameters/originateTimeout", true, "a whole number"},
	{"parameters/maxTryCount", []any{}, "a whole number"},
	{"parameters/intervalTryCount", json.Number("1e3"), "a whole number"},
	{"parameters/wrapUpTime", map[string]any{}, "a whole number"},
	{"parameters/predictAdjust", "x", "a whole number"},
	{"parameters/targetPredictiveSilentCalls", "2.5", "a number"},
	{"parameters/maxPredictiveSilentCalls", true, "a number"},
	{"parameters/waitingForResultStatus", "yes", "true or false"},
	{"parameters/waitForResultStatus", json.Number("1"), "true or false"},
	{"parameters/recordSession", "true", "true or false"},
	{"parameters/eternalQueue", json.Number("0"), "true or false"},
	{"parameters/retryAbandoned", "no", "true or false"},
	{"parameters/retriesByNumber", []any{}, "true or false"},
	{"parameters/oneDayTask", map[string]any{}, "true or false"},
	{"amd", "on", "an object"},
	{"amd/enabled", json.Number("1"), "true or false"},
	{"amd/maximumWordLength", "5s", "a whole number"},
	{"variables", []any{"a"}, "an object"},
	{"numberStrategy", json.Number("1"), "a string"},
	{"membersStrategy", true, "a string"},
	{"autoResetStats", "no", "true or false"},
	{"resources", map[string]any{}, "a list"},
	{"resources/0", "gw", "an object"},
	{"resources/0/dialledNumber", json.Number("380"), "a string"},
	{"resources/0/dialedNumber", []any{}, "a string"},
	{"resources/0/destinations", map[string]any{}, "a list"},
	{"resources/0/destinations/1", json.Number("1"), "an object"},
	{"resources/0/destinations/1/limit", "x", "a whole number"},
	{"resources/0/destinations/0/gwName", json.Number("1"), "a string"},
	{"resources/0/destinations/1/dialString", json.Number("0"), "a string"},
	{"resources/0/destinations/0/gwProto", false, "a string"},
	{"resources/0/destinations/1/order", "first", "a whole number"},
	{"resources/0/destinations/0/enabled", "yes", "true or false"},
	{"resources/0/destinations/1/callerIdNumber", json.Number("380440000000"), "a string"},
	{"agentParams", []any{}, "an object"},
	{"agentParams/callTimeout", "20s", "a whole number"},
	{"agents", "100", "a list"},
	{"agents/1", json.Number("200"), "a string"},
	{"skills/0", map[string]any{}, "a string"},
	{"agentStrategy", json.Number("1"), "a string"},
	{"communications", []any{}, "an object"},
	{"communications/types", map[string]any{}, "a list"},
	{"communications/types/0/code", json.Number("1"), "a string"},
	{"communications/types/0/name", json.Number("1"), "a string"},
	{"communications/types/0/ranges/0/startTime", "9:00", "a whole number"},
	{"communications/types/0/ranges/0/attempts", json.Number("1.5"), "a whole number"},
	{"causes", []any{}, "an object"},
	{"causes/error", "UNALLOCATED_NUMBER", "a list"},
	{"causes/retry/1", json.Number("17"), "a string"},
	{"broadcast", "/msg.wav", "an object"},
	{"broadcast/file", json.Number("5"), "a string"},
	{"broadcast/context", true, "a string"},
}

const fullMember = `{"name":"m","priority":1,"timezone":"Europe/Kyiv","variables":{"debt":"10"},
 "communications":[{"number":"380501230001","priority":2,"type":"1","description":"own"},
                   {"destination":"380501230002","priority":1,"type":{"id":"2"},"description":"work"}],
 "expire":1798761600000,"bucket":{"id":"b1"}}`

var memberBadTypes = []badType{
	{"name", json.Number("5"), "a string"},
	{"priority", "high", "a whole number"},
	{"timezone", json.Number("2"), "a string"},
	{"variables", "debt=10", "an object"},
	{"communications", "380501230001", "a list"},
	{"communications/0", "380501230001", "an object"},
	{"communications/0/number", json.Number("380501230001"), "a string"},
	{"communications/1/destination", json.Number("380501230002"), "a string"},
	{"communications/1/priority", "high", "a whole number"},
	{"communications/0/type", []any{}, "a string or an object"},
	{"communications/1/type/id", map[string]any{}, "a string"},
	{"communications/0/description", false, "a string"},
	{"expire", true, "epoch milliseconds, an RFC 3339 time or a YYYY-MM-DD date"},
	{"expire", "soon", "is not epoch milliseconds"},
	{"expire_at", "2026-13-45", "is not epoch milliseconds"},
	{"bucket", []any{}, "a string or an object"},
	{"bucket/id", []any{}, "a string"},
}

const fullCalendar = `{"name":"c","timezone":"Europe/Kyiv","startDate":"2026-11-01","endDate":"2027-03-31",
 "week":[{"day":1,"startTime":540,"endTime":1200},{"day":2,"startTime":540,"endTime":1200}],
 "holidays":[{"date":"2026-12-25","name":"Christmas","repeat":true}]}`

var calendarBadTypes = []badType{
	{"name", json.Number("1"), "a string"},
	{"timezone", json.Number("2"), "a string"},
	{"startDate", json.Number("20261101"), "a string"},
	{"endDate", map[string]any{}, "a string"},
	{"week", map[string]any{}, "a list"},
	{"week/1", "monday", "an object"},
	{"week/1/day", "tuesday", "a whole number"},
	{"week/0/startTime", "9:00", "a whole number"},
	{"week/0/endTime", json.Number("1200.5"), "a whole number"},
	{"holidays", "2026-12-25", "a list"},
	{"holidays/0/date", json.Number("20261225"), "a string"},
	{"holidays/0/name", true, "a string"},
	{"holidays/0/repeat", "yearly", "true or false"},
}

const fullResult = `{"success":false,"reset_retries":false,"next_after_sec":3600,"next_communication":"380501239999",
 "stop_communications":["380501230001"],"description":"d","comment":"c"}`

var resultBadTypes = []badType{
	{"success", "yes", "true or false"},
	{"reset_retries", json.Number("1"), "true or false"},
	{"next_after_sec", "x", "a number"},
	{"next_after_sec", true, "a number"},
	{"next_communication", json.Number("380501239999"), "a string"},
	{"stop_communications", json.Number("5"), "a list of numbers or \"all\""},
	{"stop_communications", "some", `a string must be "all"`},
	{"stop_communications/0", map[string]any{}, "a number (a string)"},
	{"stop.communications", true, "a list of numbers or \"all\""},
	{"description", json.Number("1"), "a string"},
	{"comment", []any{}, "a string"},
}

// checkOneField checks a 422 names exactly one field, in plain words.
func checkOneField(t *testing.T, r *response, field, want string) {
	t.Helper()
	r.want(t, 422)
	if len(r.body.Fields) != 1 || r.body.Fields[0].Field != field || !strings.Contains(r.body.Fields[0].Message, want) {
		t.Fatalf("want only %s (%q): %s", field, want, r.raw)
	}
	plainWords(t, r)
}

// plainWords fails on Go's own words in an answer.
func plainWords(t *testing.T, r *response) {
	t.Helper()
	for _, fe := range r.body.Fields {
		if httpapi.GoInternals.MatchString(fe.Field) || httpapi.GoInternals.MatchString(httpapi.Quoted.ReplaceAllString(fe.Message, `""`)) {
			t.Fatalf("Go internals in the answer: %s", r.raw)
		}
	}
}

func TestBadTypes(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+camp+"/members", `{"name":"a","communications":[{"number":"380501230001"}]}`).want(t, 200).insertedID(t)
	cal := f.do("POST", "/api/v2/calendars", fullCalendar).want(t, 200).insertedID(t)
	// the bases are valid as they are
	f.do("POST", "/api/v2/dialer", fullCampaign).want(t, 200)
	f.do("POST", "/api/v2/dialer/"+camp+"/members", strings.ReplaceAll(fullMember, "380501", "380502")).want(t, 200)
	for _, body := range []struct {
		name, method, path, base string
		rows                     []badType
	}{
		{"campaign create", "POST", "/api/v2/dialer", fullCampaign, campaignBadTypes},
		{"campaign update", "PUT", "/api/v2/dialer/" + camp, fullCampaign, campaignBadTypes},
		{"member", "POST", "/api/v2/dialer/" + camp + "/members", fullMember, memberBadTypes},
		{"member update", "PUT", "/api/v2/dialer/" + camp + "/members/" + mid, fullMember, memberBadTypes},
		{"calendar create", "POST", "/api/v2/calendars", fullCalendar, calendarBadTypes},
		{"calendar update", "PUT", "/api/v2/calendars/" + cal, fullCalendar, calendarBadTypes},
		{"call result", "PUT", "/api/v2/dialer/" + camp + "/members/" + mid + "/status", fullResult, resultBadTypes},
	} {
		for _, row := range body.rows {
			t.Run(fmt.Sprintf("%s/%s=%v", body.name, row.field(), row.value), func(t *testing.T) {
				checkOneField(t, f.do(body.method, body.path, row.with(t, body.base)), row.field(), row.want)
			})
		}
	}
	// In a bulk upload the same wrong values refuse their item only, named
	// inside it, with its index.
	for _, row := range memberBadTypes {
		t.Run(fmt.Sprintf("bulk/%s=%v", row.field(), row.value), func(t *testing.T) {
			good := strings.ReplaceAll(fullMember, "380501", "380503")
			body := `{"items":[` + good + `,` + row.with(t, fullMember) + `]}`
			r := f.do("POST", "/api/v2/dialer/"+camp+"/members", body).want(t, 200)
			var res struct {
				InsertedIDs []string `json:"insertedIds"`
				Errors      []struct {
					Index  int
					Fields []struct{ Field, Message string }
				}
			}
			r.data(t, &res)
			for _, id := range res.InsertedIDs { // its numbers are free for the next row
				f.do("DELETE", "/api/v2/dialer/"+camp+"/members/"+id, "").want(t, 200)
			}
			if len(res.InsertedIDs) != 1 || len(res.Errors) != 1 || res.Errors[0].Index != 1 || len(res.Errors[0].Fields) != 1 ||
				res.Errors[0].Fields[0].Field != row.field() || !strings.Contains(res.Errors[0].Fields[0].Message, row.want) {
				t.Fatalf("want item 1 refused for %s only: %s", row.field(), r.raw)
			}
		})
	}
}

// TestBadItems: items that is not a list refuses the body, naming items
// alone; an item that is not an object refuses that item.
func TestBadItems(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	path := "/api/v2/dialer/" + camp + "/members"
	checkOneField(t, f.do("POST", path, `{"items": {"name": "a"}}`), "items", "must be a list, not an object")
	checkOneField(t, f.do("POST", path, `{"items": "a", "priority": "x"}`), "items", "must be a list")
	var res struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []struct {
			Index  int
			Fields []struct{ Field, Message string }
		}
	}
	// beside items, the fields of one member are not used: their types do not matter
	f.do("POST", path, `{"priority": "x", "items": [7, {"name": "b", "communications": [{"number": "380501230009"}]}, null]}`).want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 1 || len(res.Errors) != 2 || res.Errors[0].Index != 0 || res.Errors[0].Fields[0].Field != "(item)" ||
		!strings.Contains(res.Errors[0].Fields[0].Message, "must be an object, not the number 7") || res.Errors[1].Index != 2 {
		t.Fatalf("items: %+v", res)
	}
}

// TestEveryWrongFieldNamed: wrong types and invalid values in one body are
// all named, not only the first.
func TestEveryWrongFieldNamed(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+camp+"/members", `{"name":"a","communications":[{"number":"380501230001"}]}`).want(t, 200).insertedID(t)
	for _, tc := range []struct {
		name, method, path, body string
		fields                   []string
	}{
		{"campaign", "POST", "/api/v2/dialer",
			`{"name":"","type":"Voice Broadcasting","priority":"high","parameters":{"limit":"a","maxTryCount":-1},
			  "resources":[{"dialledNumber":"(","destinations":[{"gwName":"gw","limit":1},{"gwName":"gw","limit":"x"}]}],"broadcast":{"file":5}}`,
			[]string{"name", "priority", "parameters.limit", "parameters.maxTryCount", "resources[0].dialledNumber", "resources[0].destinations[1].limit", "broadcast.file"}},
		{"member", "POST", "/api/v2/dialer/" + camp + "/members",
			`{"name":"b","priority":"high","timezone":"Mars/Olympus","expire":"soon","communications":[{"number":380501230002},{"number":"call me"}]}`,
			[]string{"priority", "timezone", "expire", "communications[0].number", "communications[1].number"}},
		{"calendar", "POST", "/api/v2/calendars",
			`{"name":"","timezone":"Nowhere","week":[{"day":"mon","startTime":540,"endTime":600},{"day":9,"startTime":"9:00","endTime":600}]}`,
			[]string{"name", "timezone", "week[0].day", "week[1].day", "week[1].startTime"}},
		{"call result", "PUT", "/api/v2/dialer/" + camp + "/members/" + mid + "/status",
			`{"success":"no","next_after_sec":-5,"stop_communications":"some"}`,
			[]string{"success", "next_after_sec", "stop_communications"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.method, tc.path, tc.body).want(t, 422)
			r.names(t, tc.fields...)
			if len(r.body.Fields) != len(tc.fields) {
				t.Errorf("want %d fields: %s", len(tc.fields), r.raw)
			}
			plainWords(t, r)
		})
	}
}

// TestCallResultOutOfTurn: a result that says nothing is a 422 naming what
// is missing; a result for a member that is neither in a call nor waiting
// for a result is a 409, and the member is left as it was.
func TestCallResultOutOfTurn(t *testing.T) {
	f := newFixture(t)
	camp, ids := f.awaitingResults("380501230001", "380501230002")
	f.do("PUT", "/api/v2/dialer/"+camp+"/state/0", "").want(t, 200) // the next member stays ready
	ready := f.do("POST", "/api/v2/dialer/"+camp+"/members", `{"name":"late","communications":[{"number":"380501230003"}]}`).want(t, 200).insertedID(t)
	status := func(id string) string { return "/api/v2/dialer/" + camp + "/members/" + id + "/status" }
	type member struct {
		State     string
		NextTryAt int64
		Attempts  int
	}
	get := func(id string) (m member) {
		f.do("GET", "/api/v2/dialer/"+camp+"/members/"+id, "").want(t, 200).data(t, &m)
		return m
	}
	before := get(ready)
	for _, tc := range []struct {
		name, member, body string
		code               int
		field, message     string
	}{
		{"empty object", ids[0], `{}`, 422, "success", "a call result gives success"},
		{"null", ids[0], `null`, 422, "success", "a call result gives success"},
		{"only a false flag", ids[0], `{"reset_retries": false}`, 422, "success", ""},
		{"only unknown fields", ids[0], `{"result": "ok"}`, 422, "success", ""},
		{"no body", ids[0], ``, 400, "", "empty body"},
		{"ready member", ready, `{"success": false}`, 409, "", "no call result is awaited for member " + ready},
		{"ready member, empty", ready, `{}`, 422, "success", ""},
		{"unknown member", "zzzzzzz", `{"success": true}`, 404, "", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("PUT", status(tc.member), tc.body).want(t, tc.code)
			if tc.field != "" {
				r.names(t, tc.field)
			}
			if !strings.Contains(r.raw, tc.message) {
				t.Fatalf("the answer does not say %q: %s", tc.message, r.raw)
			}
		})
	}
	if after := get(ready); after != before {
		t.Fatalf("a refused result changed the member: %+v, was %+v", after, before)
	}
	if m := get(ids[0]); m.State != "result" {
		t.Fatalf("refused results ended the wait: %+v", m)
	}
	// the awaited result is taken; a second one is out of turn
	f.do("PUT", status(ids[0]), `{"success": false, "next_after_sec": "60"}`).want(t, 200) // a number in a string, as encoding/json takes it
	if m := get(ids[0]); m.State != "waiting" {
		t.Fatalf("after its result: %+v", m)
	}
	f.do("PUT", status(ids[0]), `{"success": false}`).want(t, 409)
	// a success ends the member; anything after is a conflict
	f.do("PUT", status(ids[1]), `{"success": true}`).want(t, 200)
	if r := f.do("PUT", status(ids[1]), `{"success": true}`).want(t, 409); !strings.Contains(r.body.Error, "ended") {
		t.Fatal(r.raw)
	}
}

// TestExpireForms: expire and expire_at take what docs/api.md promises,
// in a single member and in bulk.
func TestExpireForms(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	endOf2026 := int64(1798761599999) // 2026-12-31T23:59:59.999Z
	for i, tc := range []struct {
		value string
		want  int64
	}{
		{`1798761600000`, 1798761600000},
		{`"1798761600000"`, 1798761600000},
		{`"2026-12-31"`, endOf2026},
		{`"2026-12-31T18:00:00+02:00"`, 1798732800000},
		{`"2026-12-31T16:00:00Z"`, 1798732800000},
		{`null`, 0},
	} {
		for j, key := range []string{"expire", "expire_at"} {
			t.Run(key+"="+tc.value, func(t *testing.T) {
				number := fmt.Sprintf("38050900%02d%02d", i, j)
				single := fmt.Sprintf(`{"name":"x","%s":%s,"communications":[{"number":"%s"}]}`, key, tc.value, number)
				id := f.do("POST", "/api/v2/dialer/"+camp+"/members", single).want(t, 200).insertedID(t)
				var m struct{ Expire int64 }
				f.do("GET", "/api/v2/dialer/"+camp+"/members/"+id, "").want(t, 200).data(t, &m)
				if m.Expire != tc.want {
					t.Fatalf("expire %d, want %d", m.Expire, tc.want)
				}
				bulk := `{"items":[` + strings.Replace(single, number, number+"9", 1) + `]}`
				r := f.do("POST", "/api/v2/dialer/"+camp+"/members", bulk).want(t, 200)
				var res struct {
					InsertedIDs []string `json:"insertedIds"`
				}
				r.data(t, &res)
				if len(res.InsertedIDs) != 1 {
					t.Fatalf("bulk: %s", r.raw)
				}
			})
		}
	}
}

// csvRefusal is a line a CSV upload must refuse, and what it must say.
type csvRefusal struct {
	line    int
	message string
}

// TestCSVBadInput: every line of a file is loaded or refused with its
// number; what spreadsheets write (a byte order mark, UTF-16, fields over
// lines) is read; a file in another charset is refused with a hint.
func TestCSVBadInput(t *testing.T) {
	f := newFixture(t)
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	big := strings.Repeat("x", 100<<10)
	utf16 := "\xff\xfe" + func() string { // "name,number\nJo,380507000001\n" in UTF-16LE
		var b strings.Builder
		for _, r := range "name,number\r\nJo,380507000001\r\n" {
			b.WriteByte(byte(r))
			b.WriteByte(0)
		}
		return b.String()
	}()
	for _, tc := range []struct {
		name, query, body string
		loaded            int
		refused           []csvRefusal
	}{
		{"a bare quote and an unclosed one cost their own lines", "", lines("name,number",
			"a,380501000002", "b,380501000003", "c,380501000004", `d"x,380501000005`, `e,"380501000006`,
			"f,380501000007", "g,380501000008", "h,380501000009", "i,380501000010"),
			7, []csvRefusal{{5, "line 5: column 1: a quote inside a field"}, {6, "line 6: column 2: the quote that opens the field is never closed"}}},
		{"a quote closed lines later", "", lines("name,number",
			`a,"380501000011`, "b,380501000012", `"Bo",380501000013`, "c,380501000014"),
			3, []csvRefusal{{2, "line 2: column 2: the quote that opens the field is closed only at line 4"}}},
		{"an unclosed quote in a long file", "", lines("name,number", `a,"380501000015`) + many(300),
			300, []csvRefusal{{2, "line 2: column 2: the quoted field runs over 4096 bytes: is its closing quote missing?"}}},
		{"a byte order mark", "", "\ufeff" + lines("name,number", "Bom,380501000021"), 1, nil},
		{"UTF-16 with its byte order mark", "", utf16, 1, nil},
		{"a quoted field over lines, CRLF", "?columns=name,number,-&skipHeader=true", "n,n,note\r\nAnn,380501000031,\"two\r\nlines\"\r\nBo,380501000032,x\r\n", 2, nil},
		{"blank lines and empty rows", "", lines("name,number", "", "  ", ",", " , ", `"",""`, "Cy,380501000041"), 1, nil},
		{"a field over 4 KiB", "", lines("name,number", big+",380501000051", "Di,380501000052", `"`+big[:5000]+`",380501000053`),
			1, []csvRefusal{{2, "line 2: column 1: over the 4096 bytes a field may hold"}, {4, "line 4: column 1: 5000 bytes, over the 4096"}}},
		{"a line over 64 KiB", "?columns=name,number,-,-,-,-,-,-,-,-,-,-,-,-,-,-,-,-,-,-", lines(strings.Repeat("1234,", 20000), "Ed,380501000061"),
			1, []csvRefusal{{1, "line 1: longer than 65536 bytes"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			camp := f.campaign()
			var res struct {
				InsertedIDs []string `json:"insertedIds"`
				Errors      []struct {
					Index, Line int
					Error       string
				}
			}
			f.call("POST", "/api/v2/dialer/"+camp+"/members/csv"+tc.query, writer, "text/csv", tc.body).want(t, 200).data(t, &res)
			if len(res.InsertedIDs) != tc.loaded || len(res.Errors) != len(tc.refused) {
				t.Fatalf("loaded %d, refused %d %+v; want %d and %+v", len(res.InsertedIDs), len(res.Errors), res.Errors[:min(3, len(res.Errors))], tc.loaded, tc.refused)
			}
			for i, want := range tc.refused {
				if got := res.Errors[i]; got.Line != want.line || !strings.Contains(got.Error, want.message) {
					t.Errorf("refused %+v, want line %d saying %q", got, want.line, want.message)
				}
			}
		})
	}
}

// many is n CSV lines of members with numbers of their own.
func many(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "m%d,38060%07d\n", i, i)
	}
	return b.String()
}

// TestCSVNotUTF8: a file in another charset, given without charset, is
// refused whole while nothing of it is stored, with the line and a hint;
// past the first batch, the line alone is refused.
func TestCSVNotUTF8(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	upload := func(body string) *response {
		return f.call("POST", "/api/v2/dialer/"+camp+"/members/csv", writer, "text/csv", body)
	}
	cp1251 := "name,number\nAnn,380501000001\n\xcf\xe5\xf2\xf0\xee,380501000002\n" // "Петро"
	r := upload(cp1251).want(t, 422)
	r.names(t, "charset")
	if !strings.Contains(r.raw, "line 3") || !strings.Contains(r.raw, "charset=windows-1251") {
		t.Fatalf("no line or hint: %s", r.raw)
	}
	var total struct{ Members map[string]int }
	f.do("GET", "/api/v2/dialer/"+camp+"/stats", "").want(t, 200).data(t, &total)
	if total.Members["ready"] != 0 {
		t.Fatalf("a refused file left members: %+v", total)
	}
	// the same file with its charset is loaded
	var res struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []struct {
			Line  int
			Error string
		}
	}
	f.call("POST", "/api/v2/dialer/"+camp+"/members/csv?charset=windows-1251", writer, "text/csv", cp1251).want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 2 {
		t.Fatalf("with its charset: %+v", res)
	}
	// past the first batch (5,000 lines), a line that is not UTF-8 is refused alone
	upload("name,number\n"+many(5001)+"\xcf\xe5\xf2\xf0\xee,380609999999\n").want(t, 200).data(t, &res)
	if len(res.InsertedIDs) != 5001 || len(res.Errors) != 1 || res.Errors[0].Line != 5003 || !strings.Contains(res.Errors[0].Error, "charset") {
		t.Fatalf("loaded %d, refused %+v", len(res.InsertedIDs), res.Errors)
	}
}

// TestBadQueries: a cursor the API did not give is a 400 naming it (not a
// 503, not a silent first page); a method a path does not have is a 405
// with Allow; a number written with + as docs show it is found.
func TestBadQueries(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+camp+"/members", `{"name":"plus","communications":[{"number":"+380501230001"}]}`).want(t, 200).insertedID(t)
	base := "/api/v2/dialer/" + camp
	for _, tc := range []struct {
		method, path string
		code         int
		field, allow string
	}{
		{"GET", base + "/history?before=garbage", 400, "before", ""},
		{"GET", base + "/history?before=1-2-3", 400, "before", ""},
		{"GET", base + "/history?before=-1", 400, "before", ""},
		{"GET", base + "/history?before=99999999999999999999999-0", 400, "before", ""},
		{"GET", base + "/history?before=1795602000000-0", 200, "", ""},
		{"GET", base + "/history?before=1795602000000", 200, "", ""},
		{"GET", base + "/members?cursor=abc", 400, "cursor", ""},
		{"GET", base + "/members?cursor=-1", 400, "cursor", ""},
		{"GET", base + "/members?cursor=0000000", 400, "cursor", ""},
		{"GET", base + "/members?cursor=0", 200, "", ""},
		{"GET", base + "/members?cursor=zzzzzzz", 200, "", ""},
		{"PATCH", base, 405, "", "DELETE, GET, PUT"},
		{"POST", base + "/stats", 405, "", "GET"},
		{"DELETE", "/api/v2/dialer", 405, "", "GET, POST"},
		{"GET", base + "/members/" + mid + "/status", 405, "", "PUT"},
		{"HEAD", "/api/v2/calendars", 405, "", "GET, POST"},
		{"POST", "/healthz", 405, "", "GET"},
		{"GET", "/api/v2/nothing", 404, "", ""},
	} {
		t.Run(tc.method+" "+strings.TrimPrefix(tc.path, base), func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.url+tc.path, nil)
			req.Header.Set("X-Access-Token", writer)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b)
			}
			if tc.field != "" && !strings.Contains(string(b), `"field":"`+tc.field+`"`) {
				t.Fatalf("%s not named: %s", tc.field, b)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	for _, q := range []string{"+380501230001", "%2B380501230001", "+380%2050%20123%200001"} {
		var page []struct{ Name string }
		f.do("GET", base+"/members?number="+q, "").want(t, 200).data(t, &page)
		if len(page) != 1 || page[0].Name != "plus" {
			t.Errorf("number=%s found %+v", q, page)
		}
	}
}
