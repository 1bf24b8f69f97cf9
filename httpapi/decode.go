package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

// decodeJSON reads a JSON body into v. Malformed JSON is a 400 naming the
// line and column; a value of the wrong type a 422 naming the field.
func decodeJSON(body []byte, v any) error {
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
	var te *json.UnmarshalTypeError
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
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return &httpError{code: http.StatusUnprocessableEntity, msg: "invalid field " + field,
			fields: []store.FieldError{{Field: field, Message: fmt.Sprintf("expected %s, got %s", te.Type, te.Value)}}}
	case errors.As(err, new(*fieldError)):
		var fe *fieldError
		errors.As(err, &fe)
		return &httpError{code: http.StatusUnprocessableEntity, msg: "invalid field " + fe.field, fields: []store.FieldError{{Field: fe.field, Message: fe.msg}}}
	}
	return apiError(http.StatusBadRequest, "malformed JSON: "+err.Error())
}

// position returns the line and column (both from 1) of the byte at offset.
func position(b []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(b))))
	before := b[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// fieldError is a value a custom decoder refused.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// memberIn is a member as integrators send it: seed 002/003 (number, type
// as a string, expire in ms) or seed 004 (destination, type.id, expire_at,
// bucket.id).
type memberIn struct {
	Name           string            `json:"name"`
	Priority       int               `json:"priority"`
	Timezone       string            `json:"timezone"`
	Variables      map[string]any    `json:"variables"`
	Communications []communicationIn `json:"communications"`
	Expire         *json.Number      `json:"expire"`
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
	var s string
	if json.Unmarshal(b, &s) == nil {
		r.ID = s
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		r.ID = n.String()
		return nil
	}
	var obj struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return &fieldError{"type", "must be a string or {\"id\": ...}"}
	}
	if len(obj.ID) == 0 || string(obj.ID) == "null" {
		return nil
	}
	return r.UnmarshalJSON(obj.ID)
}

// flexTime is seed 004's expire_at: epoch milliseconds (as a number or a
// string), an RFC 3339 time, or a date (the end of that day, UTC).
type flexTime struct{ ms int64 }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if json.Unmarshal(b, &n) != nil {
			return &fieldError{"expire_at", "must be a time"}
		}
		s = n.String()
	}
	ms, err := parseTime(s)
	if err != nil {
		return &fieldError{"expire_at", err.Error()}
	}
	t.ms = ms
	return nil
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
	return 0, fmt.Errorf("%q is not epoch milliseconds, an RFC 3339 time or a YYYY-MM-DD date", s)
}

// member converts to the store's member; the field names in errors are the
// API's.
func (in *memberIn) member() (*store.Member, error) {
	m := &store.Member{Name: in.Name, Priority: in.Priority, Timezone: in.Timezone, Variables: in.Variables}
	switch {
	case in.Expire != nil:
		ms, err := in.Expire.Int64()
		if err != nil {
			return nil, &store.ValidationError{Errors: []store.FieldError{{Field: "expire", Message: "must be epoch milliseconds"}}}
		}
		m.Expire = ms
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
	return m, nil
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
	var one string
	if json.Unmarshal(b, &one) == nil {
		if !strings.EqualFold(one, "all") {
			return &fieldError{"stop_communications", fmt.Sprintf("%q: a string must be \"all\"; otherwise give an array of numbers", one)}
		}
		s.all = true
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return &fieldError{"stop_communications", "must be an array of numbers or \"all\""}
	}
	for i, raw := range list {
		var n string
		if json.Unmarshal(raw, &n) != nil {
			var num json.Number
			if json.Unmarshal(raw, &num) != nil {
				return &fieldError{fmt.Sprintf("stop_communications[%d]", i), "must be a number (as a string)"}
			}
			n = num.String()
		}
		s.numbers = append(s.numbers, n)
	}
	return nil
}

func (in *resultIn) result() (store.CallResult, error) {
	r := store.CallResult{ResetRetries: in.ResetRetries, NextCommunication: in.NextCommunication, Description: in.Description}
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
			return r, &store.ValidationError{Errors: []store.FieldError{{Field: "next_after_sec", Message: "must be whole seconds, 0 to a year"}}}
		}
		sec := int(n)
		r.NextAfterSec = &sec
	}
	return r, nil
}
