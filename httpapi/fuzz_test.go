package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/fsdialer/fsdialer/store"
)

// FuzzDecodeBodies feeds any bytes to the JSON decoders of the members,
// call result and campaign bodies: errors are fine, panics are not, and
// every error is one the API can answer with a status.
func FuzzDecodeBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","priority":1,"communications":[{"number":"380911234567","type":"1"}],"expire":1497992400000}`,
		`{"items":[{"communications":[{"destination":"1","type":{"id":"1"}}],"expire_at":"2030-01-01","bucket":{"id":"1"}}]}`,
		`{"success":false,"next_after_sec":3600,"stop_communications":"all","stop.communications":["1"],"comment":"x"}`,
		`{"name":"c","type":"Voice Broadcasting","parameters":{"waitForResultStatus":true},"resources":[{"dialedNumber":"."}]}`,
		`{"expire_at": 12}`, `[]`, `"x"`, `{"items": null}`,
		// values of the wrong type, which the shapes name
		`{"priority":"high","parameters":{"limit":"a","waitForResultStatus":1},"resources":[{"dialedNumber":5,"destinations":[{"limit":"x"},7]}],"calendar":"c"}`,
		`{"items":[{"expire":"2026-12-31"},{"communications":[{"number":5,"type":[]}],"bucket":{"id":{}}},3],"priority":"x"}`,
		`{"items":{"name":"a"}}`,
		`{"next_after_sec":"x","stop_communications":[{}],"stop.communications":true,"success":"yes"}`,
		`{"week":[{"day":"mon"},"x"],"holidays":"2026-12-25","Name":1}`,
		`{"expire":"2026-12-31T18:00:00+02:00","communications":[{"destination":"1","type":{"ID":2}}]}`,
		`{"destination":"+380501112233","from":{"extension":"1001"},"params":{"audio":true,"auto_answer":true,"record":true,"variables":{"a":"b"}}}`,
		`{"destination":5,"from":"1001","params":{"audio":"yes","variables":[1]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var mb membersBody
		fuzzDecode(t, b, &mb)
		if mb.Items != nil {
			for _, it := range *mb.Items {
				m := it.member()
				m.Normalize()
				_ = m.Validate()
			}
		} else {
			_ = mb.memberIn.member().Validate()
		}
		var r resultIn
		fuzzDecode(t, b, &r)
		_, _ = r.result()
		var c store.Campaign
		fuzzDecode(t, b, &c)
		c.Normalize()
		_ = c.Validate()
		var cal store.Calendar
		fuzzDecode(t, b, &cal)
		_ = cal.Validate()
		var call callIn
		fuzzDecode(t, b, &call)
		_ = store.ValidateVariables("params.variables", call.Params.Variables)
	})
}

// fuzzDecode decodes b into v and checks what the API would answer: a 400
// for what is not JSON, otherwise every wrong value named by a client's
// path, never a Go type, and nothing the shapes did not foresee.
func fuzzDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	bad, err := decodeJSON(b, v)
	if err != nil {
		if he, ok := err.(*httpError); !ok || he.code != 400 {
			t.Fatalf("decode error %T is not a 400: %v", err, err)
		}
		return
	}
	if decodeStrict(b, reflect.New(reflect.TypeOf(v).Elem()).Interface()) == nil {
		if bad != nil {
			t.Fatalf("a body encoding/json takes was refused: %v", bad)
		}
		return
	}
	if len(bad) == 0 && !duplicateKeys(b) {
		// (With a key given twice the last value is taken, as encoding/json
		// does with values it can read.)
		t.Fatalf("%T: encoding/json refuses the body and no field is named", v)
	}
	if _, leftover := decodeLenient(b, reflect.New(reflect.TypeOf(v).Elem()).Interface()); leftover != nil {
		t.Fatalf("%T: the shapes let through a value encoding/json refuses: %v", v, leftover)
	}
	for _, fe := range bad {
		if goInternals.MatchString(fe.Field) || goInternals.MatchString(quoted.ReplaceAllString(fe.Message, `""`)) {
			t.Fatalf("%T: Go internals in %q: %q", v, fe.Field, fe.Message)
		}
	}
}

// duplicateKeys reports whether an object of the document has a key twice
// (in any case: encoding/json matches fields so).
func duplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type level struct {
		object bool
		keys   map[string]bool
		key    bool // the next token of an object is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if k, ok := tok.(string); ok {
				if top.keys[strings.ToLower(k)] {
					return true
				}
				top.keys[strings.ToLower(k)] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true // a value ended: a key comes next
		}
	}
}

// quoted is a value quoted in a message: the client's words, not ours.
var quoted = regexp.MustCompile(`"(\\.|[^"\\])*"`)

// goInternals are words of Go's own error texts that a client must not see.
var goInternals = regexp.MustCompile(`\bplain\b|store\.|httpapi\.|struct ?\{|\[\]|\bint(64)?\b|float64|json\.|Go value|unmarshal`)

// FuzzScanCSV feeds any file and any column mapping to the CSV reader:
// no panics, and every line is read into a member, refused by its number,
// or blank (empty, or nothing but separators, spaces and quotes: the
// lines of a record whose every field is blank).
func FuzzScanCSV(f *testing.F) {
	f.Add("name,number:1,var:debt,priority", "Ann,380501000001,100,5\nBob,\"x\"\"y\",2,z\n", false, false)
	f.Add("", "name,number,description,expire\nA,1,first,2030-01-01\n", true, true)
	f.Add("number,-", "\"unterminated\n1,2\n", false, true)
	f.Add("name,number", "a,1\nb,2\nc,3\nd\"x,4\ne,\"5\nf,6\ng,7\nh,8\ni,9\n", false, true)
	f.Add("", "\ufeffname,number\r\n\"Ann\r\nSmith\",380501000001\r\n", false, true)
	f.Add("name,number", "\xcf\xf0\xe8,1\nok,2\n", false, true)
	f.Add("name,number", "\"a\" b,1\n,,\n\"\",\"\"\n"+strings.Repeat("x", maxCSVField+1)+",2\n", true, true)
	f.Fuzz(func(t *testing.T, columns, body string, skip, mustBeUTF8 bool) {
		covered := map[int]bool{}
		lastItem := -1
		err := scanCSV(strings.NewReader(body), ',', columns, skip, mustBeUTF8, func(item, line, last int, m *store.Member, err error) error {
			if (m == nil) == (err == nil) {
				t.Fatalf("line %d: member %v and error %v", line, m, err)
			}
			if item != lastItem+1 || line < 1 || last < line {
				t.Fatalf("item %d after %d, lines %d-%d", item, lastItem, line, last)
			}
			lastItem = item
			if m != nil {
				m.Normalize()
				_ = m.Validate()
			}
			for l := line; l <= last; l++ {
				covered[l] = true
			}
			return nil
		})
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("scan error %T is not an httpError: %v", err, err)
			}
			return
		}
		if columns == "" || skip {
			return // the header's lines are nobody's
		}
		for i, text := range strings.Split(body, "\n") {
			blank := strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == '"' || r == '\ufeff' }) == ""
			if !covered[i+1] && !blank {
				t.Fatalf("line %d (%q) is neither loaded, refused nor blank", i+1, text)
			}
		}
	})
}
