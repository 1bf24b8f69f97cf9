package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// CSV limits. A field holds a name, a number, a variable's value: 4 KiB is
// far more than any of them may be (the store's own limits are lower), and
// bounds how far a quote that is never closed can reach. A line, with the
// lines a quoted field spans, is at most 64 KiB: a member never needs more,
// and no line is held in memory beyond it.
const (
	maxCSVField = 4 << 10
	maxCSVLine  = 64 << 10
)

// csvReader reads CSV as RFC 4180 describes it (a field in quotes may hold
// the separator, doubled quotes and line breaks), with one difference: a
// record that cannot be read is refused at its first line and reading
// resumes at the next physical line, not after whatever the broken quote
// swallowed. So a quote that is never closed costs one line, and every
// other line is read as it would be without it. A quoted field may span
// lines only up to maxCSVField bytes, which bounds how much is read twice.
type csvReader struct {
	src  *bufio.Reader
	sep  []byte
	utf8 bool // the text is taken as it is, so it must be UTF-8
	line int  // the physical lines read from src
	// again holds lines already read that belong to no record: those after
	// the first line of a record that failed.
	again []csvLine
}

// csvLine is one physical line, without its line break.
type csvLine struct {
	n       int
	text    []byte
	tooLong bool // cut at maxCSVLine; the rest was skipped
	badByte int  // 1 + the offset of the first byte that is not UTF-8; 0: valid
}

// csvRecord is one record: its fields, or why it was refused.
type csvRecord struct {
	first, last int // its physical lines
	fields      []string
	err         *csvError
}

// csvError is a record that cannot be read, at one of its lines.
type csvError struct {
	line     int
	msg      string
	encoding bool // not UTF-8: the charset parameter is wrong or missing
}

func (e *csvError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func newCSVReader(in io.Reader, sep rune, mustBeUTF8 bool) *csvReader {
	return &csvReader{src: bufio.NewReaderSize(in, 64<<10), sep: []byte(string(sep)), utf8: mustBeUTF8}
}

// readLine returns the next physical line; io.EOF after the last.
func (r *csvReader) readLine() (csvLine, error) {
	if len(r.again) > 0 {
		l := r.again[0]
		r.again = r.again[1:]
		return l, nil
	}
	const keep = maxCSVLine + 2 // and its line break
	var l csvLine
	cut := false
	for {
		chunk, err := r.src.ReadSlice('\n')
		if len(l.text)+len(chunk) > keep {
			cut, chunk = true, chunk[:keep-len(l.text)]
		}
		l.text = append(l.text, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return l, err
		}
		if len(l.text) == 0 && err != nil {
			return l, io.EOF
		}
		break
	}
	r.line++
	l.n = r.line
	if !cut {
		l.text = bytes.TrimSuffix(bytes.TrimSuffix(l.text, []byte{'\n'}), []byte{'\r'})
	}
	if len(l.text) > maxCSVLine {
		l.tooLong, l.text = true, l.text[:maxCSVLine]
	}
	if l.n == 1 {
		// What spreadsheets put before a UTF-8 export.
		l.text = bytes.TrimPrefix(l.text, []byte("\ufeff"))
	}
	if r.utf8 && !l.tooLong && !utf8.Valid(l.text) {
		for i := 0; i < len(l.text); {
			c, size := utf8.DecodeRune(l.text[i:])
			if c == utf8.RuneError && size <= 1 {
				l.badByte = i + 1
				break
			}
			i += size
		}
	}
	return l, nil
}

// read returns the next record, nil at the end; blank lines are skipped.
// An error is the stream's: the record's own problems are in its err.
func (r *csvReader) read() (*csvRecord, error) {
	var l csvLine
	for {
		var err error
		l, err = r.readLine()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(l.text)) > 0 || l.tooLong || l.badByte > 0 {
			break
		}
	}
	rec := &csvRecord{first: l.n, last: l.n}
	var more []csvLine // the lines a quoted field spans, after the first
	fail := func(line int, format string, args ...any) (*csvRecord, error) {
		rec.fields, rec.err = nil, &csvError{line: line, msg: fmt.Sprintf(format, args...)}
		r.again = append(more, r.again...)
		return rec, nil
	}
	if e := lineProblem(l); e != nil {
		rec.err = e
		return rec, nil
	}
	text, pos, col := l.text, 0, 1
	var field []byte
	for {
		if pos < len(text) && text[pos] == '"' {
			start := l.n
			pos++
			for {
				i := bytes.IndexByte(text[pos:], '"')
				if i < 0 {
					field = append(field, text[pos:]...)
					switch {
					case len(field) > maxCSVField && l.tooLong:
						return fail(l.n, "column %d: over the %d bytes a field may hold", col, maxCSVField)
					case len(field) > maxCSVField:
						return fail(start, "column %d: the quoted field runs over %d bytes: is its closing quote missing?", col, maxCSVField)
					case l.tooLong:
						return fail(l.n, "longer than %d bytes", maxCSVLine)
					}
					next, err := r.readLine()
					if errors.Is(err, io.EOF) {
						return fail(start, "column %d: the quote that opens the field is never closed", col)
					}
					if err != nil {
						return nil, err
					}
					more = append(more, next)
					rec.last = next.n
					if e := lineProblem(next); e != nil {
						rec.fields, rec.err = nil, e
						r.again = append(more, r.again...)
						return rec, nil
					}
					l, text, pos = next, next.text, 0
					field = append(field, '\n')
					continue
				}
				field = append(field, text[pos:pos+i]...)
				pos += i + 1
				if pos < len(text) && text[pos] == '"' {
					field = append(field, '"')
					pos++
					continue
				}
				break
			}
			if len(field) > maxCSVField {
				return fail(start, "column %d: %d bytes, over the %d a field may hold", col, len(field), maxCSVField)
			}
			switch {
			case pos == len(text):
				if l.tooLong {
					return fail(l.n, "longer than %d bytes", maxCSVLine)
				}
				rec.fields = append(rec.fields, string(field))
				return rec, nil
			case bytes.HasPrefix(text[pos:], r.sep):
				rec.fields = append(rec.fields, string(field))
				field, pos, col = field[:0], pos+len(r.sep), col+1
				continue
			}
			if start != l.n { // most likely this quote was never meant to be closed
				return fail(start, "column %d: the quote that opens the field is closed only at line %d, and text follows it: is a closing quote missing?", col, l.n)
			}
			return fail(l.n, "column %d: text after the closing quote (a quote inside a quoted field is doubled: \"\")", col)
		}
		end := len(text)
		if i := bytes.Index(text[pos:], r.sep); i >= 0 {
			end = pos + i
		}
		f := text[pos:end]
		if len(f) > maxCSVField {
			return fail(l.n, "column %d: over the %d bytes a field may hold", col, maxCSVField)
		}
		if bytes.IndexByte(f, '"') >= 0 {
			return fail(l.n, "column %d: a quote inside a field that does not start with one (quote the whole field and double the quote: \"O\"\"Brien\")", col)
		}
		if end == len(text) {
			if l.tooLong {
				return fail(l.n, "longer than %d bytes", maxCSVLine)
			}
			rec.fields = append(rec.fields, string(f))
			return rec, nil
		}
		rec.fields = append(rec.fields, string(f))
		pos, col = end+len(r.sep), col+1
	}
}

// lineProblem is what makes a line unreadable before its fields are
// looked at: bytes that are not UTF-8.
func lineProblem(l csvLine) *csvError {
	if l.badByte == 0 {
		return nil
	}
	return &csvError{line: l.n, encoding: true, msg: fmt.Sprintf("byte %d (0x%02x) is not UTF-8: give the file's character set in the charset parameter (charset=windows-1251 for a Cyrillic Excel file)",
		l.badByte, l.text[l.badByte-1])}
}
