package sim

import (
	"sort"
	"strconv"
	"strings"
)

// The switch's own key-value stores, which outlive any event socket
// connection: mod_db's "db" (an SQL table in FreeSWITCH) and mod_hash's
// "hash" (memory). A call can write its end into them itself with
// api_hangup_hook=db::insert/... and a client reads it with "db select".

// dbStore is mod_db's db_data table: realm, data_key, data.
type dbStore map[string]map[string]string

// db is mod_db's db_api_function (src/mod/applications/mod_db/mod_db.c):
// the arguments split on '/' into at most 4 (the last keeps any further
// '/'); answers without a newline; "!err!" for anything malformed.
func (s *Switch) db(args string) string {
	var argv []string
	if args != "" {
		b := newCbuf(args)
		argv = b.strs(b.separate(0, '/', 4))
	}
	if len(argv) < 1 {
		return "!err!"
	}
	// A missing argument is a NULL that %q prints as (NULL)
	// (switch_mprintf.c).
	arg := func(i int) string {
		if i < len(argv) {
			return argv[i]
		}
		return "(NULL)"
	}
	switch strings.ToLower(argv[0]) {
	case "insert":
		if len(argv) < 4 {
			return "!err!"
		}
		realm := s.dbData[argv[1]]
		if realm == nil {
			realm = map[string]string{}
			s.dbData[argv[1]] = realm
		}
		realm[argv[2]] = argv[3]
		return "+OK"
	case "delete":
		if len(argv) < 2 {
			return "!err!"
		}
		if realm := s.dbData[argv[1]]; realm != nil {
			delete(realm, arg(2))
			if len(realm) == 0 {
				delete(s.dbData, argv[1])
			}
		}
		return "+OK"
	case "select", "exists":
		if len(argv) < 3 {
			return "!err!"
		}
		v := s.dbData[argv[1]][argv[2]]
		if len(v) > 255 {
			v = v[:255] // read into a 256-byte buffer
		}
		if strings.EqualFold(argv[0], "exists") {
			return boolStr(v != "")
		}
		return v
	case "count":
		switch len(argv) {
		case 1:
			return strconv.Itoa(len(s.dbData))
		case 2:
			return strconv.Itoa(len(s.dbData[argv[1]]))
		}
		return "!err!"
	case "list":
		var names []string
		switch len(argv) {
		case 1:
			for realm := range s.dbData {
				names = append(names, realm)
			}
		case 2:
			for key := range s.dbData[argv[1]] {
				names = append(names, key)
			}
		default:
			return "!err!"
		}
		sort.Strings(names) // SQL gives no order; a fixed one keeps runs alike
		out := strings.Join(names, ",")
		if len(out) > 4095 {
			out = out[:4095]
		}
		return out
	}
	return "!err!"
}

// hashUsage is mod_hash's answer to anything malformed.
const hashUsage = "-ERR Usage: hash insert|insert_ifempty|select|delete|delete_ifmatch/realm/key[/value]\n"

// hash is mod_hash's hash_api_function (src/mod/applications/mod_hash/
// mod_hash.c): the key is realm_key (so realms and keys with '_' can
// meet), case-sensitive; select of a missing key answers nothing.
func (s *Switch) hash(args string) string {
	var argv []string
	if args != "" {
		b := newCbuf(args)
		argv = b.strs(b.separate(0, '/', 4))
	}
	if len(argv) < 3 {
		return hashUsage
	}
	key := argv[1] + "_" + argv[2]
	switch strings.ToLower(argv[0]) {
	case "insert":
		if len(argv) < 4 {
			return hashUsage
		}
		s.hashData[key] = argv[3]
		return "+OK\n"
	case "insert_ifempty":
		if len(argv) < 4 {
			return hashUsage
		}
		if _, ok := s.hashData[key]; ok {
			return "-ERR key already exists\n"
		}
		s.hashData[key] = argv[3]
		return "+OK\n"
	case "delete":
		if _, ok := s.hashData[key]; !ok {
			return "-ERR Not found\n"
		}
		delete(s.hashData, key)
		return "+OK\n"
	case "delete_ifmatch":
		if len(argv) < 4 {
			return hashUsage
		}
		v, ok := s.hashData[key]
		switch {
		case !ok:
			return "-ERR Not found\n"
		case v != argv[3]:
			return "-ERR Doesn't match\n"
		}
		delete(s.hashData, key)
		return "+OK\n"
	case "select":
		return s.hashData[key]
	}
	return hashUsage
}
