package recipients

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/mailmerge/mailmerge/internal/located"
)

// Limits that protect the reader from files that are not recipient lists.
const (
	DefaultMaxField = 64 << 10
	maxLine         = 1 << 20
	sniffSize       = 64 << 10
)

// Options configure a Reader. The zero value detects everything.
type Options struct {
	Encoding  Encoding // Auto if empty
	Delimiter rune     // 0: detect from the header line
	MaxField  int      // bytes; DefaultMaxField if 0
	// Sheet names the sheet of a spreadsheet (.xlsx, .ods) to read; the
	// first if empty. A CSV file has none.
	Sheet string
	// Warn, if set, receives problems that do not stop reading, such as
	// header names with surrounding spaces. Each is an *located.Error.
	Warn func(error)
}

// Reader reads recipient records from a CSV file or a spreadsheet.
type Reader struct {
	file   string
	closer io.Closer
	header []string
	// columns holds, for each field of the header, the column it is in
	// (from 0): the header's columns with no name are not fields.
	columns []int
	width   int // the header's columns, with a name or without
	opts    Options
	rows    int
	done    bool

	// A spreadsheet's
	sheet      sheetRows // nil for a CSV file
	sheetName  string
	headerLine int

	// A CSV file's
	csv     *csv.Reader
	lines   *lineTracker
	enc     Encoding
	guessed bool
	weak    bool // guessed on little evidence (guessCyrillic)
	delim   rune
	// lineOffset is added to encoding/csv's line numbers: it does not see
	// a "sep=" line.
	lineOffset int
}

var sepLine = regexp.MustCompile(`^sep=([,;\t|])\r?$`)

// Record is one data row. Fields are in header order.
type Record struct {
	Line   int // line on which the row starts; a spreadsheet's row number
	Fields []string
	header []string
	// pos holds, per field, its line and byte column from encoding/csv,
	// turned into characters by lines; where lines is nil (a
	// spreadsheet's row and column, a row read back by Groups), its
	// line and character column.
	pos   [][2]int
	lines *lineTracker
	r     *Reader // the reader it came from: the file (and sheet) it is in
}

// Open opens the file at path and reads its header row: a CSV file, or
// by its extension an Excel workbook (.xlsx) or an OpenDocument
// spreadsheet (.ods, .fods), whose Options.Sheet it reads.
func Open(path string, opts Options) (*Reader, error) {
	if IsSpreadsheet(path) {
		return openSheet(path, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, filepath.Base(path), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads the header row from src. name is used in errors.
func NewReader(src io.Reader, name string, opts Options) (*Reader, error) {
	if opts.Encoding == "" {
		opts.Encoding = Auto
	}
	if opts.MaxField <= 0 {
		opts.MaxField = DefaultMaxField
	}
	raw := bufio.NewReaderSize(src, sniffSize)
	head, err := raw.Peek(sniffSize)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	r := &Reader{file: name, opts: opts}
	var skip int
	r.enc, skip, r.guessed, r.weak = sniff(head, opts.Encoding)
	raw.Discard(skip)

	var text io.Reader = raw
	if d := r.enc.decoder(); d != nil {
		text = d.NewDecoder().Reader(raw)
	}
	// Excel for Mac's "CSV (Macintosh)" ends lines with CR alone, which
	// encoding/csv does not take for a line end.
	peek := bufio.NewReader(text)
	if head, _ := peek.Peek(4096); endsLinesWithCR(head) {
		text = &crReader{r: peek}
	} else {
		text = peek
	}
	// Every encoding's decoder emits UTF-8; a UTF-8 file must be checked.
	r.lines = newLineTracker(text, name, r.enc == UTF8, maxLine)
	buf := bufio.NewReader(r.lines)

	first, _ := buf.Peek(4096)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	r.delim = opts.Delimiter
	// Excel writes "sep=;" as a first line to say which delimiter follows.
	if m := sepLine.FindSubmatch(first); m != nil {
		if r.delim == 0 {
			r.delim = rune(m[1][0])
		}
		buf.ReadBytes('\n')
		r.lineOffset = 1
		first, _ = buf.Peek(4096)
	}
	if r.delim == 0 {
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		r.delim = sniffDelimiter(first)
	}

	r.csv = csv.NewReader(buf)
	r.csv.Comma = r.delim
	r.csv.FieldsPerRecord = -1 // checked here, so a ragged row is skippable
	r.csv.ReuseRecord = true

	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) readHeader() error {
	fields, err := r.csv.Read()
	if err == io.EOF {
		return &located.Error{File: r.file, Err: ErrEmpty}
	}
	if err != nil {
		return r.locate(err)
	}
	line, _ := r.csv.FieldPos(0)
	r.headerLine = line + r.lineOffset
	return r.setHeader(fields, func(i int, err error) *located.Error {
		line, col := r.csv.FieldPos(i)
		line += r.lineOffset
		return &located.Error{File: r.file, Line: line, Column: r.lines.column(line, col), Err: err}
	})
}

// setHeader takes the names of the header row's columns as the fields'
// names, trimmed. A column with no name is no field: it is there only if
// it is empty in every row (as the columns Excel leaves after the last,
// in a CSV file it saves), which Read checks. at locates a problem with
// column i.
func (r *Reader) setHeader(names []string, at func(i int, err error) *located.Error) error {
	var errs []error
	seen := map[string]int{}
	r.width = len(names)
	r.header, r.columns = nil, nil
	for i, name := range names {
		trimmed := strings.TrimFunc(name, isBlank)
		switch {
		case trimmed == "":
			continue
		case seen[trimmed] > 0 && r.sheet != nil:
			errs = append(errs, at(i, wrapf(ErrHeader, "field name %q repeats column %s", trimmed, located.ColumnName(seen[trimmed]))))
		case seen[trimmed] > 0:
			errs = append(errs, at(i, wrapf(ErrHeader, "field name %q repeats field %d", trimmed, seen[trimmed])))
		case trimmed != name && r.opts.Warn != nil:
			r.opts.Warn(at(i, fmt.Errorf("field name %q has surrounding spaces; using %q", name, trimmed)))
		}
		seen[trimmed] = i + 1
		r.header = append(r.header, trimmed)
		r.columns = append(r.columns, i)
	}
	if len(r.header) == 0 && len(errs) == 0 {
		errs = append(errs, at(0, wrapf(ErrHeader, "the header row names no field")))
	}
	return errors.Join(errs...)
}

// unnamed is the problem of a value in column i, which has no name.
func (r *Reader) unnamed(i int) error {
	if r.sheet != nil {
		return wrapf(ErrHeader, "column %s has no name in the header row (row %d), but this row has a value there: name the column, or delete the value", located.ColumnName(i+1), r.headerLine)
	}
	return wrapf(ErrHeader, "field %d has no name in the header row (line %d), but this row has a value there: name the field, or delete the value", i+1, r.headerLine)
}

// isBlank reports spaces and the invisible characters spreadsheets leave
// around names (zero-width space, BOM).
func isBlank(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200B' || r == '\uFEFF' || r == '\u2060'
}

// Header returns the field names, in file order.
func (r *Reader) Header() []string { return r.header }

// Encoding returns the encoding being read, and whether it was guessed
// (auto-detected without a byte order mark).
func (r *Reader) Encoding() (enc Encoding, guessed bool) { return r.enc, r.guessed }

// WeakGuess reports a guessed encoding that the text hardly told from the
// other Cyrillic one: the user should look at the names.
func (r *Reader) WeakGuess() bool { return r.weak }

// Delimiter returns the field delimiter in use.
func (r *Reader) Delimiter() rune { return r.delim }

// Rows returns the number of data rows read so far, good or bad.
func (r *Reader) Rows() int { return r.rows }

// Sheet returns the name of the spreadsheet's sheet being read; "" for a
// CSV file.
func (r *Reader) Sheet() string { return r.sheetName }

// Locate places err on a line of the file (a spreadsheet's row), or on
// the whole file if line is 0.
func (r *Reader) Locate(line int, err error) *located.Error {
	return &located.Error{File: r.file, Sheet: r.sheetName, Line: line, Err: err}
}

// Read returns the next record. A row that cannot be used (a wrong number of
// fields, a field over the size limit) is returned as an *located.Error together
// with the record as read, and the next Read goes on with the following
// row. An error that makes the rest of the
// file unreadable (a stray quote, invalid encoding) is also returned as an
// *located.Error, after which Read returns io.EOF. Callers therefore report every
// error and stop at io.EOF. A file with a header and no rows yields
// ErrNoRecipients once before io.EOF.
func (r *Reader) Read() (*Record, error) {
	if r.sheet != nil {
		return r.readSheet()
	}
	for !r.done {
		fields, err := r.csv.Read()
		if err == io.EOF {
			r.done = true
			if r.rows == 0 {
				return nil, &located.Error{File: r.file, Err: ErrNoRecipients}
			}
			break
		}
		if err != nil {
			r.done = true
			return nil, r.locate(err)
		}
		if blank(fields) {
			continue
		}
		r.rows++
		line, _ := r.csv.FieldPos(0)
		line += r.lineOffset
		rec := &Record{Line: line, header: r.header, r: r, lines: r.lines, Fields: r.fields(fields)}
		if len(fields) != r.width {
			return rec, &located.Error{File: r.file, Line: line, Err: wrapf(ErrFieldCount, "row has %d fields, the header has %d", len(fields), r.width)}
		}
		rec.pos = make([][2]int, len(r.columns))
		next := 0 // the next field's column
		for i := range fields {
			l, c := r.csv.FieldPos(i)
			l += r.lineOffset
			field := -1
			if next < len(r.columns) && r.columns[next] == i {
				field = next
				rec.pos[field] = [2]int{l, c}
				next++
			} else if !blank(fields[i : i+1]) {
				return rec, &located.Error{File: r.file, Line: l, Column: r.lines.column(l, c), Err: r.unnamed(i)}
			}
			if len(fields[i]) > r.opts.MaxField {
				return rec, &located.Error{File: r.file, Line: l, Column: r.lines.column(l, c), Err: r.tooLarge(field, len(fields[i]))}
			}
		}
		return rec, nil
	}
	return nil, io.EOF
}

// fields returns a copy of a row's values in the header's named
// columns, and of any past the header's last column.
func (r *Reader) fields(row []string) []string {
	out := make([]string, 0, len(r.columns)+max(len(row)-r.width, 0))
	for _, c := range r.columns {
		if c < len(row) {
			out = append(out, row[c])
		}
	}
	if len(row) > r.width {
		out = append(out, row[r.width:]...)
	}
	return out
}

// tooLarge is the problem of a value of n bytes in field i.
func (r *Reader) tooLarge(i, n int) error {
	name := "with no name"
	if i >= 0 && i < len(r.header) {
		name = strconv.Quote(r.header[i])
	}
	return wrapf(ErrFieldTooLarge, "field %s is %d bytes, the limit is %d", name, n, r.opts.MaxField)
}

// Close closes the file opened by Open.
func (r *Reader) Close() error {
	var err error
	if r.sheet != nil {
		err = r.sheet.Close()
	}
	if r.closer != nil {
		err = errors.Join(err, r.closer.Close())
	}
	return err
}

func (r *Reader) locate(err error) error {
	var le *located.Error
	if errors.As(err, &le) {
		return err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line := pe.Line + r.lineOffset
		return &located.Error{File: r.file, Line: line, Column: r.lines.column(line, pe.Column), Err: quoteError(pe.Err)}
	}
	return &located.Error{File: r.file, Err: err}
}

// quoteError says encoding/csv's quote errors in plain words; they end
// the reading, so the rows after are not checked.
func quoteError(err error) error {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return fmt.Errorf(`a quote (") inside a field that does not start with one: remove it, or put the whole field in quotes and double the quote ("Ivan ""the Great"""); the rows after it were not read (%w)`, err)
	case errors.Is(err, csv.ErrQuote):
		return fmt.Errorf(`a quote (") that does not close its field, or a field in quotes that is never closed: a quote inside a quoted field is written twice (""); the rows after it were not read (%w)`, err)
	}
	return err
}

func blank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimFunc(f, isBlank) != "" {
			return false
		}
	}
	return true
}

// Map returns the record as field name to value.
func (rec *Record) Map() map[string]string {
	m := make(map[string]string, len(rec.header))
	for i, h := range rec.header {
		if i < len(rec.Fields) {
			m[h] = rec.Fields[i]
		}
	}
	for i := len(rec.header); i < len(rec.Fields); i++ {
		m["#"+strconv.Itoa(i+1)] = rec.Fields[i] // a row with more fields than the header
	}
	return m
}

// Header returns the field names of the file the record came from.
func (rec *Record) Header() []string { return rec.header }

// Column returns where field i starts: its line and its column in
// characters. The column is 0 if it is no longer known; it is reliable until
// the next Read. In a spreadsheet, they are the cell's row and column
// numbers, always known; a record of Groups knows its columns for good.
func (rec *Record) Column(i int) (line, col int) {
	if i < 0 || i >= len(rec.pos) || rec.pos[i][0] == 0 {
		return rec.Line, 0
	}
	p := rec.pos[i]
	if rec.lines == nil {
		return p[0], p[1]
	}
	return p[0], rec.lines.column(p[0], p[1])
}

// Locate places err at field i of the record (Column), or on its row if
// i is out of range.
func (rec *Record) Locate(i int, err error) *located.Error {
	line, col := rec.Column(i)
	e := &located.Error{Line: line, Column: col, Err: err}
	if rec.r != nil {
		e.File, e.Sheet = rec.r.file, rec.r.sheetName
	}
	return e
}

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", err, fmt.Sprintf(format, args...))
}
