package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Content types of ESL messages (the Content-Type envelope header).
const (
	TypeAuthRequest   = "auth/request"
	TypeCommandReply  = "command/reply"
	TypeAPIResponse   = "api/response"
	TypeEventPlain    = "text/event-plain"
	TypeEventJSON     = "text/event-json"
	TypeEventXML      = "text/event-xml"
	TypeDisconnect    = "text/disconnect-notice"
	TypeRudeRejection = "text/rude-rejection"
	TypeLogData       = "log/data"
)

// ErrProtocol is wrapped by every error about bytes that are not ESL.
var ErrProtocol = errors.New("esl: protocol error")

// DefaultMaxBody bounds Content-Length; a larger value is a protocol error,
// not an allocation.
const DefaultMaxBody = 64 << 20

// maxLine bounds one header line.
const maxLine = 1 << 20

// Header is one "Name: value" line.
type Header struct {
	Name, Value string
}

// Message is one ESL envelope: its headers and, when Content-Length was
// given, its body.
type Message struct {
	Headers []Header
	Body    string
}

// Get returns the first value of the named header (case-insensitive), or "".
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ContentType returns the Content-Type header.
func (m *Message) ContentType() string { return m.Get("Content-Type") }

// ReplyText returns the Reply-Text header of a command/reply.
func (m *Message) ReplyText() string { return m.Get("Reply-Text") }

// Reader reads ESL messages (or, on the server side, commands) from a stream.
type Reader struct {
	br      *bufio.Reader
	maxBody int
	long    []byte
	scratch []byte
}

// NewReader returns a Reader with a 64 KiB buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), maxBody: DefaultMaxBody}
}

// readLine returns the next line without its "\n" or "\r\n". The slice is
// valid until the next read.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.long) > maxLine {
				return nil, fmt.Errorf("%w: header line longer than %d bytes", ErrProtocol, maxLine)
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// intern returns a constant for the header names and values every message
// carries, so reading them allocates nothing.
func intern(b []byte) string {
	switch string(b) {
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Reply-Text":
		return "Reply-Text"
	case "Job-UUID":
		return "Job-UUID"
	case TypeEventPlain:
		return TypeEventPlain
	case TypeEventJSON:
		return TypeEventJSON
	case TypeCommandReply:
		return TypeCommandReply
	case TypeAPIResponse:
		return TypeAPIResponse
	case TypeAuthRequest:
		return TypeAuthRequest
	case "+OK":
		return "+OK"
	}
	return string(b)
}

// splitHeader splits "Name: value"; ok is false when there is no colon or
// the name is empty.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = bytes.TrimSpace(line[:i])
	value = line[i+1:]
	for len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return name, value, len(name) > 0
}

// parseLength parses a Content-Length value.
func (r *Reader) parseLength(v []byte) (int, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > 10 {
		return 0, fmt.Errorf("%w: Content-Length %q is not a number", ErrProtocol, v)
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: Content-Length %q is not a number", ErrProtocol, v)
		}
		n = n*10 + int(c-'0')
	}
	if n > r.maxBody {
		return 0, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d", ErrProtocol, n, r.maxBody)
	}
	return n, nil
}

// ReadMessage reads one message. Leading blank lines are skipped, as
// FreeSWITCH skips them.
func (r *Reader) ReadMessage() (*Message, error) {
	// Envelopes have two to four headers; the message and room for four
	// are one allocation.
	alloc := new(struct {
		msg     Message
		headers [4]Header
	})
	m := &alloc.msg
	m.Headers = alloc.headers[:0]
	length := -1
	for {
		line, err := r.readLine()
		if err != nil {
			if len(m.Headers) > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			if len(m.Headers) == 0 {
				continue
			}
			break
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return nil, fmt.Errorf("%w: header line %q is not \"Name: value\"", ErrProtocol, truncate(line))
		}
		h := Header{Name: intern(name), Value: intern(value)}
		if h.Name == "Content-Length" && length < 0 {
			if length, err = r.parseLength(value); err != nil {
				return nil, err
			}
		}
		m.Headers = append(m.Headers, h)
	}
	if length > 0 {
		body, err := r.readBody(length)
		if err != nil {
			return nil, err
		}
		m.Body = body
	}
	return m, nil
}

// readBody reads n bytes as a string: straight from the buffer when they
// are there, else through a reused scratch slice, so the only allocation is
// the string itself.
func (r *Reader) readBody(n int) (string, error) {
	if r.br.Buffered() >= n {
		b, _ := r.br.Peek(n) // buffered already: no read, no error
		s := string(b)
		_, _ = r.br.Discard(n)
		return s, nil
	}
	if n > 1<<20 {
		// A large body grows as its bytes arrive, so a Content-Length that
		// lies costs no more memory than the bytes really sent.
		var b strings.Builder
		b.Grow(1 << 20)
		if _, err := io.CopyN(&b, r.br, int64(n)); err != nil {
			return "", fmt.Errorf("read %d-byte body: %w", n, unexpectedEOF(err))
		}
		return b.String(), nil
	}
	if cap(r.scratch) < n {
		r.scratch = make([]byte, n)
	}
	buf := r.scratch[:n]
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return "", fmt.Errorf("read %d-byte body: %w", n, unexpectedEOF(err))
	}
	return string(buf), nil
}

// unexpectedEOF reports a stream that ends inside a message as such.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Command is what a client sends: a command line, optional extra header
// lines (sendmsg arguments, a bgapi Job-UUID) and an optional body.
type Command struct {
	Line    string
	Headers []Header
	Body    string
}

// Get returns the first value of the named header (case-insensitive).
func (c *Command) Get(name string) string {
	for _, h := range c.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ReadCommand reads one client command, as mod_event_socket does: blank
// lines before it are ignored, LF or CRLF, header lines after the first line
// are arguments, and a Content-Length header brings a body.
func (r *Reader) ReadCommand() (*Command, error) {
	var c *Command
	for {
		line, err := r.readLine()
		if err != nil {
			if c != nil && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			if c == nil {
				continue
			}
			break
		}
		if c == nil {
			c = &Command{Line: string(line)}
			continue
		}
		if name, value, ok := splitHeader(line); ok {
			c.Headers = append(c.Headers, Header{Name: string(name), Value: string(value)})
		}
	}
	if cl := c.Get("Content-Length"); cl != "" {
		n, err := r.parseLength([]byte(cl))
		if err != nil {
			return nil, err
		}
		if c.Body, err = r.readBody(n); err != nil {
			return nil, fmt.Errorf("command body: %w", err)
		}
	}
	return c, nil
}

// AppendMessage appends the wire form of an envelope: the headers in the
// order given (the caller includes Content-Length where FreeSWITCH puts it),
// a blank line and the body.
func AppendMessage(dst []byte, headers []Header, body string) []byte {
	for _, h := range headers {
		dst = append(dst, h.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	return append(dst, body...)
}

func appendInt(dst []byte, n int) []byte {
	var buf [20]byte
	i := len(buf)
	if n == 0 {
		return append(dst, '0')
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[i:]...)
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
