package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Outbound mode: for each call it hands over, FreeSWITCH's socket
// application ("socket host:port async full") connects to the program
// and waits for it to speak first. The program sends "connect"; the
// switch answers with the call's channel data as one command/reply whose
// headers are the CHANNEL_DATA event's (URL-encoded, as
// switch_event_serialize writes them), plus Socket-Mode and Control
// (mod_event_socket.c, parse_command "connect"). After that the
// connection is an ordinary command connection bound to the call:
// sendmsg without a uuid, myevents, linger, resume, api.

// Accept takes over a connection the switch made in outbound mode: it
// sends connect and returns the connection, ready for commands, and the
// call's channel data (Unique-ID, Caller-Caller-ID-Number, variable_...).
// No password is asked in this mode: listen where only the switch can
// connect.
func Accept(ctx context.Context, nc net.Conn, cfg Config) (*Conn, *Event, error) {
	cfg = cfg.withDefaults()
	deadline := time.Now().Add(cfg.DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c := newConn(nc, cfg)
	channel, err := c.connect(deadline)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("esl: outbound connection from %s: %w", nc.RemoteAddr(), err)
	}
	c.start()
	return c, channel, nil
}

// connect runs the outbound handshake before the reader starts.
func (c *Conn) connect(deadline time.Time) (*Event, error) {
	_ = c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write([]byte("connect\n\n")); err != nil {
		return nil, fmt.Errorf("send connect: %w", err)
	}
	m, err := c.r.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("waiting for the channel data: %w", err)
	}
	if ct := m.ContentType(); ct != TypeCommandReply {
		return nil, fmt.Errorf("%w: connect answered with %q, not command/reply", ErrProtocol, ct)
	}
	var b strings.Builder
	for _, h := range m.Headers {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	ev, err := ParsePlainEvent(b.String())
	switch {
	case err != nil:
		return nil, err
	case !strings.HasPrefix(ev.Get("Reply-Text"), "+OK"):
		return nil, fmt.Errorf("%w: connect refused: %s", ErrProtocol, strings.TrimSpace(ev.Get("Reply-Text")))
	case ev.UniqueID() == "":
		return nil, fmt.Errorf("%w: the channel data has no Unique-ID", ErrProtocol)
	}
	return ev, nil
}

// ServeOutbound accepts the switch's outbound connections on l until ctx
// ends, and runs handle for each in a goroutine of its own with the
// connection and the call's channel data. A connection whose handshake
// fails is closed and reported to failed (nil: ignored).
func ServeOutbound(ctx context.Context, l net.Listener, cfg Config, handle func(*Conn, *Event), failed func(error)) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("esl: accept: %w", err)
		}
		go func() {
			c, channel, err := Accept(ctx, nc, cfg)
			if err != nil {
				if failed != nil {
					failed(err)
				}
				return
			}
			handle(c, channel)
		}()
	}
}
