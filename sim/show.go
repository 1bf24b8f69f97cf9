package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The core database. "show channels" and "show calls" do not look at the
// sessions: they read the channels table of the core db, which the SQL
// thread of switch_core_sqldb.c writes from the events (insert on
// CHANNEL_CREATE, updates on ANSWER, EXECUTE, BRIDGE, state and callstate
// changes, delete on CHANNEL_DESTROY), in order, a while after each. So a
// new channel is missing from it for a moment, and a gone one lingers.
// uuid_exists and uuid_getvar look at the sessions and know at once.

// tableRow is a row of the channels table, as of the event that wrote it.
type tableRow struct {
	uuid       string
	created    time.Time
	insertSeq  uint64 // rows with one created_epoch come back in insertion order
	cols       [][2]string
	other      string // the bridged leg, for basic_calls
	originatee bool   // this row is the A leg of a bridge
	bridgedAt  time.Time
}

type sqlOp struct {
	at   time.Time
	del  bool
	row  tableRow
	keep bool // an update: only if the row is there
}

// channelsTable is the table and the statements waiting for the SQL thread.
type channelsTable struct {
	rows    map[string]*tableRow
	queue   []sqlOp
	last    time.Time // when the last queued statement applies
	inserts uint64
}

// push queues a statement; it cannot overtake the ones before it.
func (t *channelsTable) push(op sqlOp) {
	if op.at.Before(t.last) {
		op.at = t.last
	}
	t.last = op.at
	t.queue = append(t.queue, op)
}

// catchUp applies the statements due by now.
func (t *channelsTable) catchUp(now time.Time) {
	i := 0
	for ; i < len(t.queue) && !t.queue[i].at.After(now); i++ {
		op := t.queue[i]
		switch {
		case op.del:
			delete(t.rows, op.row.uuid)
		case op.keep:
			if r, ok := t.rows[op.row.uuid]; ok {
				op.row.created, op.row.insertSeq = r.created, r.insertSeq
				*r = op.row
			}
		default:
			t.inserts++
			op.row.insertSeq = t.inserts
			r := op.row
			t.rows[r.uuid] = &r
		}
		t.queue[i] = sqlOp{}
	}
	t.queue = t.queue[i:]
}

// sorted returns the rows by created_epoch, as the queries order them.
func (t *channelsTable) sorted() []*tableRow {
	out := make([]*tableRow, 0, len(t.rows))
	for _, r := range t.rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].created.Unix(), out[j].created.Unix(); a != b {
			return a < b
		}
		return out[i].insertSeq < out[j].insertSeq
	})
	return out
}

// tableEvent queues what the SQL thread writes for a channel event; s.mu
// is held.
func (s *Switch) tableEvent(name string, ch *channel) {
	lag := s.sc.ShowChannelsLag
	var d Dist
	op := sqlOp{}
	switch name {
	case "CHANNEL_CREATE":
		d = lag.Create
	case "CHANNEL_DESTROY":
		d, op.del = lag.Destroy, true
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
		"CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE":
		d, op.keep = lag.Update, true
	default:
		return
	}
	if ch.sqlRand == nil {
		ch.sqlRand = s.sc.rng("sql:"+ch.uuid, ch.sessionID)
	}
	now := s.clock.Now()
	op.at = now.Add(d.Draw(ch.sqlRand))
	op.row = tableRow{uuid: ch.uuid, created: ch.created, cols: s.channelRow(ch)}
	if o := ch.bridge; o != nil {
		op.row.other, op.row.originatee, op.row.bridgedAt = o.uuid, ch.otherType == "originatee", ch.bridgedAt
	}
	s.table.push(op)
	if name == "CHANNEL_BRIDGE" && ch.bridge != nil {
		// The other leg's row changes too.
		s.tableEvent("CHANNEL_EXECUTE", ch.bridge)
	}
}

// channelRow is a row of show channels, with its columns in order.
func (s *Switch) channelRow(ch *channel) [][2]string {
	app, data := "", ""
	if ch.current != nil {
		app, data = ch.current.name, ch.current.data
	}
	callstate := "RINGING"
	switch {
	case ch.hungUp:
		callstate = "HANGUP"
	case !ch.bridgedAt.IsZero():
		callstate = "ACTIVE"
	case ch.answered():
		callstate = "ACTIVE"
	case ch.answerState == "early":
		callstate = "EARLY"
	}
	state := ch.state
	cid, callee := ch.cidNum, ""
	if ch.flipped {
		callee = ch.cidNum
	}
	return [][2]string{
		{"uuid", ch.uuid}, {"direction", "outbound"},
		{"created", ch.created.In(s.loc).Format("2006-01-02 15:04:05")},
		{"created_epoch", strconv.FormatInt(ch.created.Unix(), 10)},
		{"name", ch.name}, {"state", state}, {"cid_name", "Outbound Call"}, {"cid_num", ch.dest},
		{"ip_addr", ""}, {"dest", ch.dest}, {"application", app}, {"application_data", data},
		{"dialplan", ""}, {"context", ch.context},
		{"read_codec", "PCMU"}, {"read_rate", "8000"}, {"read_bit_rate", "64000"},
		{"write_codec", "PCMU"}, {"write_rate", "8000"}, {"write_bit_rate", "64000"},
		{"secure", ""}, {"hostname", s.sc.Hostname}, {"presence_id", ""}, {"presence_data", ""},
		{"accountcode", ""}, {"callstate", callstate}, {"callee_name", ""}, {"callee_num", callee},
		{"callee_direction", "RECV"}, {"call_uuid", ch.uuid}, {"sent_callee_name", ""},
		{"sent_callee_num", ""}, {"initial_cid_name", ""}, {"initial_cid_num", cid},
		{"initial_ip_addr", ""}, {"initial_dest", ch.dest}, {"initial_dialplan", ""},
		{"initial_context", ch.context},
	}
}

// appendJSONString appends s as cJSON prints a string: '"', '\\' and the
// control characters escaped, everything else (<, >, &, UTF-8) as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 32 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// appendJSONRow appends a row as cJSON_PrintUnformatted does: the columns
// in order, every value a string.
func appendJSONRow(b []byte, row [][2]string) []byte {
	b = append(b, '{')
	for i, kv := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[0])
		b = append(b, ':')
		b = appendJSONString(b, kv[1])
	}
	return append(b, '}')
}

// showSyntax is mod_commands' SHOW_SYNTAX.
const showSyntax = "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"

// show is mod_commands' show_function for channels, calls and status,
// read from the lagging table: "channels [count|like <match>] [as
// json|delim|xml]". The empty JSON answer is {"row_count": 0} with a
// newline, a full one has none.
func (s *Switch) show(args string) string {
	var argv []string
	if args != "" {
		b := newCbuf(args)
		argv = b.strs(b.separate(0, ' ', 6))
	}
	at := func(i int) string {
		if i < len(argv) {
			return argv[i]
		}
		return ""
	}
	if len(argv) == 0 {
		return showSyntax
	}
	command, as := argv[0], ""
	if at(2) != "" && strings.EqualFold(at(1), "as") {
		as = at(2)
	}
	s.table.catchUp(s.clock.Now())
	var rows [][][2]string
	count, justCount := 0, false
	switch {
	case len(command) >= 6 && strings.EqualFold(command[:6], "status"):
		return s.status()
	case strings.EqualFold(command, "channels") && strings.EqualFold(at(1), "like"):
		match := at(2)
		if match != "" && strings.EqualFold(at(3), "as") && at(4) != "" {
			as = at(4)
		}
		match = strings.NewReplacer("'", " ", ";", " ").Replace(match)
		if match != "" && !strings.Contains(match, "%") {
			match = "%" + match + "%"
		}
		for _, r := range s.table.sorted() {
			if match == "" || rowLike(r.cols, match) {
				rows = append(rows, r.cols)
			}
		}
	case strings.EqualFold(command, "channels"):
		if strings.EqualFold(at(1), "count") {
			justCount, as = true, ""
			if at(3) != "" && strings.EqualFold(at(2), "as") {
				as = at(3)
			}
			count = len(s.table.rows)
			break
		}
		for _, r := range s.table.sorted() {
			rows = append(rows, r.cols)
		}
	case strings.EqualFold(command, "calls"):
		var calls []*tableRow
		for _, r := range s.table.rows {
			if r.originatee && r.other != "" && s.table.rows[r.other] != nil {
				calls = append(calls, r)
			}
		}
		sort.Slice(calls, func(i, j int) bool { return calls[i].bridgedAt.Unix() < calls[j].bridgedAt.Unix() })
		if strings.EqualFold(at(1), "count") {
			justCount, as = true, ""
			if at(3) != "" && strings.EqualFold(at(2), "as") {
				as = at(3)
			}
			count = len(calls)
			break
		}
		for _, r := range calls {
			row := append([][2]string(nil), r.cols...)
			for _, kv := range s.table.rows[r.other].cols {
				row = append(row, [2]string{"b_" + kv[0], kv[1]})
			}
			row = append(row, [2]string{"call_created_epoch", strconv.FormatInt(r.bridgedAt.Unix(), 10)})
			rows = append(rows, row)
		}
	default:
		return showSyntax
	}
	if !justCount {
		count = len(rows)
	}
	switch {
	case as == "" || strings.EqualFold(as, "delim") || strings.EqualFold(as, "csv"):
		delim := ","
		if as != "" && at(3) != "" {
			delim = at(3)
		}
		var sb strings.Builder
		for i, r := range rows {
			if i == 0 {
				for j, kv := range r {
					if j > 0 {
						sb.WriteString(delim)
					}
					sb.WriteString(kv[0])
				}
				sb.WriteByte('\n')
			}
			for j, kv := range r {
				if j > 0 {
					sb.WriteString(delim)
				}
				sb.WriteString(kv[1])
			}
			sb.WriteByte('\n')
		}
		fmt.Fprintf(&sb, "\n%d total.\n", count)
		return sb.String()
	case strings.EqualFold(as, "json"):
		if count == 0 && !justCount {
			return "{\"row_count\": 0}\n"
		}
		b := []byte(`{"row_count":` + strconv.Itoa(count) + `,"rows":[`)
		for i, r := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONRow(b, r)
		}
		return string(append(b, "]}"...))
	}
	return "-ERR Cannot find format " + as + "\n"
}

// rowLike is the "channels like" match: SQLite's LIKE (case-blind for
// ASCII, % any run, _ any one character) on uuid, name, cid_name,
// cid_num, presence_data or accountcode.
func rowLike(cols [][2]string, pattern string) bool {
	for _, kv := range cols {
		switch kv[0] {
		case "uuid", "name", "cid_name", "cid_num", "presence_data", "accountcode":
			if sqlLike(pattern, kv[1]) {
				return true
			}
		}
	}
	return false
}

func sqlLike(p, s string) bool {
	lower := func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	// Iterative match with backtracking to the last '%'.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '_' || lower(p[pi]) == lower(s[si])):
			pi++
			si++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// status answers like mod_commands' status.
func (s *Switch) status() string {
	up := s.clock.Now().Sub(s.started)
	years := int(up / (365 * 24 * time.Hour))
	up -= time.Duration(years) * 365 * 24 * time.Hour
	days := int(up / (24 * time.Hour))
	up -= time.Duration(days) * 24 * time.Hour
	hours := int(up / time.Hour)
	up -= time.Duration(hours) * time.Hour
	mins := int(up / time.Minute)
	up -= time.Duration(mins) * time.Minute
	secs := int(up / time.Second)
	up -= time.Duration(secs) * time.Second
	ms := int(up / time.Millisecond)
	us := int((up % time.Millisecond) / time.Microsecond)
	plural := func(n int, unit string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, unit)
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "UP %s, %s, %s, %s, %s, %s, %s\n", plural(years, "year"), plural(days, "day"), plural(hours, "hour"), plural(mins, "minute"), plural(secs, "second"), plural(ms, "millisecond"), plural(us, "microsecond"))
	fmt.Fprintf(&b, "FreeSWITCH (Version 1.10.12-release fsim 64bit) is ready\n")
	fmt.Fprintf(&b, "%d session(s) since startup\n", s.sessions)
	fmt.Fprintf(&b, "%d session(s) - peak %d, last 5min %d \n", len(s.channels), s.peak, s.peak)
	fmt.Fprintf(&b, "%d session(s) per Sec out of max %d, peak %d, last 5min %d \n", s.spsLast, s.sc.sessionsPerSecond(), s.spsPeak, s.spsPeak)
	fmt.Fprintf(&b, "1000 session(s) max\n")
	fmt.Fprintf(&b, "min idle cpu 0.00/100.00\n")
	fmt.Fprintf(&b, "Current Stack Size/Max 240K/8192K\n")
	return b.String()
}
