package recipients

import (
	"bytes"
	"io"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/located"
)

// ringSize is how many recent lines are kept to turn encoding/csv's byte
// columns into character columns. encoding/csv reads at most a 4 KiB buffer
// ahead, so the lines of the current record are almost always still here.
const ringSize = 64

// lineTracker sits between the decoded text and encoding/csv. It enforces
// what encoding/csv does not (no NUL bytes, valid UTF-8, a cap on line
// length) and remembers recent lines so errors can give character columns.
type lineTracker struct {
	r         io.Reader
	file      string
	checkUTF8 bool
	maxLine   int

	line int    // number of the line being read, from 1
	cur  []byte // that line so far
	ring [ringSize]struct {
		n int
		b []byte
	}
	err error
}

func newLineTracker(r io.Reader, file string, checkUTF8 bool, maxLine int) *lineTracker {
	return &lineTracker{r: r, file: file, checkUTF8: checkUTF8, maxLine: maxLine, line: 1}
}

func (t *lineTracker) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	b := p[:n]
	// On a problem, hand over the complete lines before it first, so no good
	// row is lost, and report the problem on the next call.
	lineStart := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		if j := bytes.IndexByte(chunk, 0); j >= 0 {
			t.cur = append(t.cur, chunk[:j]...)
			t.err = t.errorf(utf8.RuneCount(t.cur)+1, ErrNUL, "is the file UTF-16 without a byte order mark?")
			return lineStart, nil
		}
		t.cur = append(t.cur, chunk...)
		if len(t.cur) > t.maxLine {
			t.err = t.errorf(0, ErrLineTooLong, "over %d bytes", t.maxLine)
			return lineStart, nil
		}
		if i < 0 {
			break
		}
		if t.endLine() != nil {
			return lineStart, nil
		}
		b = b[i+1:]
		lineStart = n - len(b)
	}
	if err == io.EOF && len(t.cur) > 0 && t.endLine() != nil {
		return lineStart, nil
	}
	return n, err
}

func (t *lineTracker) endLine() error {
	if t.checkUTF8 && !utf8.Valid(t.cur) {
		col := 1
		for b := t.cur; len(b) > 0; col++ {
			r, size := utf8.DecodeRune(b)
			if r == utf8.RuneError && size <= 1 {
				break
			}
			b = b[size:]
		}
		t.err = t.errorf(col, ErrInvalidUTF8, "the file is not UTF-8: set recipients.encoding (windows-1251, koi8-r, utf-16)")
		return t.err
	}
	slot := &t.ring[t.line%ringSize]
	slot.n = t.line
	slot.b = append(slot.b[:0], t.cur...)
	t.line++
	t.cur = t.cur[:0]
	return nil
}

func (t *lineTracker) errorf(col int, err error, format string, args ...any) error {
	return &located.Error{File: t.file, Line: t.line, Column: col, Err: wrapf(err, format, args...)}
}

// column turns a 1-based byte column on a line into a 1-based character
// column. It returns 0 when the line is no longer remembered.
func (t *lineTracker) column(line, byteCol int) int {
	var b []byte
	switch slot := &t.ring[line%ringSize]; {
	case line == t.line:
		b = t.cur
	case slot.n == line:
		b = slot.b
	default:
		return 0
	}
	if byteCol < 1 || byteCol-1 > len(b) {
		return 0
	}
	return utf8.RuneCount(b[:byteCol-1]) + 1
}

// endsLinesWithCR says whether the first line of head ends with CR alone.
func endsLinesWithCR(head []byte) bool {
	i := bytes.IndexAny(head, "\r\n")
	if i < 0 || head[i] != '\r' {
		return false
	}
	return i+1 == len(head) && len(head) < 4096 || i+1 < len(head) && head[i+1] != '\n'
}

// crReader turns CR and CRLF line ends into LF.
type crReader struct {
	r      io.Reader
	lastCR bool
}

func (c *crReader) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		out := 0
		for _, b := range p[:n] {
			if b == '\n' && c.lastCR {
				c.lastCR = false
				continue
			}
			c.lastCR = b == '\r'
			if b == '\r' {
				b = '\n'
			}
			p[out] = b
			out++
		}
		if out > 0 || err != nil || n == 0 {
			return out, err
		}
	}
}
