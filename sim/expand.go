package sim

import "strings"

// hasEscapedData is switch_string_has_escaped_data.
func hasEscapedData(in string) bool {
	i := strings.IndexByte(in, '\\')
	for i >= 0 {
		i++
		if i < len(in) {
			switch in[i] {
			case '\\', 'n', 's', 't', '\'':
				return true
			}
		}
		j := strings.IndexByte(in[min(i, len(in)):], '\\')
		if j < 0 {
			return false
		}
		i += j
	}
	return false
}

// expander resolves what switch_channel_expand_variables looks up: a
// variable (channel, then caller profile, then global) and an api command
// for ${cmd args} and ${cmd(args)}.
type expander struct {
	lookup func(name string) (string, bool)
	api    func(cmd, args string) (string, bool)
}

// expand is switch_channel_expand_variables_check, ported line for line
// (src/switch_channel.c): ${name}, ${name:offset[:length]}, ${name[i]}
// (the index is read and ignored: the simulator keeps no arrays), $${name},
// nested ${${name}}, the value expanded again, ${api args}; \$ is a plain
// '$', \' disappears, \\ is one backslash. Anything unknown expands to
// nothing.
func (x expander) expand(in string, recur int) string {
	if recur > 100 || in == "" {
		return in
	}
	if !varCheck(in) && !hasEscapedData(in) {
		return in
	}
	b := newCbuf(in)
	endof := len(in) // the NUL: end_of_p(indup) + 1
	var out []byte
	nv := false
	for p := 0; p < endof && b.at(p) != 0; p++ {
		global, vtype := false, 0
		if b[p] == '\\' {
			switch b.at(p + 1) {
			case '$':
				nv = true
				p++
				if b.at(p+1) == '$' {
					p++
				}
			case '\'':
				p++
				continue
			case '\\':
				out = append(out, b[p])
				p++
				continue
			}
		}
		if b[p] == '$' && !nv {
			if b.at(p+1) == '$' {
				p++
				global = true
			}
			switch {
			case b.at(p+1) == '{' && global:
				vtype = 3
			case b.at(p+1) == '{':
				vtype = 1
			default:
				nv = true
			}
		}
		if nv {
			out = append(out, b[p])
			nv = false
			continue
		}
		if vtype != 0 {
			s := p + 1
			br := 0
			if b.at(s) == '{' {
				br = 1
				s++
			}
			e, vname := s, s
			for b.at(e) != 0 {
				if br == 1 && b[e] == '}' {
					br = 0
					b[e] = 0
					e++
					break
				}
				if br > 0 {
					if e != s && b[e] == '{' {
						br++
					} else if br > 1 && b[e] == '}' {
						br--
					}
				}
				e++
			}
			p = min(e, endof)
			vval := -1
			for sb := vname; b.at(sb) != 0; sb++ {
				if b[sb] == ' ' {
					vval = sb
					break
				} else if b[sb] == '(' {
					vval = sb
					br = 1
					break
				}
			}
			if vval >= 0 {
				e = vval - 1
				b[vval] = 0
				vval++
				for e >= 0 && b.at(e) == ' ' {
					b[e] = 0
					e--
				}
				for e = vval; b.at(e) != 0; e++ {
					if b[e] == '(' {
						br++
					} else if br > 1 && b[e] == ')' {
						br--
					} else if br == 1 && b[e] == ')' {
						b[e] = 0
						break
					}
				}
				vtype = 2
			}
			var sub string
			if vtype == 1 || vtype == 3 {
				name := x.expand(b.str(vname), recur+1)
				offset, ooffset := 0, 0
				if i := strings.IndexByte(name, ':'); i >= 0 {
					rest := name[i+1:]
					name = name[:i]
					offset = atoi(rest)
					if j := strings.IndexByte(rest, ':'); j >= 0 {
						ooffset = atoi(rest[j+1:])
					}
				}
				if i := strings.IndexByte(name, '['); i >= 0 && strings.IndexByte(name[i:], ']') >= 0 {
					name = name[:i]
				}
				if v, ok := x.lookup(name); ok && name != "" {
					v = x.expand(v, recur+1)
					if offset >= 0 {
						if offset > len(v) {
							v = ""
						} else {
							v = v[offset:]
						}
					} else if -offset <= len(v) {
						v = v[len(v)+offset:]
					}
					if ooffset > 0 && ooffset < len(v) {
						v = v[:ooffset]
					}
					sub = v
				}
			} else if x.api != nil {
				cmd := x.expand(b.str(vname), recur+1)
				args := x.expand(b.str(vval), recur+1)
				if r, ok := x.api(cmd, args); ok {
					sub = r
				}
			}
			out = append(out, sub...)
		}
		if b.at(p) == '$' {
			p--
		} else {
			out = append(out, b.at(p))
		}
	}
	// The C builds a C string: an embedded NUL ends it.
	if i := strings.IndexByte(string(out), 0); i >= 0 {
		out = out[:i]
	}
	return string(out)
}
