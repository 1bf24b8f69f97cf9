package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// decodeJSON reads a JSON body into v. A body that is not JSON is a 400
// naming the line and column (an *httpError). Values of the wrong type come
// back as field errors named by the path the client wrote, with indexes;
// the rest of the body is in v all the same, so that the caller can
// validate it and name everything wrong at once.
func decodeJSON(body []byte, v any) ([]store.FieldError, error) {
	err := decodeStrict(body, v)
	if err == nil {
		return nil, nil
	}
	if he, ok := err.(*httpError); ok {
		return nil, he
	}
	bad, leftover := decodeLenient(body, v)
	if leftover != nil { // a value the shapes let through: still named, never a Go type
		bad = append(bad, store.FieldError{Field: wholeBody, Message: "cannot be read: " + leftover.Error()})
	}
	return bad, nil
}

// wholeBody names the body itself in a field error (a list where an object
// belongs).
const wholeBody = "(body)"

// decodeStrict is the fast way, for bodies without mistakes: encoding/json
// straight into v. Anything that is not JSON is an *httpError; any other
// error means a value of the wrong type somewhere.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf("malformed JSON at byte %d: more than one value", dec.InputOffset())}
		}
		return nil
	}
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return apiError(http.StatusBadRequest, "empty body: a JSON document is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(body, int64(len(body)))
		return apiError(http.StatusBadRequest, fmt.Sprintf("malformed JSON: the document ends early, at line %d, column %d (byte %d)", line, col, len(body)))
	case errors.As(err, &se):
		// The decoder stops just after the character it refused.
		line, col := position(body, se.Offset-1)
		return apiError(http.StatusBadRequest, fmt.Sprintf("malformed JSON at line %d, column %d (byte %d): %s", line, col, se.Offset, se.Error()))
	}
	return err
}

// decodeLenient decodes a well-formed body that has values of the wrong
// type: it names each by its shape, drops them, and decodes the rest into
// v (from its zero value). leftover is an error the shapes did not
// foresee: a bug, which FuzzDecodeBodies looks for.
func decodeLenient(body []byte, v any) (bad []store.FieldError, leftover error) {
	rv := reflect.ValueOf(v).Elem()
	rv.SetZero()
	var tree any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var p problems
	if !newShapeBuilder().shapeOf(rv.Type()).check("", tree, &p) {
		tree = nil
	}
	for i := range p.list {
		if p.list[i].Field == "" {
			p.list[i].Field = wholeBody
		}
	}
	clean, err := json.Marshal(tree)
	if err != nil {
		return p.list, err
	}
	dec = json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		rv.SetZero()
		return p.list, err
	}
	return p.list, nil
}

// refuse is the answer to a body with values of the wrong type: those, and
// whatever validating the rest of it finds about other fields.
func refuse(bad []store.FieldError, rest error) error {
	out := append([]store.FieldError(nil), bad...)
	var ve *store.ValidationError
	if errors.As(rest, &ve) {
		for _, fe := range ve.Errors {
			if !covered(bad, fe.Field) {
				out = append(out, fe)
			}
		}
	}
	return &store.ValidationError{Errors: out}
}

// covered reports whether a validation error about field follows from a
// value already named: the same field under any of its spellings, a field
// inside it, or one that holds it ("broadcast" lacks the file that was a
// number).
func covered(bad []store.FieldError, field string) bool {
	for _, b := range bad {
		for _, name := range spellings(b.Field) {
			if field == name || within(field, name) || within(name, field) {
				return true
			}
		}
	}
	return false
}

// within reports whether path inner is inside path outer.
func within(inner, outer string) bool {
	return strings.HasPrefix(inner, outer+".") || strings.HasPrefix(inner, outer+"[")
}

// synonym is the other spelling of a key a body may spell two ways (the
// seeds' quirks), the one validation names it by.
func synonym(key string) string {
	switch key {
	case "destination":
		return "number"
	case "expire_at":
		return "expire"
	case "dialedNumber":
		return "dialledNumber"
	case "waitForResultStatus":
		return "waitingForResultStatus"
	case "stop.communications":
		return "stop_communications"
	case "comment":
		return "description"
	}
	return ""
}

// spellings returns a path and, if its last key has another spelling, the
// path with that one.
func spellings(path string) []string {
	cut := strings.LastIndexAny(path, ".]")
	head, last := "", path
	if cut >= 0 {
		head, last = path[:cut+1], path[cut+1:]
	}
	if last == "communications" && strings.HasSuffix(head, "stop.") { // stop.communications is one key
		head, last = head[:len(head)-len("stop.")], "stop.communications"
	}
	if other := synonym(last); other != "" {
		return []string{path, head + other}
	}
	return []string{path}
}

// position returns the line and column (both from 1) of the byte at offset.
func position(b []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(b))))
	before := b[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// memberIn is a member as integrators send it: seed 002/003 (number, type
// as a string, expire) or seed 004 (destination, type.id, expire_at,
// bucket.id).
type memberIn struct {
	Name           string            `json:"name"`
	Priority       int               `json:"priority"`
	Timezone       string            `json:"timezone"`
	Variables      map[string]any    `json:"variables"`
	Communications []communicationIn `json:"communications"`
	Expire         *flexTime         `json:"expire"`
	ExpireAt       *flexTime         `json:"expire_at"`
	Bucket         *idRef            `json:"bucket"`
}

type communicationIn struct {
	Number      string `json:"number"`
	Destination string `json:"destination"`
	Priority    int    `json:"priority"`
	Type        idRef  `json:"type"`
	Description string `json:"description"`
}

// idRef is a code given as "1", 1 or {"id": "1"}.
type idRef struct{ ID string }

func (r *idRef) UnmarshalJSON(b []byte) error {
	v, err := decodeAny(b)
	if err != nil {
		return err
	}
	var p problems
	r.ID = idRefFrom("", v, &p)
	return p.err()
}

func checkIDRef(path string, v any, p *problems) bool {
	n := len(p.list)
	idRefFrom(path, v, p)
	return len(p.list) == n
}

// idRefFrom reads a code; null is no code.
func idRefFrom(path string, v any, p *problems) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case map[string]any:
		keys := sortedKeys(x)
		if _, ok := x["id"]; ok {
			keys = []string{"id"} // the exact name first; then any case, as encoding/json matches
		}
		for _, k := range keys {
			if !strings.EqualFold(k, "id") {
				continue
			}
			switch id := x[k].(type) {
			case nil:
				return ""
			case string:
				return id
			case json.Number:
				return id.String()
			}
			p.add(join(path, k), "must be a string, not %s", describe(x[k]))
			return ""
		}
		return ""
	}
	p.add(path, "must be a string or an object {\"id\": ...}, not %s", describe(v))
	return ""
}

// flexTime is a member's expiry: epoch milliseconds (as a number or a
// string), an RFC 3339 time, or a date (the end of that day, UTC).
type flexTime struct{ ms int64 }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	v, err := decodeAny(b)
	if err != nil {
		return err
	}
	var p problems
	t.ms = flexTimeFrom("", v, &p)
	return p.err()
}

func checkFlexTime(path string, v any, p *problems) bool {
	n := len(p.list)
	flexTimeFrom(path, v, p)
	return len(p.list) == n
}

func flexTimeFrom(path string, v any, p *problems) int64 {
	var s string
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		p.add(path, "must be epoch milliseconds, an RFC 3339 time or a YYYY-MM-DD date, not %s", describe(v))
		return 0
	}
	ms, err := parseTime(s)
	if err != nil {
		p.add(path, "%v", err)
	}
	return ms
}

// checkNumber checks a json.Number: a number, or a string holding one (as
// encoding/json takes it).
func checkNumber(path string, v any, p *problems) bool {
	switch x := v.(type) {
	case nil, json.Number:
		return true
	case string:
		if _, err := strconv.ParseFloat(x, 64); err == nil && json.Valid([]byte(x)) {
			return true
		}
	}
	p.add(path, "must be a number, not %s", describe(v))
	return false
}

// decodeAny decodes one JSON value as the shapes see it.
func decodeAny(b []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}

// err makes the problems an error (for UnmarshalJSON).
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &store.ValidationError{Errors: p.list}
}

// parseTime reads epoch milliseconds, RFC 3339, or YYYY-MM-DD (end of day).
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1).UnixMilli() - 1, nil
	}
	return 0, fmt.Errorf("%q is not epoch milliseconds, an RFC 3339 time or a YYYY-MM-DD date", clip(s, 40))
}

// member converts to the store's member.
func (in *memberIn) member() *store.Member {
	m := &store.Member{Name: in.Name, Priority: in.Priority, Timezone: in.Timezone, Variables: in.Variables}
	switch {
	case in.Expire != nil:
		m.Expire = in.Expire.ms
	case in.ExpireAt != nil:
		m.Expire = in.ExpireAt.ms
	}
	if in.Bucket != nil {
		m.Bucket = in.Bucket.ID
	}
	for _, c := range in.Communications {
		number := c.Number
		if number == "" {
			number = c.Destination
		}
		m.Communications = append(m.Communications, store.Communication{Number: number, Priority: c.Priority, Type: c.Type.ID, Description: c.Description})
	}
	for k, v := range m.Variables {
		if n, ok := v.(json.Number); ok { // keep numbers numbers
			if f, err := n.Float64(); err == nil {
				m.Variables[k] = f
			}
		}
	}
	return m
}

// rename gives validation errors the names this member's body used: seed
// 004's destination and expire_at where the store says number and expire.
func (in *memberIn) rename(fields []store.FieldError) {
	for i, fe := range fields {
		if fe.Field == "expire" && in.Expire == nil && in.ExpireAt != nil {
			fields[i].Field = "expire_at"
		}
		rest, ok := strings.CutPrefix(fe.Field, "communications[")
		digits, ok2 := strings.CutSuffix(rest, "].number")
		n, err := strconv.Atoi(digits)
		if ok && ok2 && err == nil && n >= 0 && n < len(in.Communications) && in.Communications[n].Number == "" && in.Communications[n].Destination != "" {
			fields[i].Field = "communications[" + digits + "].destination"
		}
	}
}

// renamed is err with the field names of in's body.
func (in *memberIn) renamed(err error) error {
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		in.rename(ve.Errors)
	}
	return err
}

// memberOut is a member as the API shows it.
type memberOut struct {
	ID             string             `json:"_id"`
	Name           string             `json:"name"`
	Priority       int                `json:"priority"`
	Timezone       string             `json:"timezone,omitempty"`
	Variables      map[string]any     `json:"variables,omitempty"`
	Communications []communicationOut `json:"communications"`
	Expire         int64              `json:"expire,omitempty"`
	Bucket         *idRefOut          `json:"bucket,omitempty"`
	State          string             `json:"state"`
	Attempts       int                `json:"attempts"`
	NextTryAt      int64              `json:"nextTryAt,omitempty"`
	LastCallAt     int64              `json:"lastCallAt,omitempty"`
	EndCause       string             `json:"endCause,omitempty"`
	WaitingResult  bool               `json:"waitingResult,omitempty"`
	ResultDeadline int64              `json:"resultDeadline,omitempty"`
	Terminating    bool               `json:"terminating,omitempty"`
	History        []historyOut       `json:"history,omitempty"`
	CreatedAt      int64              `json:"createdAt"`
	UpdatedAt      int64              `json:"updatedAt,omitempty"`
}

type idRefOut struct {
	ID string `json:"id"`
}

type communicationOut struct {
	Number      string `json:"number"`
	Priority    int    `json:"priority"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Attempts    int    `json:"attempts"`
	LastCallAt  int64  `json:"lastCallAt,omitempty"`
	LastCause   string `json:"lastCause,omitempty"`
	Stopped     bool   `json:"stopped,omitempty"`
}

type historyOut struct {
	Attempt string `json:"attempt"`
	At      int64  `json:"at"`
	Number  string `json:"number"`
	Cause   string `json:"cause,omitempty"`
	BillSec int    `json:"billSec"`
	Outcome string `json:"outcome,omitempty"`
}

func outMember(m *store.Member, state string) memberOut {
	o := memberOut{ID: m.ID, Name: m.Name, Priority: m.Priority, Timezone: m.Timezone, Variables: m.Variables,
		Expire: m.Expire, State: state, Attempts: m.Attempts, NextTryAt: m.NextTryAt, LastCallAt: m.LastCallAt,
		EndCause: m.EndCause, WaitingResult: m.WaitingResult != "", ResultDeadline: m.ResultDeadline,
		Terminating: m.Terminate, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		Communications: make([]communicationOut, len(m.Communications))}
	if m.Bucket != "" {
		o.Bucket = &idRefOut{ID: m.Bucket}
	}
	for i, c := range m.Communications {
		o.Communications[i] = communicationOut{Number: c.Number, Priority: c.Priority, Type: c.Type, Description: c.Description,
			Attempts: c.Attempts, LastCallAt: c.LastCallAt, LastCause: c.LastCause, Stopped: c.Stopped}
	}
	for _, h := range m.History {
		o.History = append(o.History, historyOut{Attempt: h.Attempt, At: h.At, Number: h.Number, Cause: h.Cause, BillSec: h.BillSec, Outcome: h.Outcome})
	}
	return o
}

// resultIn is a call result (seed 000/002/003): stop_communications may be
// an array or "all" and is also spelled stop.communications; comment is
// description's other name.
type resultIn struct {
	Success            *bool        `json:"success"`
	ResetRetries       bool         `json:"reset_retries"`
	NextAfterSec       *json.Number `json:"next_after_sec"`
	NextCommunication  string       `json:"next_communication"`
	StopCommunications stopList     `json:"stop_communications"`
	StopDotted         stopList     `json:"stop.communications"`
	Description        string       `json:"description"`
	Comment            string       `json:"comment"`
}

type stopList struct {
	all     bool
	numbers []string
}

func (s *stopList) UnmarshalJSON(b []byte) error {
	v, err := decodeAny(b)
	if err != nil {
		return err
	}
	var p problems
	*s = stopListFrom("", v, &p)
	return p.err()
}

func checkStopList(path string, v any, p *problems) bool {
	n := len(p.list)
	stopListFrom(path, v, p)
	return len(p.list) == n
}

func stopListFrom(path string, v any, p *problems) stopList {
	var s stopList
	switch x := v.(type) {
	case nil:
	case string:
		if strings.EqualFold(x, "all") {
			s.all = true
			break
		}
		p.add(path, "%q: a string must be \"all\"; otherwise give a list of numbers", clip(x, 40))
	case []any:
		for i, e := range x {
			switch n := e.(type) {
			case string:
				s.numbers = append(s.numbers, n)
			case json.Number:
				s.numbers = append(s.numbers, n.String())
			default:
				p.add(fmt.Sprintf("%s[%d]", path, i), "must be a number (a string), not %s", describe(e))
			}
		}
	default:
		p.add(path, "must be a list of numbers or \"all\", not %s", describe(v))
	}
	return s
}

// empty reports whether a result says nothing at all: no outcome and no
// change. Counting it as an unsuccessful attempt would put the member off
// for intervalTryCount on the strength of a body that did not say so.
func (in *resultIn) empty() bool {
	return in.Success == nil && !in.ResetRetries && in.NextAfterSec == nil && in.NextCommunication == "" &&
		!in.StopCommunications.all && len(in.StopCommunications.numbers) == 0 &&
		!in.StopDotted.all && len(in.StopDotted.numbers) == 0 && in.Description == "" && in.Comment == ""
}

func (in *resultIn) result() (store.CallResult, error) {
	r := store.CallResult{ResetRetries: in.ResetRetries, NextCommunication: in.NextCommunication, Description: in.Description}
	var v []store.FieldError
	if in.empty() {
		v = append(v, store.FieldError{Field: "success", Message: "is missing, and so is everything else: a call result gives success (true or false) " +
			"or at least one of reset_retries, next_after_sec, next_communication, stop_communications, description"})
	}
	if in.Success != nil {
		r.Success = *in.Success
	}
	if r.Description == "" {
		r.Description = in.Comment
	}
	stop := in.StopCommunications
	if !stop.all && len(stop.numbers) == 0 {
		stop = in.StopDotted
	}
	r.StopAll, r.StopCommunications = stop.all, stop.numbers
	if in.NextAfterSec != nil {
		n, err := in.NextAfterSec.Int64()
		if err != nil || n < 0 || n > 366*86400 {
			v = append(v, store.FieldError{Field: "next_after_sec", Message: fmt.Sprintf("must be whole seconds from 0 to 31622400 (a year), is %s", clip(in.NextAfterSec.String(), 40))})
		} else {
			sec := int(n)
			r.NextAfterSec = &sec
		}
	}
	if len(v) > 0 {
		return r, &store.ValidationError{Errors: v}
	}
	return r, nil
}
