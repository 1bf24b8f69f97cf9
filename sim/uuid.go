package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fsdialer/fsdialer/esl"
)

// The uuid_* commands of mod_commands (src/mod/applications/mod_commands/
// mod_commands.c) and hupall. Each runs with s.mu held (apiLocked).

// noSuchChannel is what most of them answer for a uuid that names no live
// channel.
const noSuchChannel = "-ERR No such channel!\n"

// lookup is switch_core_session_locate: a channel that exists and has not
// hung up (a read lock fails once the state reaches CS_HANGUP).
func (s *Switch) lookup(uuid string) *channel {
	ch := s.channels[uuid]
	if ch == nil || ch.hungUp {
		return nil
	}
	return ch
}

// splitArgs splits a command's arguments on blanks as
// switch_separate_string does, into at most max.
func splitArgs(args string, max int) []string {
	if args == "" {
		return nil
	}
	b := newCbuf(args)
	return b.strs(b.separate(0, ' ', max))
}

// onChannel is the prologue the uuid_* commands share: the arguments
// split into at most max, fewer than min (or an empty uuid) answered with
// the usage, the first located as a live channel or answered with
// notFound. reply is "" when ch is good to use.
func (s *Switch) onChannel(args string, min, max int, syntax, notFound string) (ch *channel, argv []string, reply string) {
	argv = splitArgs(args, max)
	if len(argv) < min || len(argv) == 0 || argv[0] == "" {
		return nil, argv, "-USAGE: " + syntax + "\n"
	}
	if ch = s.lookup(argv[0]); ch == nil {
		return nil, argv, notFound
	}
	return ch, argv, ""
}

// uuidBridge is uuid_bridge: the first with the second, or failing that
// with a third.
func (s *Switch) uuidBridge(args string) string {
	argv := splitArgs(args, 4)
	if len(argv) < 2 {
		return "-USAGE: <uuid> <other_uuid>\n"
	}
	a := s.lookup(argv[0])
	for _, other := range argv[1:min(len(argv), 3)] {
		if b := s.lookup(other); a != nil && b != nil && a != b {
			s.bridge(a, b)
			return "+OK " + other + "\n"
		}
	}
	return "-ERR Invalid uuid\n"
}

// bridge joins two parked or playing legs, a the originator, in the
// order of the capture of uuid_bridge.
func (s *Switch) bridge(a, b *channel) {
	now := s.clock.Now()
	a.bridge, b.bridge = b, a
	a.otherType, b.otherType = "originatee", "originator"
	a.logicalIn = true
	a.v.set("uuid_bridge", b.uuid)
	for _, leg := range []*channel{a, b} {
		other := leg.bridge
		leg.profileIndex = 2
		leg.transferFr = strconv.FormatInt(now.Unix(), 10) + ":" + esl.NewUUID() + ":uuid_br:" + other.uuid
		leg.v.set("bridge_channel", other.name)
		leg.v.set("bridge_uuid", other.uuid)
		leg.v.set("signal_bond", other.uuid)
		leg.v.set("original_destination_number", leg.dest)
		leg.v.set("original_caller_id_name", "Outbound Call")
		leg.v.set("original_caller_id_number", leg.dest)
		leg.v.set("transfer_history", leg.transferFr)
		leg.v.set("transfer_source", leg.transferFr)
	}
	for _, leg := range []*channel{a, b} {
		leg.state, leg.stateNum = "CS_EXECUTE", 8
		leg.inSocket = false // bridged away: the socket does not resume it
		s.stopCurrent(leg)
	}
	a.v.unset("uuid_bridge")
	for _, leg := range []*channel{a, b} {
		leg.state, leg.stateNum = "CS_SOFT_EXECUTE", 3
		s.emit("CHANNEL_EXECUTE", leg, s.appHeaders(&application{name: "uuid_bridge", data: leg.bridge.uuid}, false)...)
	}
	a.bridgedAt, b.bridgedAt = now, now
	s.emit("CHANNEL_BRIDGE", a)
	b.state = "CS_EXCHANGE_MEDIA"
	s.talkFromNow(a)
	s.talkFromNow(b)
}

// uuidKill is uuid_kill: the cause after the first blank; an unanswered
// call cancelled without one is ORIGINATOR_CANCEL.
func (s *Switch) uuidKill(args string) string {
	ch, argv, reply := s.onChannel(args, 1, 2, "<uuid> [cause]", noSuchChannel)
	if ch == nil {
		return reply
	}
	cause := "NORMAL_CLEARING"
	if len(argv) > 1 && argv[1] != "" {
		cause = strings.ToUpper(argv[1])
	}
	if !ch.answered() && cause == "NORMAL_CLEARING" {
		cause = "ORIGINATOR_CANCEL"
	}
	s.hangup(ch, cause, true)
	return "+OK\n"
}

// uuidTransfer is uuid_transfer: 2 to 5 arguments, a '-' flag (-bleg,
// -both) before the extension; the simulator moves this leg.
func (s *Switch) uuidTransfer(args string) string {
	const syntax = "<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]"
	ch, argv, reply := s.onChannel(args, 2, 5, syntax, noSuchChannel)
	if ch == nil {
		return reply
	}
	rest := argv[1:]
	if strings.HasPrefix(rest[0], "-") {
		if len(rest) < 2 {
			return "-USAGE: " + syntax + "\n"
		}
		rest = rest[1:]
	}
	dest, dialplan := rest[0], ""
	if len(rest) > 1 {
		dialplan = rest[1]
	}
	if other := ch.bridge; other != nil {
		s.emit("CHANNEL_UNBRIDGE", ch)
		ch.bridge, other.bridge = nil, nil
		s.hangup(other, "NORMAL_CLEARING", true)
	}
	s.stopCurrent(ch)
	ch.inSocket = false // transferred away: the socket does not resume it
	if dialplan == "inline" {
		s.runInline(ch, inlineApps(dest))
	} else {
		s.runExtension(ch, dest)
	}
	return "+OK\n"
}

// uuidBroadcast is uuid_broadcast: a file to play, or app::args; a
// parked call goes back to waiting afterwards.
func (s *Switch) uuidBroadcast(args string) string {
	ch, argv, reply := s.onChannel(args, 2, 4, "<uuid> <path> [aleg|bleg|holdb|both]", "-ERR invalid uuid\n")
	if ch == nil {
		return reply
	}
	if !ch.answered() {
		return "-ERR invalid uuid\n"
	}
	wasParked := ch.parked
	if ch.current != nil && ch.current.name != "park" {
		s.complete(ch, "")
	}
	ch.parked = false
	back := func() {
		if wasParked && !ch.hungUp {
			ch.parked = true
			ch.current = &application{name: "park", uuid: esl.NewUUID()}
		}
	}
	if name, arg, ok := strings.Cut(argv[1], "::"); ok {
		s.execute(ch, name, arg, back)
	} else {
		s.execute(ch, "playback", argv[1], back)
	}
	return "+OK Message sent\n"
}

// uuidRecord is uuid_record start|stop: RECORD_START and RECORD_STOP; no
// file is written.
func (s *Switch) uuidRecord(args string) string {
	ch, argv, reply := s.onChannel(args, 3, 5, "<uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]", "-ERR Cannot locate session!\n")
	if ch == nil {
		return reply
	}
	switch strings.ToLower(argv[1]) {
	case "start":
		ch.recording = argv[2]
		s.emit("RECORD_START", ch, kv{"Record-File-Path", argv[2]})
	case "stop":
		if ch.recording != "" {
			s.emit("RECORD_STOP", ch, kv{"Record-File-Path", ch.recording})
			ch.recording = ""
		}
	}
	return "+OK Success\n"
}

// uuidSetvar is uuid_setvar: 2 or 3 arguments, the value the rest of the
// line; no value unsets.
func (s *Switch) uuidSetvar(args string) string {
	const syntax = "<uuid> <var> [value]"
	ch, argv, reply := s.onChannel(args, 2, 3, syntax, noSuchChannel)
	if ch == nil {
		return reply
	}
	if argv[1] == "" {
		return "-ERR No variable specified\n"
	}
	value := ""
	if len(argv) == 3 {
		value = argv[2]
	}
	s.setVarChecked(ch, argv[1], value, false)
	return "+OK\n"
}

// uuidGetvar is uuid_getvar: the value with no newline after it, or
// _undef_.
func (s *Switch) uuidGetvar(args string) string {
	ch, argv, reply := s.onChannel(args, 2, 4, "<uuid> <var>", noSuchChannel)
	if ch == nil {
		return reply
	}
	if argv[1] == "" {
		return "-ERR No variable name specified!\n"
	}
	if v, ok := ch.v.get(argv[1]); ok {
		return v
	}
	return "_undef_"
}

// hupall hangs up every channel, or those whose variable has a value.
func (s *Switch) hupall(args string) string {
	f := strings.Fields(args)
	cause := "MANAGER_REQUEST"
	if len(f) > 0 {
		cause = strings.ToUpper(f[0])
	}
	for _, ch := range s.sortedChannels() {
		if len(f) >= 3 {
			if v, _ := ch.v.get(f[1]); v != f[2] {
				continue
			}
		}
		if !ch.hungUp {
			s.hangup(ch, cause, true)
		}
	}
	if len(f) >= 3 {
		return fmt.Sprintf("+OK hangup all channels matching [%s]=[%s] with cause: %s\n", f[1], f[2], cause)
	}
	return "+OK hangup all channels with cause " + cause + "\n"
}
