package httpapi

import (
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
		if err := decodeJSON(b, &mb); err == nil {
			if mb.Items != nil {
				for _, it := range *mb.Items {
					if m, err := it.member(); err == nil {
						m.Normalize()
						_ = m.Validate()
					}
				}
			} else if m, err := mb.memberIn.member(); err == nil {
				_ = m.Validate()
			}
		} else if _, ok := err.(*httpError); !ok {
			t.Fatalf("decode error %T is not an httpError: %v", err, err)
		}
		var r resultIn
		if decodeJSON(b, &r) == nil {
			_, _ = r.result()
		}
		var c store.Campaign
		if decodeJSON(b, &c) == nil {
			c.Normalize()
			_ = c.Validate()
		}
	})
}

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
