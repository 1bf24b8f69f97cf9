package httpapi

import (
	"errors"
	"testing"

	"github.com/fsdialer/fsdialer/store"
)

// FuzzDecodeHook feeds any bytes to the hook body's decoder and its
// conversion: no panics, every error one the API can answer, and a hook
// that passes is one the store takes as it is and a request can carry.
func FuzzDecodeHook(f *testing.F) {
	for _, s := range []string{
		`{"event":"ended","action":{"url":"https://crm.example.com/x"}}`,
		`{"event":["offering","bridged"],"action":{"url":"http://10.0.0.1:81/h","method":"put","headers":{"A":"b"}},"retries":3,"delay":0.5,"timeout":2,"deadline":60,"secret":"0123456789abcdef","enabled":false}`,
		`{"event":5,"action":{"url":5,"headers":{"X Y":1}},"retries":"3","delay":0,"timeout":-1,"deadline":"x","secret":1,"enabled":"yes"}`,
		`{"event":[1,{}],"action":[]}`, `{"event":null,"action":null}`, `[]`, `"x"`, `{"delay":1e999}`,
		`{"event":"ended","action":{"url":"https://x/\u0000","headers":{"X":"a\r\nb"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in hookIn
		fuzzDecode(t, b, &in)
		h, bad := in.hook()
		h.Normalize()
		err := in.renamed(refuse(bad, h.Validate()))
		var ve *store.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("refuse answered %T", err)
		}
		if len(bad) > 0 && len(ve.Errors) == 0 {
			t.Fatal("problems found, none named")
		}
		for _, fe := range ve.Errors {
			if fe.Field == "" || goInternals.MatchString(fe.Field) {
				t.Fatalf("field %q", fe.Field)
			}
		}
		if len(ve.Errors) > 0 {
			return
		}
		// Valid: the defaults are filled and nothing can break a request.
		if len(h.Event) == 0 || h.Delay <= 0 || h.Timeout <= 0 || h.Deadline <= 0 || (h.Action.Method != "POST" && h.Action.Method != "PUT") {
			t.Fatalf("a valid hook %+v", h)
		}
		for name, v := range h.Action.Headers {
			for _, s := range []string{name, v} {
				for i := 0; i < len(s); i++ {
					if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
						t.Fatalf("header %q: %q", name, v)
					}
				}
			}
		}
	})
}
