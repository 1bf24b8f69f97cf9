package esl

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// capturesDir holds raw ESL sessions recorded from FreeSWITCH 1.10.12.
const capturesDir = "../testdata/fs-captures" // a copy of ../shared/fs-captures

func captureFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(capturesDir, "*.esl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in %s (err %v): the shared folder must sit next to the project", capturesDir, err)
	}
	out := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// rawMessage is a message as a naive reader of the bytes sees it: written
// independently of Reader so the two can be compared.
type rawMessage struct {
	headers map[string]string
	body    string
}

func naiveMessages(t testing.TB, data string) []rawMessage {
	var out []rawMessage
	for len(data) > 0 {
		end := strings.Index(data, "\n\n")
		if end < 0 {
			t.Fatalf("unterminated envelope: %q", data)
		}
		m := rawMessage{headers: map[string]string{}}
		for _, line := range strings.Split(data[:end], "\n") {
			k, v, _ := strings.Cut(line, ": ")
			m.headers[k] = v
		}
		data = data[end+2:]
		if cl := m.headers["Content-Length"]; cl != "" {
			n, _ := strconv.Atoi(cl)
			m.body, data = data[:n], data[n:]
		}
		out = append(out, m)
	}
	return out
}

// naiveEvent splits a plain event body the simple way, decoding values with
// a table written here rather than the package's.
func naiveEvent(body string) (names, values []string, evBody string) {
	head, rest, _ := strings.Cut(body, "\n\n")
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		names = append(names, k)
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '%' && i+2 < len(v) {
				if n, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(n))
					i += 2
					continue
				}
			}
			b.WriteByte(v[i])
		}
		values = append(values, b.String())
	}
	return names, values, rest
}

func TestReaderParsesEveryCaptureLikeANaiveReader(t *testing.T) {
	for name, data := range captureFiles(t) {
		t.Run(name, func(t *testing.T) {
			want := naiveMessages(t, string(data))
			r := NewReader(bytes.NewReader(data))
			for i, w := range want {
				m, err := r.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if got := m.ContentType(); got != w.headers["Content-Type"] {
					t.Fatalf("message %d: Content-Type %q, want %q", i, got, w.headers["Content-Type"])
				}
				if m.Body != w.body {
					t.Fatalf("message %d: body differs", i)
				}
				if m.ContentType() != TypeEventPlain {
					continue
				}
				ev, err := ParseEvent(m)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				names, values, evBody := naiveEvent(w.body)
				if ev.Len() != len(names) {
					t.Fatalf("message %d: %d headers, want %d", i, ev.Len(), len(names))
				}
				for j := range names {
					if h := ev.Header(j); h.Name != names[j] || h.Value != values[j] {
						t.Fatalf("message %d header %d: %q=%q, want %q=%q", i, j, h.Name, h.Value, names[j], values[j])
					}
				}
				if ev.Body() != evBody {
					t.Fatalf("message %d: event body %q, want %q", i, ev.Body(), evBody)
				}
			}
			if _, err := r.ReadMessage(); err != io.EOF {
				t.Fatalf("after the last message: %v, want EOF", err)
			}
		})
	}
}

// TestEncodingReproducesCaptureBytes rebuilds every captured event from its
// decoded headers and checks the plain form is byte for byte what
// FreeSWITCH sent: the escape table and the framing match the switch's.
func TestEncodingReproducesCaptureBytes(t *testing.T) {
	for name, data := range captureFiles(t) {
		r := NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			m, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if m.ContentType() != TypeEventPlain {
				continue
			}
			raw := m.Body
			ev, err := ParseEvent(m)
			if err != nil {
				t.Fatalf("%s message %d: %v", name, i, err)
			}
			var b EventBuilder
			for _, h := range ev.Headers() {
				if h.Name != "Content-Length" {
					b.Add(h.Name, h.Value)
				}
			}
			b.SetBody(ev.Body())
			if got := string(b.Event().AppendPlain(nil)); got != raw {
				t.Fatalf("%s message %d: re-encoded event differs\n got: %.300q\nwant: %.300q", name, i, got, raw)
			}
			if got := string(ev.AppendPlain(nil)); got != raw {
				t.Fatalf("%s message %d: parsed event does not re-serialize to its bytes", name, i)
			}
		}
	}
}

func TestEventFormatsRoundTrip(t *testing.T) {
	b := NewEvent("BACKGROUND_JOB").
		Add("Job-UUID", "7f4d").
		Add("Job-Command-Arg", "{a=1,b=2}sofia/gateway/gw/123 &park()").
		Add("variable_fish,(sticks)~_1", "100% <tasty> & \"fresh\"").
		Add("Hangup-Cause", "NORMAL_CLEARING").
		Add("Hangup-Cause", "NORMAL_CLEARING")
	b.SetBody("+OK 5c1e\n")
	ev := b.Event()
	for _, tc := range []struct {
		name   string
		ctype  string
		encode func(*Event) []byte
	}{
		{"plain", TypeEventPlain, func(e *Event) []byte { return e.AppendPlain(nil) }},
		{"json", TypeEventJSON, func(e *Event) []byte { return e.AppendJSON(nil) }},
		{"xml", TypeEventXML, func(e *Event) []byte { return e.AppendXML(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Headers: []Header{{"Content-Type", tc.ctype}}, Body: string(tc.encode(ev))}
			got, err := ParseEvent(m)
			if err != nil {
				t.Fatal(err)
			}
			want := ev.Headers()
			have := got.Headers()
			if len(have) != len(want) {
				t.Fatalf("%d headers %v, want %d %v", len(have), have, len(want), want)
			}
			for i := range want {
				if have[i] != want[i] {
					t.Errorf("header %d: %v, want %v", i, have[i], want[i])
				}
			}
			if got.Body() != ev.Body() {
				t.Errorf("body %q, want %q", got.Body(), ev.Body())
			}
		})
	}
}

func TestReaderErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no colon", "Content-Type command/reply\n\n", "is not \"Name: value\""},
		{"bad length", "Content-Type: api/response\nContent-Length: 12x\n\n", `Content-Length "12x" is not a number`},
		{"huge length", "Content-Type: api/response\nContent-Length: 9999999999\n\n", "exceeds the limit"},
		{"short body", "Content-Type: api/response\nContent-Length: 10\n\nabc", "read 10-byte body"},
		{"cut headers", "Content-Type: api/response\n", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in)).ReadMessage()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReaderAcceptsCRLFAndLeadingBlankLines(t *testing.T) {
	r := NewReader(strings.NewReader("\r\n\nContent-Type: command/reply\r\nReply-Text: +OK accepted\r\n\r\n"))
	m, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.ReplyText() != "+OK accepted" {
		t.Fatalf("Reply-Text %q", m.ReplyText())
	}
}

func TestReadCommand(t *testing.T) {
	in := "\n\nbgapi originate {a=1}user/100 &park()\r\nJob-UUID: 1234\r\n\r\n" +
		"sendmsg 5c1e\ncall-command: execute\nContent-Length: 3\n\nabc" +
		"exit\n\n"
	r := NewReader(strings.NewReader(in))
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if c.Line != "bgapi originate {a=1}user/100 &park()" || c.Get("job-uuid") != "1234" {
		t.Fatalf("got %+v", c)
	}
	c, err = r.ReadCommand()
	if err != nil || c.Line != "sendmsg 5c1e" || c.Get("call-command") != "execute" || c.Body != "abc" {
		t.Fatalf("got %+v, %v", c, err)
	}
	c, err = r.ReadCommand()
	if err != nil || c.Line != "exit" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := r.ReadCommand(); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
}

func TestURLCodec(t *testing.T) {
	for _, tc := range []struct{ in, enc string }{
		{"2026-11-21 15:10:16", "2026-11-21%2015%3A10%3A16"},
		{"tone_stream://%(1000,0,440)", "tone_stream%3A//%25(1000,0,440)"},
		{"{a=1,b=2}x &park()", "%7Ba%3D1,b%3D2%7Dx%20%26park()"},
		{"ünï\x01", "%C3%BCn%C3%AF%01"},
		{"/,()'-._~", "/,()'-._~"},
	} {
		if got := URLEncode(tc.in); got != tc.enc {
			t.Errorf("URLEncode(%q) = %q, want %q", tc.in, got, tc.enc)
		}
		if got := URLDecode(tc.enc); got != tc.in {
			t.Errorf("URLDecode(%q) = %q, want %q", tc.enc, got, tc.in)
		}
	}
	for in, want := range map[string]string{"100%": "100%", "%zz": "%zz", "%4": "%4", "a+b": "a+b"} {
		if got := URLDecode(in); got != want {
			t.Errorf("URLDecode(%q) = %q, want %q", in, got, want)
		}
	}
}
