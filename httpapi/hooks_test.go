package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const hookURL = "https://crm.example.com/dialer/events"

// TestHookDocuments: good hook documents are stored with their defaults;
// each bad one answers 422 naming every field that is wrong, by the name
// the body used.
func TestHookDocuments(t *testing.T) {
	f := newFixture(t)
	camp := f.campaign()
	good := []struct{ name, body, check string }{
		{"minimal", `{"event":"ended","action":{"url":"` + hookURL + `"}}`,
			`{"event":["ended"],"action":{"url":"` + hookURL + `","method":"POST"},"delay":2,"timeout":10,"deadline":86400,"enabled":true}`},
		{"the seeds' engine's shape", `{"event":"bridged","action":{"url":"http://10.0.0.5:8080/hook?src=dialer","method":"put","headers":{"Authorization":"Bearer x","X-Tenant":"a, b {c} 'd'"}},"retries":3,"delay":5}`,
			`{"event":["bridged"],"action":{"url":"http://10.0.0.5:8080/hook?src=dialer","method":"PUT","headers":{"Authorization":"Bearer x","X-Tenant":"a, b {c} 'd'"}},"retries":3,"delay":5,"timeout":10,"deadline":86400,"enabled":true}`},
		{"every field", `{"description":"CRM","event":["offering","bridged","missed","ended","member_end"],"action":{"url":"` + hookURL + `"},
			"retries":0,"delay":0.5,"timeout":2.5,"deadline":600,"secret":"0123456789abcdef","campaign":"` + camp + `","enabled":false,"unknown":"ignored"}`,
			`{"description":"CRM","event":["offering","bridged","missed","ended","member_end"],"action":{"url":"` + hookURL + `","method":"POST"},
			"retries":0,"delay":0.5,"timeout":2.5,"deadline":600,"secret":"set","campaign":"` + camp + `","enabled":false}`},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			id := f.do("POST", "/api/v2/hooks", tc.body).want(t, 200).insertedID(t)
			r := f.do("GET", "/api/v2/hooks/"+id, "").want(t, 200)
			var got, want map[string]any
			r.data(t, &got)
			if err := json.Unmarshal([]byte(tc.check), &want); err != nil {
				t.Fatal(err)
			}
			if got["_id"] != id || got["createdAt"] == nil || got["enabledAt"] == nil {
				t.Fatalf("stored %s", r.raw)
			}
			for _, k := range []string{"_id", "createdAt", "updatedAt", "enabledAt"} {
				delete(got, k)
			}
			if a, b := encode(t, got), encode(t, want); a != b {
				t.Fatalf("stored\n%s\nwant\n%s", a, b)
			}
		})
	}
	bad := []struct {
		name, body string
		fields     []string
	}{
		{"no event", `{"action":{"url":"` + hookURL + `"}}`, []string{"event"}},
		{"an unknown event", `{"event":"hangup","action":{"url":"` + hookURL + `"}}`, []string{"event"}},
		{"an unknown event in a list", `{"event":["ended","hangup"],"action":{"url":"` + hookURL + `"}}`, []string{"event[1]"}},
		{"an empty list", `{"event":[],"action":{"url":"` + hookURL + `"}}`, []string{"event"}},
		{"a number for an event", `{"event":5,"action":{"url":"` + hookURL + `"}}`, []string{"event"}},
		{"a number in the list", `{"event":["ended",5],"action":{"url":"` + hookURL + `"}}`, []string{"event[1]"}},
		{"no action", `{"event":"ended"}`, []string{"action.url"}},
		{"a relative url", `{"event":"ended","action":{"url":"/crm"}}`, []string{"action.url"}},
		{"another scheme", `{"event":"ended","action":{"url":"javascript:alert(1)"}}`, []string{"action.url"}},
		{"a url without host", `{"event":"ended","action":{"url":"https://"}}`, []string{"action.url"}},
		{"a line break in the url", `{"event":"ended","action":{"url":"https://crm.example.com/\r\nHost: evil"}}`, []string{"action.url"}},
		{"a url that is a number", `{"event":"ended","action":{"url":5}}`, []string{"action.url"}},
		{"GET", `{"event":"ended","action":{"url":"` + hookURL + `","method":"GET"}}`, []string{"action.method"}},
		{"a header name with a blank", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X Crm":"1"}}}`, []string{"action.headers.X Crm"}},
		{"a header name with a line break", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X\nEvil":"1"}}}`, []string{"action.headers.X\nEvil"}},
		{"a line break in a value", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X-Crm":"1\r\nEvil: 1"}}}`, []string{"action.headers.X-Crm"}},
		{"a NUL in a value", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X-Crm":"1\u0000"}}}`, []string{"action.headers.X-Crm"}},
		{"a number for a value", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X-Crm":5}}}`, []string{"action.headers.X-Crm"}},
		{"Host", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"Host":"evil"}}}`, []string{"action.headers.Host"}},
		{"the signature header", `{"event":"ended","action":{"url":"` + hookURL + `","headers":{"X-Fsdialer-Signature":"x"}}}`, []string{"action.headers.X-Fsdialer-Signature"}},
		{"negative retries", `{"event":"ended","action":{"url":"` + hookURL + `"},"retries":-1}`, []string{"retries"}},
		{"retries as text", `{"event":"ended","action":{"url":"` + hookURL + `"},"retries":"3"}`, []string{"retries"}},
		{"a delay of 0", `{"event":"ended","action":{"url":"` + hookURL + `"},"delay":0}`, []string{"delay"}},
		{"a timeout of an hour", `{"event":"ended","action":{"url":"` + hookURL + `"},"timeout":3600}`, []string{"timeout"}},
		{"a negative deadline", `{"event":"ended","action":{"url":"` + hookURL + `"},"deadline":-5}`, []string{"deadline"}},
		{"a short secret", `{"event":"ended","action":{"url":"` + hookURL + `"},"secret":"short"}`, []string{"secret"}},
		{"an unknown campaign", `{"event":"ended","action":{"url":"` + hookURL + `"},"campaign":"000000000000000000000000"}`, []string{"campaign"}},
		{"enabled as text", `{"event":"ended","action":{"url":"` + hookURL + `"},"enabled":"yes"}`, []string{"enabled"}},
		{"everything at once", `{"event":"hangup","action":{"url":"ftp://x","method":"GET","headers":{"X Y":"1"}},"retries":-1,"delay":-1,"timeout":0,"deadline":"x","secret":"s","enabled":1}`,
			[]string{"event", "action.url", "action.method", "action.headers.X Y", "retries", "delay", "timeout", "deadline", "secret", "enabled"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("POST", "/api/v2/hooks", tc.body).want(t, 422)
			r.names(t, tc.fields...)
			if len(r.body.Fields) != len(tc.fields) {
				t.Errorf("named %d fields, want %d: %s", len(r.body.Fields), len(tc.fields), r.raw)
			}
		})
	}
	if r := f.do("POST", "/api/v2/hooks", `{"event":"ended",`); r.code != 400 {
		t.Fatalf("malformed JSON answered %d", r.code)
	}
	// A bad replacement is refused the same, and changes nothing.
	id := f.do("POST", "/api/v2/hooks", good[0].body).want(t, 200).insertedID(t)
	f.do("PUT", "/api/v2/hooks/"+id, bad[len(bad)-1].body).want(t, 422).names(t, bad[len(bad)-1].fields...)
	var after map[string]any
	f.do("GET", "/api/v2/hooks/"+id, "").want(t, 200).data(t, &after)
	if after["event"].([]any)[0] != "ended" || after["updatedAt"] != after["createdAt"] {
		t.Fatalf("a refused replacement changed the hook: %v", after)
	}
}

// TestHookValuesForTheWire: header values and URLs go on an HTTP request
// as they are, so what would end a header line or the request head is
// refused; what HTTP carries (commas, quotes, braces, blanks) is kept.
func TestHookValuesForTheWire(t *testing.T) {
	f := newFixture(t)
	refusedInHeaders := map[string]bool{"LF": true, "blank line": true, "CR": true, "NUL": true, "huge": true}
	acceptedInURL := map[string]bool{"brace": true, "comma": true, "quote": true, "variable": true}
	for _, hv := range hostileValues {
		body := encode(t, map[string]any{"event": "ended", "action": map[string]any{"url": hookURL, "headers": map[string]any{"X-Crm": hv.value}}})
		r := f.do("POST", "/api/v2/hooks", body)
		switch {
		case refusedInHeaders[hv.name]:
			if r.code != 422 {
				t.Errorf("header value %s: answered %d", hv.name, r.code)
				continue
			}
			r.names(t, "action.headers.X-Crm")
		case r.code != 200:
			t.Errorf("header value %s: answered %d %s", hv.name, r.code, r.raw)
		default:
			var h struct {
				Action struct{ Headers map[string]string }
			}
			f.do("GET", "/api/v2/hooks/"+r.insertedID(t), "").want(t, 200).data(t, &h)
			if h.Action.Headers["X-Crm"] != hv.value {
				t.Errorf("header value %s stored as %q", hv.name, h.Action.Headers["X-Crm"])
			}
		}
		// In a URL's path braces, commas, quotes and $ are taken (Go's
		// client escapes what it must); blanks, control characters and
		// a URL over 2,048 bytes are not.
		body = encode(t, map[string]any{"event": "ended", "action": map[string]any{"url": "https://crm.example.com/" + hv.value}})
		r = f.do("POST", "/api/v2/hooks", body)
		if acceptedInURL[hv.name] {
			r.want(t, 200)
			continue
		}
		if r.code != 422 {
			t.Errorf("url with %s: answered %d %s", hv.name, r.code, r.raw)
			continue
		}
		r.names(t, "action.url")
	}
}

// TestHookCRUD: create, read (never the secret), list, replace (keeping
// the secret unless told), delete; reads need a write token.
func TestHookCRUD(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const secret = "0123456789abcdef0123"
	body := `{"event":["ended","member_end"],"action":{"url":"` + hookURL + `","headers":{"Authorization":"Bearer crm"}},"secret":"` + secret + `"}`
	id := f.do("POST", "/api/v2/hooks", body).want(t, 200).insertedID(t)
	f.clk.Advance(time.Millisecond) // listed oldest first
	second := f.do("POST", "/api/v2/hooks", `{"event":"offering","action":{"url":"`+hookURL+`"}}`).want(t, 200).insertedID(t)

	r := f.do("GET", "/api/v2/hooks/"+id, "").want(t, 200)
	if strings.Contains(r.raw, secret) || !strings.Contains(r.raw, `"secret":"set"`) {
		t.Fatalf("the secret shown: %s", r.raw)
	}
	r = f.do("GET", "/api/v2/hooks", "").want(t, 200)
	var list []struct {
		ID     string `json:"_id"`
		Secret string
	}
	r.data(t, &list)
	if len(list) != 2 || list[0].ID != id || list[1].ID != second || list[0].Secret != "set" || list[1].Secret != "" || strings.Contains(r.raw, secret) {
		t.Fatalf("list %s", r.raw)
	}
	for _, path := range []string{"/api/v2/hooks", "/api/v2/hooks/" + id} {
		f.call("GET", path, reader, "", "").want(t, 403)
	}
	f.call("POST", "/api/v2/hooks", reader, "", body).want(t, 403)

	secretOf := func() string {
		t.Helper()
		h, err := f.st.GetHook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return h.Secret
	}
	// What GET showed, sent back, keeps the secret; so does leaving it out.
	var shown map[string]any
	f.do("GET", "/api/v2/hooks/"+id, "").want(t, 200).data(t, &shown)
	shown["timeout"] = 3
	r = f.do("PUT", "/api/v2/hooks/"+id, encode(t, shown)).want(t, 200)
	if secretOf() != secret || !strings.Contains(r.raw, `"timeout":3`) || strings.Contains(r.raw, secret) {
		t.Fatalf("replaced with the shown document: %s, secret %q", r.raw, secretOf())
	}
	f.do("PUT", "/api/v2/hooks/"+id, `{"event":"ended","action":{"url":"`+hookURL+`"}}`).want(t, 200)
	if secretOf() != secret {
		t.Fatal("a replacement without a secret dropped it")
	}
	f.do("PUT", "/api/v2/hooks/"+id, `{"event":"ended","action":{"url":"`+hookURL+`"},"secret":"another secret, 16+ bytes"}`).want(t, 200)
	if secretOf() != "another secret, 16+ bytes" {
		t.Fatal("a new secret was not taken")
	}
	r = f.do("PUT", "/api/v2/hooks/"+id, `{"event":"ended","action":{"url":"`+hookURL+`"},"secret":""}`).want(t, 200)
	if secretOf() != "" || strings.Contains(r.raw, `"secret"`) {
		t.Fatalf("the secret was not removed: %s", r.raw)
	}
	f.do("PUT", "/api/v2/hooks/000000000000000000000000", `{"event":"ended","action":{"url":"`+hookURL+`"}}`).want(t, 404)
	f.do("DELETE", "/api/v2/hooks/"+id, "").want(t, 200)
	f.do("GET", "/api/v2/hooks/"+id, "").want(t, 404)
	f.do("DELETE", "/api/v2/hooks/"+id, "").want(t, 404)
	f.do("PATCH", "/api/v2/hooks/"+second, "{}").want(t, 405)
}

// TestOpenAPIDocumentsHooks: the hook routes are in the document, and
// every schema it refers to is in it.
func TestOpenAPIDocumentsHooks(t *testing.T) {
	f := newFixture(t)
	raw := f.call("GET", "/api/v2/openapi.json", "", "", "").want(t, 200).raw
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	for path, methods := range map[string][]string{"/api/v2/hooks": {"get", "post"}, "/api/v2/hooks/{id}": {"get", "put", "delete"}} {
		for _, m := range methods {
			if doc.Paths[path][m] == nil {
				t.Errorf("%s %s is not documented", m, path)
			}
		}
	}
	for _, ref := range strings.Split(raw, `"$ref": "#/components/schemas/`)[1:] {
		name, _, _ := strings.Cut(ref, `"`)
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s is referred to but not in the document", name)
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["Hook"]), "member_end") {
		t.Errorf("the Hook schema: %s", doc.Components.Schemas["Hook"])
	}
}
