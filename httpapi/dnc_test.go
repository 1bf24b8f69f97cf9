package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestDoNotCallAPI: the global list and a campaign's, by JSON and by CSV
// (a bad line refused by its number, the rest added), checked one number
// at a time, listed in pages, and edited; every refusal names what is
// wrong.
func TestDoNotCallAPI(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	var res struct {
		Added, Removed int
		Errors         []struct {
			Line  int
			Error string
		}
	}
	f.do("POST", "/api/v2/dnc", `{"numbers": ["+380501111111", "38067*"]}`).want(t, 200).data(t, &res)
	if res.Added != 2 {
		t.Fatalf("added %d", res.Added)
	}
	f.do("POST", "/api/v2/dnc", `{"numbers": ["+380502222222", "call me"]}`).want(t, 422).names(t, "numbers[1]")
	f.do("POST", "/api/v2/dnc", `{}`).want(t, 422).names(t, "numbers")
	csv := "name,number\nIvan,+380503333333\nPetro,not a number\nOlha,+380504444444\n"
	f.call("POST", "/api/v2/dialer/"+camp+"/dnc/csv", writer, "text/csv", csv).want(t, 200).data(t, &res)
	if res.Added != 2 || len(res.Errors) != 1 || res.Errors[0].Line != 3 {
		t.Fatalf("CSV: %+v", res)
	}
	f.do("POST", "/api/v2/dialer/nope/dnc", `{"numbers": ["1234"]}`).want(t, 404)

	check := func(path string) (listed bool, list, entry string) {
		var out struct {
			Listed      bool
			List, Entry string
		}
		f.do("GET", path, "").want(t, 200).data(t, &out)
		return out.Listed, out.List, out.Entry
	}
	for _, tc := range []struct {
		path        string
		listed      bool
		list, entry string
	}{
		{"/api/v2/dnc/380501111111", true, "global", "380501111111"},
		{"/api/v2/dnc/+380671234567", true, "global", "38067*"},
		{"/api/v2/dnc/380503333333", false, "", ""}, // the campaign's only
		{"/api/v2/dialer/" + camp + "/dnc/380503333333", true, camp, "380503333333"},
		{"/api/v2/dialer/" + camp + "/dnc/380671234567", true, "global", "38067*"},
		{"/api/v2/dialer/" + camp + "/dnc/380509999999", false, "", ""},
	} {
		if l, list, e := check(tc.path); l != tc.listed || list != tc.list || e != tc.entry {
			t.Errorf("%s: %v %q %q, want %v %q %q", tc.path, l, list, e, tc.listed, tc.list, tc.entry)
		}
	}
	f.do("GET", "/api/v2/dnc/call-me", "").want(t, 422).names(t, "number")

	var nums []string
	for i := range 250 {
		nums = append(nums, fmt.Sprintf("38093%07d", i))
	}
	body, _ := json.Marshal(map[string]any{"numbers": nums})
	f.do("POST", "/api/v2/dnc", string(body)).want(t, 200)
	seen := map[string]bool{}
	for cursor, pages := "", 0; ; pages++ {
		r := f.do("GET", "/api/v2/dnc?limit=100&cursor="+cursor, "").want(t, 200)
		var page struct {
			Entries  []string
			Numbers  int
			Prefixes int
		}
		r.data(t, &page)
		if page.Numbers != 251 || page.Prefixes != 1 || pages > 20 {
			t.Fatalf("page %d: %+v", pages, page)
		}
		for _, e := range page.Entries {
			seen[e] = true
		}
		if cursor = r.body.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 252 || !seen["38067*"] {
		t.Fatalf("listed %d entries, want 252", len(seen))
	}
	f.do("GET", "/api/v2/dnc?cursor=zzz", "").want(t, 422).names(t, "cursor")
	f.do("DELETE", "/api/v2/dnc/38067*", "").want(t, 200).data(t, &res)
	if res.Removed != 1 {
		t.Fatalf("removed %d", res.Removed)
	}
	f.do("DELETE", "/api/v2/dnc/38067*", "").want(t, 404)
	if l, _, _ := check("/api/v2/dnc/380671234567"); l {
		t.Errorf("a removed prefix still lists")
	}
	if r := f.call("POST", "/api/v2/dnc", reader, "", `{"numbers":["1234"]}`); r.code != 403 {
		t.Errorf("a reader added to the list: %d", r.code)
	}
}
