package httpapi

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

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
	if len(bad) == 0 {
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

// quoted is a value quoted in a message: the client's words, not ours.
var quoted = regexp.MustCompile(`"(\\.|[^"\\])*"`)

// goInternals are words of Go's own error texts that a client must not see.
var goInternals = regexp.MustCompile(`\bplain\b|store\.|httpapi\.|struct ?\{|\[\]|\bint(64)?\b|float64|json\.|Go value|unmarshal`)

// FuzzScanCSV feeds any file and any column mapping to the CSV reader.
func FuzzScanCSV(f *testing.F) {
	f.Add("name,number:1,var:debt,priority", "Ann,380501000001,100,5\nBob,\"x\"\"y\",2,z\n", false)
	f.Add("", "name,number,description,expire\nA,1,first,2030-01-01\n", true)
	f.Add("number,-", "\"unterminated\n1,2\n", false)
	f.Fuzz(func(t *testing.T, columns, body string, skip bool) {
		lines := 0
		err := scanCSV(strings.NewReader(body), ',', columns, skip, func(item, line int, m *store.Member, err error) error {
			if (m == nil) == (err == nil) {
				t.Fatalf("line %d: member %v and error %v", line, m, err)
			}
			if m != nil {
				m.Normalize()
				_ = m.Validate()
			}
			lines++
			return nil
		})
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("scan error %T is not an httpError: %v", err, err)
			}
		}
	})
}
