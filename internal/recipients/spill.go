package recipients

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// spill is a temporary file that holds rows while they are grouped, so
// that memory holds a group at a time rather than the whole list. Rows
// go in one after another as the list is read, never seeking the list
// (a spreadsheet's rows come as a stream); they come back by position.
//
// The file has no name anyone can open for longer than it takes to make
// it: on Unix it is removed as soon as it is created, and lives on only
// as the open file; on Windows it is opened to be deleted when closed,
// which Windows also does when the process ends. Either way nothing is
// left behind, however the process ends (Ctrl-C, a crash, a kill).
type spill struct {
	f    *os.File
	w    *bufio.Writer
	size int64 // bytes written

	// A window of the file read last, which the next reads are served
	// from when they fall in it: a group whose rows are next to each
	// other, or groups that follow each other, are one read.
	start int64
	buf   []byte
	enc   []byte // scratch for encoding a row
}

const (
	spillPrefix    = "mailmerge-groups-"
	spillReadAhead = 64 << 10
)

// errSpill says, in plain words, what the temporary file is for.
var errSpill = errors.New("recipients.group_by keeps the rows in a temporary file")

// errBadRow is a row the temporary file does not give back as written:
// something else wrote to the file, or the disk failed.
var errBadRow = fmt.Errorf("%w, which gave back a row that is not as it was written", errSpill)

func newSpill() (*spill, error) {
	f, err := createSpill(os.TempDir())
	if err != nil {
		return nil, fmt.Errorf("%w, which could not be made (set TMPDIR, or TMP on Windows, to a folder you can write to): %w", errSpill, err)
	}
	return &spill{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// add writes rec at the end of the file and returns where it ends there.
// Columns are written as characters, while the reader still remembers
// the row's lines.
func (s *spill) add(rec *Record) (int64, error) {
	s.enc = encodeRecord(s.enc[:0], rec)
	n, err := s.w.Write(s.enc)
	s.size += int64(n)
	if err != nil {
		return 0, fmt.Errorf("%w, which could not be written (is %s full?): %w", errSpill, os.TempDir(), err)
	}
	return s.size, nil
}

// done ends the writing: what was written can be read back.
func (s *spill) done() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("%w, which could not be written (is %s full?): %w", errSpill, os.TempDir(), err)
	}
	s.w = nil
	return nil
}

// read returns the bytes from..to of the file, valid until the next
// read. A read that goes on where the one before ended reads ahead.
func (s *spill) read(from, to int64) ([]byte, error) {
	if from >= s.start && to <= s.start+int64(len(s.buf)) {
		return s.buf[from-s.start : to-s.start], nil
	}
	n := to - from
	if from == s.start+int64(len(s.buf)) {
		n = min(max(n, spillReadAhead), s.size-from)
	}
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := s.f.ReadAt(s.buf, from); err != nil {
		s.buf = s.buf[:0]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w, which could not be read back: %w", errSpill, err)
	}
	s.start = from
	return s.buf[:to-from], nil
}

// close closes the file, which removes it where that is not done yet.
func (s *spill) close() error {
	s.buf = nil
	return s.f.Close()
}

// encodeRecord appends rec to b: its line, its fields, and where each
// field starts (line and column in characters, as rec.Column says now).
// Every field of Record that a reader of rows sets must be here: a
// record read back has nothing else.
func encodeRecord(b []byte, rec *Record) []byte {
	b = binary.AppendUvarint(b, uint64(rec.Line))
	b = binary.AppendUvarint(b, uint64(len(rec.Fields)))
	for _, f := range rec.Fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
	}
	for _, f := range rec.Fields {
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(rec.pos)))
	for i := range rec.pos {
		line, col := rec.Column(i)
		b = binary.AppendVarint(b, int64(line-rec.Line))
		b = binary.AppendUvarint(b, uint64(col))
	}
	return b
}

// decodeRecord reads a record encodeRecord wrote, of a file with the
// given header. Its columns are known already: it needs no lines.
func decodeRecord(b []byte, header []string) (*Record, error) {
	d := decoder{b: b}
	rec := &Record{Line: int(d.uvarint()), header: header}
	n := d.count()
	lens := make([]int, n)
	total := 0
	for i := range lens {
		lens[i] = d.count()
		total += lens[i]
	}
	text := string(d.bytes(total))
	if d.err != nil {
		return nil, errBadRow
	}
	rec.Fields = make([]string, n)
	for i, l := range lens {
		rec.Fields[i], text = text[:l], text[l:]
	}
	rec.pos = make([][2]int, d.count())
	for i := range rec.pos {
		rec.pos[i] = [2]int{rec.Line + int(d.varint()), int(d.uvarint())}
	}
	if d.err != nil || len(d.b) > 0 {
		return nil, errBadRow
	}
	return rec, nil
}

// decoder reads varints and bytes, remembering the first problem.
type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, which cannot be more than the bytes left.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int) []byte {
	if n > len(d.b) {
		d.fail()
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errTruncated
	}
	d.b = nil
}
