package sim

// FreeSWITCH parses dial strings with C functions that cut a buffer in
// place: a token ends where a NUL was written, quotes are removed by moving
// bytes left, and later steps read what earlier ones left behind. Their
// corner cases (an unmatched quote, a trailing backslash, a delimiter right
// after "^^") only come out the same if the buffer is treated the same way,
// so these functions work on a NUL-terminated byte buffer with indices for
// pointers, line for line with src/switch_utils.c and src/switch_event.c of
// FreeSWITCH 1.10.12. Where the C code reads past the terminating NUL (a
// backslash as the last byte), a read past the end gives NUL here: the
// switch reads whatever the heap holds, which is undefined.

// cbuf is a C string: the text, then a NUL.
type cbuf []byte

func newCbuf(s string) cbuf {
	b := make(cbuf, len(s)+1)
	copy(b, s)
	return b
}

// at reads b[i], NUL outside the buffer.
func (b cbuf) at(i int) byte {
	if i < 0 || i >= len(b) {
		return 0
	}
	return b[i]
}

// str is the C string that starts at i.
func (b cbuf) str(i int) string {
	if i < 0 || i >= len(b) {
		return ""
	}
	for j := i; j < len(b); j++ {
		if b[j] == 0 {
			return string(b[i:j])
		}
	}
	return string(b[i:])
}

// strchr reports whether c occurs in the C string at i.
func (b cbuf) strchr(i int, c byte) bool {
	for ; b.at(i) != 0; i++ {
		if b[i] == c {
			return true
		}
	}
	return false
}

const escapeMeta = '\\'

// unescapeChar is switch_utils.c's unescape_char.
func unescapeChar(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 's':
		return ' '
	}
	return c
}

// cleanupSeparated is cleanup_separated_string: leading blanks skipped,
// single quotes that have a partner removed, \' \" \\ \n \r \t \s and
// \<delim> unescaped, trailing blanks outside quotes cut. It returns where
// the token now starts.
func (b cbuf) cleanupSeparated(i int, delim byte) int {
	ptr := i
	for b.at(ptr) == ' ' {
		ptr++
	}
	start, dest, end := ptr, ptr, -1
	inside := false
	for ; b.at(ptr) != 0; ptr++ {
		esc := false
		if b[ptr] == escapeMeta {
			next := b.at(ptr + 1)
			e := next
			special := e == '\'' || e == '"' || (delim != 0 && e == delim) || e == escapeMeta
			if !special {
				e = unescapeChar(next)
				special = e != next
			}
			if special {
				ptr++
				b[dest] = e
				dest++
				end = dest
				esc = true
			}
		}
		if !esc {
			if b[ptr] == '\'' && (inside || b.strchr(ptr+1, '\'')) {
				inside = !inside
				if inside {
					end = dest
				}
			} else {
				b[dest] = b[ptr]
				dest++
				if b[ptr] != ' ' || inside {
					end = dest
				}
			}
		}
	}
	if end >= 0 {
		b[end] = 0
	}
	return start
}

// separateCharDelim is separate_string_char_delim.
func (b cbuf) separateCharDelim(ptr int, delim byte, arraylen int) []int {
	var array []int
	started := false // state FIND_DELIM
	inside := false
	for b.at(ptr) != 0 && len(array) < arraylen {
		if !started {
			array = append(array, ptr)
			started = true
			continue
		}
		switch {
		case b[ptr] == escapeMeta:
			ptr++
		case b[ptr] == '\'' && (inside || b.strchr(ptr+1, '\'')):
			inside = !inside
		case b[ptr] == delim && !inside:
			b[ptr] = 0
			started = false
		}
		ptr++
	}
	for i := range array {
		array[i] = b.cleanupSeparated(array[i], delim)
	}
	return array
}

// separateBlankDelim is separate_string_blank_delim: unlike the char
// delimiter, any single quote toggles quoting, partner or not.
func (b cbuf) separateBlankDelim(ptr int, arraylen int) []int {
	const (
		start = iota
		skipInitialSpace
		findDelim
		skipEndingSpace
	)
	var array []int
	state := start
	inside := false
	for b.at(ptr) != 0 && len(array) < arraylen {
		switch state {
		case start:
			array = append(array, ptr)
			state = skipInitialSpace
		case skipInitialSpace:
			if b[ptr] == ' ' {
				ptr++
			} else {
				state = findDelim
			}
		case findDelim:
			switch {
			case b[ptr] == escapeMeta:
				ptr++
			case b[ptr] == '\'':
				inside = !inside
			case b[ptr] == ' ' && !inside:
				b[ptr] = 0
				state = skipEndingSpace
			}
			ptr++
		case skipEndingSpace:
			if b[ptr] == ' ' {
				ptr++
			} else {
				state = start
			}
		}
	}
	for i := range array {
		array[i] = b.cleanupSeparated(array[i], 0)
	}
	return array
}

// separate is switch_separate_string: a leading "^^X" (with something after
// X) makes X the delimiter.
func (b cbuf) separate(ptr int, delim byte, arraylen int) []int {
	if arraylen <= 0 {
		return nil
	}
	if b.at(ptr) == '^' && b.at(ptr+1) == '^' {
		p := ptr + 2
		if b.at(p) != 0 && b.at(p+1) != 0 {
			delim = b[p]
			ptr = p + 1
		}
	}
	if delim == ' ' {
		return b.separateBlankDelim(ptr, arraylen)
	}
	return b.separateCharDelim(ptr, delim, arraylen)
}

// strs reads the tokens separate returned.
func (b cbuf) strs(idx []int) []string {
	out := make([]string, len(idx))
	for i, p := range idx {
		out[i] = b.str(p)
	}
	return out
}

// findEndParen is switch_find_end_paren: after leading blanks, s must
// open; the matching close (nested opens counted, quotes not) or -1.
func (b cbuf) findEndParen(s int, open, close byte) int {
	for b.at(s) == ' ' {
		s++
	}
	e := -1
	if b.at(s) == open {
		depth := 1
		for e = s + 1; b.at(e) != 0; e++ {
			if b[e] == open && open != close {
				depth++
			} else if b[e] == close {
				depth--
				if depth == 0 {
					break
				}
			}
		}
	}
	if e >= 0 && b.at(e) == close {
		return e
	}
	return -1
}

// strchrStrict is switch_strchr_strict with " " allowed: find after blanks
// only. Like the C, a run of blanks to the end returns the NUL's index.
func (b cbuf) strchrStrict(in int, find byte) int {
	if b.at(in) == 0 {
		return -1
	}
	p := in
	for b.at(p) != 0 {
		if b[p] == find {
			break
		}
		if b[p] != ' ' {
			return -1
		}
		p++
	}
	return p
}

// createBrackets is switch_event_create_brackets (dup false, so the buffer
// is cut in place): the variables of the block that starts at data, split on
// c (or a leading ^^X), each name=value cut at its first '='. vars is the
// event the variables are added to. It returns the index after the block,
// or ok false (the caller's "Parse Error!").
func (b cbuf) createBrackets(data int, a, close, c byte, vars *varList) (next int, ok bool) {
	vdata := data
	end := b.findEndParen(vdata, a, close)
	// The C then looks for a further block right after the close with
	// switch_strchr_strict(end, a, " "); starting on the close character,
	// which is neither a nor a blank, it never finds one.
	if end < 0 {
		return 0, false
	}
	nextp := end
	vdata++
	b[end] = 0
	end++
	vnext := -1
	for {
		if nextp >= 0 {
			b[nextp] = 0
			nextp++
			if pn := b.strchrStrict(nextp, a); pn >= 0 {
				nextp = pn + 1
			}
			vnext = b.findEndParen(nextp, a, close)
			nextp = -1
		}
		if b.at(vdata) == '^' && b.at(vdata+1) == '^' {
			vdata += 2
			c = b.at(vdata)
			vdata++
		}
		for _, item := range b.separate(vdata, c, 1024) {
			kv := b.separate(item, '=', 2)
			if len(kv) == 2 {
				vars.add(b.str(kv[0]), b.str(kv[1]))
			}
		}
		if vnext < 0 {
			break
		}
		vdata, vnext = vnext, -1
	}
	return end, true
}

// varList is a switch_event_t of channel data: header names are unique
// (EF_UNIQ_HEADERS) and matched without case; adding a name again removes
// the old header and appends the new one at the bottom.
type varList []kv

func (l *varList) add(name, value string) {
	l.del(name)
	*l = append(*l, kv{name, value})
}

func (l *varList) del(name string) {
	out := (*l)[:0]
	for _, x := range *l {
		if !equalFoldASCII(x.k, name) {
			out = append(out, x)
		}
	}
	*l = out
}

func (l varList) get(name string) (string, bool) {
	for _, x := range l {
		if equalFoldASCII(x.k, name) {
			return x.v, true
		}
	}
	return "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// atoi is C's atoi: blanks, a sign, digits; anything else stops it.
func atoi(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<31 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if neg {
		return -n
	}
	return n
}

// switchIsNumber is switch_is_number: an optional sign, then digits and dots.
func switchIsNumber(s string) bool {
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// switchTrue is switch_true.
func switchTrue(s string) bool {
	for _, w := range []string{"yes", "on", "true", "t", "enabled", "active", "allow"} {
		if equalFoldASCII(s, w) {
			return true
		}
	}
	return s != "" && switchIsNumber(s) && atoi(s) != 0
}

// varCheck is switch_string_var_check_const: a '$', any backslashes, then
// '{' is a variable reference.
func varCheck(s string) bool {
	dol := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '$':
			dol = true
		case dol && s[i] == '{':
			return true
		case dol && s[i] != '\\':
			dol = false
		}
	}
	return false
}

// containsFold is switch_stristr's answer: whether s contains sub, ignoring
// ASCII case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case, as strncasecmp.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
