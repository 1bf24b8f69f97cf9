package esl

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Event is one FreeSWITCH event: ordered headers (a name may repeat, as
// Hangup-Cause does on CHANNEL_HANGUP_COMPLETE) and an optional body (the
// output of a BACKGROUND_JOB).
//
// An Event keeps its plain wire form, "Name: url-encoded value" lines, and
// where each line sits. Parsing is one pass over the line ends; a header's
// name is matched and its value decoded only when it is asked for, so the
// cost of an event does not grow with the headers nobody reads. Events built
// with EventBuilder are encoded into the same form once, which is also what
// the server sends. An Event is immutable and safe to share.
type Event struct {
	raw  string   // the plain wire form: header lines, blank line, body
	ends []uint32 // where each header line ends in raw; the next begins after
	body string
}

// line returns the i-th header line, its line ending excluded.
func (e *Event) line(i int) string {
	start := uint32(0)
	if i > 0 {
		start = e.ends[i-1] + 1
	}
	return e.raw[start:e.ends[i]]
}

// trimCR drops the '\r' of a CRLF line end.
func trimCR(v string) string {
	if n := len(v); n > 0 && v[n-1] == '\r' {
		return v[:n-1]
	}
	return v
}

// splitLine splits a header line at its first colon; the value keeps its
// URL encoding.
func splitLine(l string) (name, value string) {
	i := strings.IndexByte(l, ':')
	if i < 0 {
		return l, ""
	}
	value = l[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return l[:i], value
}

// Lookup returns the first value of the named header. Names match exactly
// first and then case-insensitively, as switch_event_get_header does.
func (e *Event) Lookup(name string) (string, bool) {
	for i := range e.ends {
		l := e.line(i)
		if len(l) > len(name) && l[len(name)] == ':' && l[:len(name)] == name {
			v := l[len(name)+1:]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			return URLDecode(trimCR(v)), true
		}
	}
	for i := range e.ends {
		if n, v := splitLine(e.line(i)); strings.EqualFold(n, name) {
			return URLDecode(trimCR(v)), true
		}
	}
	return "", false
}

// Get returns the first value of the named header, or "".
func (e *Event) Get(name string) string {
	v, _ := e.Lookup(name)
	return v
}

// Var returns the channel variable name (the header variable_<name>).
func (e *Event) Var(name string) string { return e.Get("variable_" + name) }

// Name returns Event-Name.
func (e *Event) Name() string { return e.Get("Event-Name") }

// UniqueID returns Unique-ID, the channel the event is about.
func (e *Event) UniqueID() string { return e.Get("Unique-ID") }

// Body returns the event body ("" when there is none).
func (e *Event) Body() string { return e.body }

// Len returns the number of headers.
func (e *Event) Len() int { return len(e.ends) }

// Header returns the i-th header, its value decoded.
func (e *Event) Header(i int) Header {
	n, v := splitLine(e.line(i))
	return Header{Name: n, Value: URLDecode(trimCR(v))}
}

// Headers returns every header in order, values decoded.
func (e *Event) Headers() []Header {
	hs := make([]Header, len(e.ends))
	for i := range e.ends {
		hs[i] = e.Header(i)
	}
	return hs
}

// String returns the event in plain wire form.
func (e *Event) String() string { return e.raw }

// ParseEvent parses the body of an event message of any of the three formats.
func ParseEvent(m *Message) (*Event, error) {
	switch ct := m.ContentType(); ct {
	case TypeEventPlain:
		return ParsePlainEvent(m.Body)
	case TypeEventJSON:
		return ParseJSONEvent(m.Body)
	case TypeEventXML:
		return ParseXMLEvent(m.Body)
	default:
		return nil, fmt.Errorf("%w: %q is not an event content type", ErrProtocol, ct)
	}
}

// ParsePlainEvent parses a text/event-plain body: "Name: url-encoded value"
// lines, a blank line, and a body when a Content-Length header is present.
// Header names are taken as they come, whatever characters they hold.
func ParsePlainEvent(s string) (*Event, error) {
	ends, pos := indexHeaderLines(s)
	e := &Event{raw: s, ends: ends}
	if len(e.ends) == 0 {
		return nil, fmt.Errorf("%w: event has no headers", ErrProtocol)
	}
	if first := e.line(0); strings.IndexByte(first, ':') <= 0 {
		return nil, fmt.Errorf("%w: event header 1 %q is not \"Name: value\"", ErrProtocol, truncate([]byte(first)))
	}
	if pos < len(s) { // bytes after the blank line: the body behind Content-Length
		v, ok := e.Lookup("Content-Length")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: event has %d bytes after its headers and no Content-Length", ErrProtocol, len(s)-pos)
		case err != nil || n < 0:
			return nil, fmt.Errorf("%w: event Content-Length %q is not a number", ErrProtocol, v)
		case len(s)-pos < n:
			return nil, fmt.Errorf("%w: event body shorter than its Content-Length %d", ErrProtocol, n)
		}
		e.body = s[pos : pos+n]
	}
	return e, nil
}

// ParseJSONEvent parses a text/event-json body: one flat object whose values
// are raw strings, arrays of strings for repeated headers, and the body under
// "_body". Header order is kept.
func ParseJSONEvent(b string) (*Event, error) {
	dec := json.NewDecoder(strings.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: JSON event does not start with an object", ErrProtocol)
	}
	var eb EventBuilder
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: JSON event: %v", ErrProtocol, err)
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: JSON event header %q: %v", ErrProtocol, key, err)
		}
		var values []string
		var one string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			values = []string{one}
		case json.Unmarshal(raw, &values) == nil:
		default:
			values = []string{string(raw)} // numbers and other scalars as written
		}
		switch key {
		case "_body":
			eb.body = strings.Join(values, "")
			continue
		case "Content-Length":
			continue // Event() lists it again from the body
		}
		for _, v := range values {
			eb.Add(key, v)
		}
	}
	return eb.Event(), nil
}

// ParseXMLEvent parses a text/event-xml body:
// <event><headers><Name>value</Name>...</headers><body>...</body></event>.
// FreeSWITCH uses header names as element names even when they are not XML
// names (variable_fish,(sticks)~_1), so this is a tolerant scanner of that
// flat shape rather than an XML parser.
func ParseXMLEvent(s string) (*Event, error) {
	start := strings.Index(s, "<headers>")
	end := strings.LastIndex(s, "</headers>")
	if start < 0 || end < start {
		return nil, fmt.Errorf("%w: XML event has no <headers> element", ErrProtocol)
	}
	var eb EventBuilder
	rest := s[start+len("<headers>") : end]
	for {
		open := strings.IndexByte(rest, '<')
		if open < 0 {
			break
		}
		gt := strings.IndexByte(rest[open:], '>')
		if gt < 0 {
			return nil, fmt.Errorf("%w: XML event: unterminated element", ErrProtocol)
		}
		name := rest[open+1 : open+gt]
		rest = rest[open+gt+1:]
		closeTag := "</" + name + ">"
		vEnd := strings.Index(rest, closeTag)
		if vEnd < 0 {
			return nil, fmt.Errorf("%w: XML event: header <%s> is not closed", ErrProtocol, truncate([]byte(name)))
		}
		eb.Add(name, unescapeXML(rest[:vEnd]))
		rest = rest[vEnd+len(closeTag):]
	}
	if i := strings.Index(s, "<body>"); i >= 0 {
		if j := strings.LastIndex(s, "</body>"); j > i {
			eb.body = unescapeXML(s[i+len("<body>") : j])
		}
	}
	if eb.Len() == 0 {
		return nil, fmt.Errorf("%w: XML event has no headers", ErrProtocol)
	}
	return eb.Event(), nil
}

func unescapeXML(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var out strings.Builder
	d := xml.NewDecoder(strings.NewReader("<x>" + s + "</x>"))
	d.Strict = false
	for {
		t, err := d.Token()
		if err != nil {
			break
		}
		if cd, ok := t.(xml.CharData); ok {
			out.Write(cd)
		}
	}
	return out.String()
}

// AppendPlain appends the text/event-plain form of the event.
func (e *Event) AppendPlain(dst []byte) []byte { return append(dst, e.raw...) }

// AppendJSON appends the text/event-json form: a flat object of string
// values; with a body, "Content-Length" and "_body" as FreeSWITCH adds them.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i := range e.ends {
		h := e.Header(i)
		if h.Name == "Content-Length" {
			continue
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, h.Name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, h.Value)
	}
	if e.body != "" {
		dst = append(dst, `,"Content-Length":"`...)
		dst = appendInt(dst, len(e.body))
		dst = append(dst, `","_body":`...)
		dst = appendJSONString(dst, e.body)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// AppendXML appends the text/event-xml form.
func (e *Event) AppendXML(dst []byte) []byte {
	dst = append(dst, "<event>\n  <headers>\n"...)
	for i := range e.ends {
		h := e.Header(i)
		if h.Name == "Content-Length" {
			continue
		}
		dst = append(dst, "    <"...)
		dst = append(dst, h.Name...)
		dst = append(dst, '>')
		dst = appendXMLText(dst, h.Value)
		dst = append(dst, "</"...)
		dst = append(dst, h.Name...)
		dst = append(dst, ">\n"...)
	}
	dst = append(dst, "  </headers>\n"...)
	if e.body != "" {
		dst = append(dst, "  <Content-Length>"...)
		dst = appendInt(dst, len(e.body))
		dst = append(dst, "</Content-Length>\n  <body>"...)
		dst = appendXMLText(dst, e.body)
		dst = append(dst, "</body>\n"...)
	}
	return append(dst, "</event>"...)
}

func appendXMLText(dst []byte, s string) []byte {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s)) // writing to a bytes.Buffer cannot fail
	return append(dst, buf.Bytes()...)
}

// EventBuilder assembles an Event header by header, encoding each into the
// plain wire form as it is added. The zero value is ready.
type EventBuilder struct {
	buf  []byte
	ends []uint32
	body string
}

// NewEvent starts an event with its Event-Name header. A channel event of
// FreeSWITCH is 3 to 9 KB with 60 to 230 headers; the builder starts at that
// size so it rarely grows.
func NewEvent(name string) *EventBuilder {
	b := &EventBuilder{buf: make([]byte, 0, 8192), ends: make([]uint32, 0, 160)}
	return b.Add("Event-Name", name)
}

// Add appends a header. Empty values are skipped: FreeSWITCH never sends them.
func (b *EventBuilder) Add(name, value string) *EventBuilder {
	if value == "" {
		return b
	}
	b.buf = append(b.buf, name...)
	b.buf = append(b.buf, ": "...)
	b.buf = appendURLEncoded(b.buf, value)
	b.ends = append(b.ends, uint32(len(b.buf)))
	b.buf = append(b.buf, '\n')
	return b
}

// SetBody sets the event body.
func (b *EventBuilder) SetBody(body string) *EventBuilder {
	b.body = body
	return b
}

// Len returns the number of headers so far.
func (b *EventBuilder) Len() int { return len(b.ends) }

// Event returns the finished event; the builder must not be used after.
func (b *EventBuilder) Event() *Event {
	if b.body != "" {
		// FreeSWITCH lists the body length as the last header.
		b.Add("Content-Length", strconv.Itoa(len(b.body)))
	}
	b.buf = append(b.buf, '\n')
	bodyAt := len(b.buf)
	b.buf = append(b.buf, b.body...)
	// The builder is done with its buffer: the event takes it over rather
	// than copying it, and nothing writes to it again.
	raw := unsafe.String(unsafe.SliceData(b.buf), len(b.buf))
	b.buf = nil
	return &Event{raw: raw, ends: b.ends, body: raw[bodyAt:]}
}
