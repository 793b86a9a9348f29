package recipients

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/located"
)

// Spreadsheets have at most this many rows and columns (Excel's limits,
// and LibreOffice's since 7.4): a file that says more is broken.
const (
	maxSheetRows    = 1 << 20
	maxSheetColumns = 1 << 14
)

// ErrNoSheet says that recipients.sheet names no sheet of the file.
var ErrNoSheet = errors.New("no such sheet")

// IsSpreadsheet reports whether path names a spreadsheet that Open reads
// as one (.xlsx, .ods, .fods, whatever the case), and not as CSV.
func IsSpreadsheet(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".ods", ".fods", ".xls":
		return true
	}
	return false
}

// sheetRows reads the rows of one sheet of a spreadsheet, in order.
type sheetRows interface {
	// next returns the next row with any cells: its number, the text of
	// its cells as the spreadsheet shows them, from column A to the last
	// with any text, and the merged ranges that start in it. A cell that
	// a merge covers holds the merged cell's text. After the last row,
	// next returns io.EOF. What it returns is good until the next call.
	next() (row int, cells []string, spans []span, err error)
	Close() error
}

// span is a range of merged cells: its first cell's column (from 1), and
// how many columns and rows it spans.
type span struct{ col, cols, rows int }

// openSheet opens a spreadsheet, chooses its sheet and reads the header.
func openSheet(path string, opts Options) (*Reader, error) {
	if opts.MaxField <= 0 {
		opts.MaxField = DefaultMaxField
	}
	name := filepath.Base(path)
	var (
		src   sheetRows
		sheet string
		err   error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx":
		src, sheet, err = openXLSX(path, opts.Sheet)
	case ".ods":
		src, sheet, err = openODS(path, opts.Sheet, opts.MaxField)
	case ".fods":
		src, sheet, err = openFODS(path, opts.Sheet, opts.MaxField)
	default:
		err = errors.New("an Excel 97-2003 workbook (.xls), which mailmerge does not read: save it as an Excel Workbook (.xlsx) or as CSV")
	}
	if err != nil {
		var le *located.Error
		if errors.As(err, &le) {
			le.File = name
			return nil, err
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &located.Error{File: name, Sheet: sheet, Err: err}
	}
	return newSheetReader(src, name, sheet, opts)
}

// newSheetReader reads the header of a sheet's rows, and returns a Reader
// of the rest; name and sheet are the file's and the sheet's.
func newSheetReader(src sheetRows, name, sheet string, opts Options) (*Reader, error) {
	r := &Reader{file: name, sheet: src, sheetName: sheet, opts: opts}
	if err := r.readSheetHeader(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// chooseSheet returns the sheet that want names, exactly or else but for
// the case, or the first sheet if want is "".
func chooseSheet(sheets []string, want string) (string, error) {
	if len(sheets) == 0 {
		return "", errors.New("the file has no sheets: is it a spreadsheet?")
	}
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s == want {
			return s, nil
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(strings.TrimSpace(s), strings.TrimSpace(want)) {
			return s, nil
		}
	}
	quoted := make([]string, len(sheets))
	for i, s := range sheets {
		quoted[i] = strconv.Quote(s)
	}
	return "", fmt.Errorf("%w %q (recipients.sheet): the sheets are %s", ErrNoSheet, want, strings.Join(quoted, ", "))
}

// readSheetHeader takes the first row with any text as the header. A
// merged cell's name goes to its first column; the others it covers are
// named after it, "Телефон", "Телефон_2", "Телефон_3", so that a merged
// title over columns of one kind names each.
func (r *Reader) readSheetHeader() error {
	for {
		row, cells, spans, err := r.sheet.next()
		if err == io.EOF {
			return r.Locate(0, reworded{ErrEmpty, "the sheet is empty: expected a header row naming the fields"})
		}
		if err != nil {
			return r.sheetError(err)
		}
		if blank(cells) {
			continue
		}
		r.headerLine = row
		at := func(i int, err error) *located.Error {
			return &located.Error{File: r.file, Sheet: r.sheetName, Line: row, Column: i + 1, Err: err}
		}
		names := append([]string(nil), cells...)
		var errs []error
		for _, sp := range spans {
			if sp.rows > 1 {
				below := "the row"
				if sp.rows > 2 {
					below = fmt.Sprintf("the %d rows", sp.rows-1)
				}
				errs = append(errs, at(sp.col-1, wrapf(ErrHeader, "the cell is merged with %s below it: the header is one row that names each column; unmerge the cell", below)))
			}
			if sp.col-1 >= len(names) {
				continue
			}
			base := strings.TrimFunc(names[sp.col-1], isBlank)
			for k := 1; k < sp.cols && base != ""; k++ {
				if c := sp.col - 1 + k; c < len(names) {
					names[c] = base + "_" + strconv.Itoa(k+1)
				}
			}
		}
		return errors.Join(append(errs, r.setHeader(names, at))...)
	}
}

// readSheet is Read for a spreadsheet.
func (r *Reader) readSheet() (*Record, error) {
	for !r.done {
		row, cells, _, err := r.sheet.next()
		if err == io.EOF {
			r.done = true
			if r.rows == 0 {
				return nil, r.Locate(0, reworded{ErrNoRecipients, "no recipients: the sheet has a header row but no data rows"})
			}
			break
		}
		if err != nil {
			r.done = true
			return nil, r.sheetError(err)
		}
		if blank(cells) {
			continue
		}
		r.rows++
		rec := &Record{Line: row, header: r.header, r: r, Fields: make([]string, len(r.columns)), pos: make([][2]int, len(r.columns))}
		for i, c := range r.columns {
			if c < len(cells) {
				rec.Fields[i] = cells[c]
			}
			rec.pos[i] = [2]int{row, c + 1}
		}
		next := 0 // the next field's column
		for c, v := range cells {
			field := -1
			if next < len(r.columns) && r.columns[next] == c {
				field = next
				next++
			} else if strings.TrimFunc(v, isBlank) != "" {
				return rec, &located.Error{File: r.file, Sheet: r.sheetName, Line: row, Column: c + 1, Err: r.unnamed(c)}
			}
			if len(v) > r.opts.MaxField {
				return rec, &located.Error{File: r.file, Sheet: r.sheetName, Line: row, Column: c + 1, Err: r.tooLarge(field, len(v))}
			}
		}
		return rec, nil
	}
	return nil, io.EOF
}

// reworded is a sentinel error said in other words.
type reworded struct {
	err error
	msg string
}

func (e reworded) Error() string { return e.msg }
func (e reworded) Unwrap() error { return e.err }

// sheetError locates a problem reading the sheet: where the source says,
// or else in the sheet.
func (r *Reader) sheetError(err error) error {
	var le *located.Error
	if errors.As(err, &le) {
		le.File, le.Sheet = r.file, r.sheetName
		return err
	}
	return r.Locate(0, err)
}
