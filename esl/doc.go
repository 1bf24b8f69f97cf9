// Package esl speaks FreeSWITCH's event socket protocol (ESL), both sides.
//
// The client side is a connection with one reader goroutine: replies are
// matched to commands in the order they were sent, events reach the handler
// in the order the switch sent them, and a bgapi job id is chosen by the
// client and registered before the command is written. Replies and job
// results are handed over in the stream's order too: when a command
// returns, every event the switch sent before its reply has been handled,
// so "show channels" after a quiet spell cannot overtake the events that
// explain it. Client wraps a
// connection with reconnection (exponential backoff with jitter), re-subscribes
// after each reconnect and reports its state; Pool spreads originates over
// several switches by free capacity.
//
// The server side (Server) is the same codec facing the other way; the
// simulator in package sim stands behind it.
//
// The wire facts this package relies on are in docs/esl-protocol.md.
package esl
