package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"

	"github.com/fsdialer/fsdialer/store"
)

// csvBatch is how many lines are inserted at a time: a file is read as it
// arrives, never whole.
const csvBatch = 5000

// column is what one CSV column becomes.
type column struct {
	kind string // name, priority, timezone, expire, bucket, number, description, var, skip
	arg  string // the number's type code, or the variable's name
}

// parseColumns reads a mapping like "name,number,number:2,var:debt,-".
func parseColumns(spec []string) ([]column, error) {
	cols := make([]column, len(spec))
	numbers := 0
	for i, s := range spec {
		kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
		kind = strings.ToLower(kind)
		switch kind {
		case "name", "priority", "timezone", "expire", "expire_at", "bucket":
			if kind == "expire_at" {
				kind = "expire"
			}
		case "number", "destination":
			kind = "number"
			numbers++
		case "description":
			if numbers == 0 {
				return nil, fmt.Errorf("column %d: a description column follows the number it describes", i+1)
			}
		case "var", "variable":
			kind = "var"
			if arg == "" {
				return nil, fmt.Errorf("column %d: var needs a name (var:debt)", i+1)
			}
		case "-", "", "skip":
			kind = "skip"
		default:
			return nil, fmt.Errorf("column %d: %q is not one of name, priority, timezone, expire, bucket, number[:type], description, var:NAME, -", i+1, s)
		}
		cols[i] = column{kind: kind, arg: arg}
	}
	if numbers == 0 {
		return nil, errors.New("no number column: map at least one column to number")
	}
	return cols, nil
}

// csvMember makes a member of one line; numbers get priorities by their
// column order, the first highest.
func csvMember(cols []column, rec []string) (*store.Member, error) {
	m := &store.Member{}
	var v []store.FieldError
	numbers := 0
	for _, c := range cols {
		if c.kind == "number" {
			numbers++
		}
	}
	for i, c := range cols {
		val := ""
		if i < len(rec) {
			val = strings.TrimSpace(rec[i])
		}
		switch c.kind {
		case "name":
			m.Name = val
		case "priority":
			if val == "" {
				continue
			}
			n, err := strconv.Atoi(val)
			if err != nil {
				v = append(v, store.FieldError{Field: "priority", Message: fmt.Sprintf("%q is not a whole number", val)})
			}
			m.Priority = n
		case "timezone":
			m.Timezone = val
		case "bucket":
			m.Bucket = val
		case "expire":
			ms, err := parseTime(val)
			if err != nil {
				v = append(v, store.FieldError{Field: "expire", Message: err.Error()})
			}
			m.Expire = ms
		case "number":
			if val != "" {
				m.Communications = append(m.Communications, store.Communication{Number: val, Type: c.arg, Priority: numbers - len(m.Communications)})
			}
		case "description":
			if n := len(m.Communications); n > 0 && val != "" {
				m.Communications[n-1].Description = val
			}
		case "var":
			if val != "" {
				if m.Variables == nil {
					m.Variables = map[string]any{}
				}
				m.Variables[c.arg] = val
			}
		}
	}
	if len(v) > 0 {
		return nil, &store.ValidationError{Errors: v}
	}
	return m, nil
}

// uploadCSV adds members from a CSV file (seed 002): the body is the file,
// or a multipart form with it in "file". Query: columns (the mapping; else
// the first line is a header naming them), separator (default ","),
// charset (default utf-8), skipHeader, autoRun.
func (a *api) uploadCSV(c echo.Context) error {
	id := c.Param("id")
	if _, err := a.st.GetCampaign(c.Request().Context(), id); err != nil {
		return err
	}
	autoRun, err := boolParam(c, "autoRun")
	if err != nil {
		return err
	}
	f, err := openCSV(c)
	if err != nil {
		return err
	}
	defer f.Close()
	in, sep, skipHeader, mustBeUTF8 := f.text, f.sep, f.skipHeader, f.mustBeUTF8
	ctx := c.Request().Context()
	var (
		up      upload
		batch   []*store.Member
		lines   []int
		index   []int
		flushed bool
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		flushed = true
		err := a.insert(ctx, id, &up, batch, index, lines, autoRun)
		batch, lines, index = batch[:0], lines[:0], index[:0]
		return err
	}
	err = scanCSV(in, sep, c.QueryParam("columns"), skipHeader, mustBeUTF8, func(item, line, _ int, m *store.Member, err error) error {
		var ce *csvError
		if errors.As(err, &ce) {
			// A file in another charset is refused whole while nothing of
			// it is stored, rather than loaded as the lines that happen to
			// be ASCII; past the first batch, line by line.
			if ce.encoding && !flushed {
				return encodingError(ce)
			}
			err = &store.ValidationError{Errors: []store.FieldError{{Field: fmt.Sprintf("line %d", ce.line), Message: ce.msg}}}
		}
		if err != nil {
			ie := toItemError(item, err)
			ie.Line = line
			up.refused = append(up.refused, ie)
			return nil
		}
		batch, lines, index = append(batch, m), append(lines, line), append(index, item)
		if len(batch) >= csvBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	return ok(c, up.result())
}

// csvFile is an uploaded CSV file as its parameters say to read it.
type csvFile struct {
	io.Closer
	text       io.Reader
	sep        rune
	skipHeader bool
	mustBeUTF8 bool
}

// openCSV reads the separator, skipHeader and charset parameters and
// opens the file (the body, or a multipart form's file).
func openCSV(c echo.Context) (*csvFile, error) {
	skipHeader, err := boolParam(c, "skipHeader")
	if err != nil {
		return nil, err
	}
	sep := ','
	named := map[string]rune{"comma": ',', "semicolon": ';', "tab": '\t', `\t`: '\t', "pipe": '|'}
	switch s := c.QueryParam("separator"); {
	case s == "":
	case named[s] != 0:
		sep = named[s]
	case utf8.RuneCountInString(s) == 1 && s != "\"" && s != "\n" && s != "\r":
		sep, _ = utf8.DecodeRuneInString(s)
	default:
		return nil, invalidParam("separator", fmt.Sprintf("%q: one character (URL-encoded: %%3B for ;) or comma, semicolon, tab, pipe", s))
	}
	src, err := csvSource(c)
	if err != nil {
		return nil, err
	}
	in, mustBeUTF8, err := csvText(src, c.QueryParam("charset"))
	if err != nil {
		src.Close()
		return nil, err
	}
	return &csvFile{Closer: src, text: in, sep: sep, skipHeader: skipHeader, mustBeUTF8: mustBeUTF8}, nil
}

// csvText is the file's text as UTF-8: decoded from charset, or from UTF-16
// when it starts with a UTF-16 byte order mark (a spreadsheet's "Unicode
// text"). mustBeUTF8 says the bytes are taken as they are.
func csvText(src io.Reader, charset string) (text io.Reader, mustBeUTF8 bool, err error) {
	if charset != "" && !strings.EqualFold(charset, "utf-8") && !strings.EqualFold(charset, "utf8") {
		enc, err := htmlindex.Get(charset)
		if err != nil {
			return nil, false, invalidParam("charset", fmt.Sprintf("%q is not a known character set (utf-8, windows-1251, koi8-r, iso-8859-5...)", clip(charset, 40)))
		}
		return enc.NewDecoder().Reader(src), false, nil
	}
	b := bufio.NewReader(src)
	bom, _ := b.Peek(2)
	switch {
	case charset != "":
	case bytes.Equal(bom, []byte{0xff, 0xfe}):
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Reader(b), false, nil
	case bytes.Equal(bom, []byte{0xfe, 0xff}):
		return unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Reader(b), false, nil
	}
	return b, true, nil
}

// scanCSV reads members from CSV as it arrives: columns is the mapping, or
// "" for a header line naming the columns; mustBeUTF8 when the text was
// not converted from a charset. emit gets each record's member, or why it
// was refused, with its first and last line (a record that could not be
// read has one line: the others are read again); item counts the data
// records from 0. Lines that are blank, or whose every field is, are
// skipped. An
// error from emit, an unreadable stream or a bad mapping stop the scan.
func scanCSV(in io.Reader, sep rune, columns string, skipHeader, mustBeUTF8 bool, emit func(item, line, last int, m *store.Member, err error) error) error {
	r := newCSVReader(in, sep, mustBeUTF8)
	var cols []column
	var err error
	if columns != "" {
		if cols, err = parseColumns(strings.Split(columns, ",")); err != nil {
			return invalidParam("columns", err.Error())
		}
	} else {
		header, err := r.read()
		switch {
		case err != nil:
			return apiError(http.StatusBadRequest, "reading the header line: "+err.Error())
		case header == nil:
			return apiError(http.StatusBadRequest, "the file is empty: a header line naming the columns is expected (or give them in the columns parameter)")
		case header.err != nil && header.err.encoding:
			return encodingError(header.err)
		case header.err != nil:
			return apiError(http.StatusBadRequest, "reading the header line: "+header.err.Error())
		}
		if cols, err = parseColumns(header.fields); err != nil {
			return apiError(http.StatusUnprocessableEntity, "header line: "+err.Error()+" (or give the mapping in the columns parameter)")
		}
		skipHeader = false // read already
	}
	item := 0
	for first := true; ; first = false {
		rec, err := r.read()
		if err != nil {
			return apiError(http.StatusBadRequest, "reading the file: "+err.Error())
		}
		if rec == nil {
			return nil
		}
		if first && skipHeader {
			continue
		}
		var m *store.Member
		last := rec.last
		if rec.err != nil {
			err, last = rec.err, rec.first // its other lines are read again
		} else if blankRecord(rec.fields) {
			continue
		} else {
			m, err = csvMember(cols, rec.fields)
		}
		if err := emit(item, rec.first, last, m, err); err != nil {
			return err
		}
		item++
	}
}

// blankRecord reports whether every field is blank: a spreadsheet's empty
// row.
func blankRecord(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// encodingError refuses a whole file that is not in the character set it
// was said (or taken) to be in.
func encodingError(e *csvError) error {
	return &httpError{code: http.StatusUnprocessableEntity, msg: "the file is not UTF-8: " + e.Error(),
		fields: []store.FieldError{{Field: "charset", Message: e.Error()}}}
}

// csvSource is the file: the body, or the "file" part of a multipart form.
func csvSource(c echo.Context) (io.ReadCloser, error) {
	req := c.Request()
	if !strings.HasPrefix(req.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
		return req.Body, nil
	}
	mr, err := req.MultipartReader()
	if err != nil {
		return nil, apiError(http.StatusBadRequest, "multipart form: "+err.Error())
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, invalidParam("file", "the form has no part named file")
		}
		if err != nil {
			return nil, apiError(http.StatusBadRequest, "multipart form: "+err.Error())
		}
		if part.FormName() == "file" {
			return part, nil
		}
		part.Close()
	}
}

func invalidParam(name, msg string) error {
	return &httpError{code: http.StatusUnprocessableEntity, msg: "invalid " + name, fields: []store.FieldError{{Field: name, Message: msg}}}
}
