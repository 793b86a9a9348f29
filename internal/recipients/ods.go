package recipients

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/located"
)

// An OpenDocument spreadsheet is read here, as a stream of its XML: the Go
// readers of ODS files there are (knieriem/odf and its forks) decode the
// whole document into memory, expand repeated rows and columns, give the
// cell's value rather than its text, and have had no release in years.
//
// The sheets are table:table elements; a row is a table:table-row, which
// table:number-rows-repeated repeats; a cell is a table:table-cell, or a
// table:covered-table-cell where a merged cell (table:number-columns-
// spanned, table:number-rows-spanned) covers it, which
// table:number-columns-repeated repeats. A cell's text:p paragraphs are
// its text as the spreadsheet shows it (a date in its format, 000123 for
// 123 in a 000000 format, a formula's result), which is what is read;
// office:value and the like only where a writer gives no text.
const (
	nsTable  = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
	nsOffice = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
	nsText   = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
)

const odsMediaType = "application/vnd.oasis.opendocument.spreadsheet"

// odsRows reads the rows of one table of an OpenDocument spreadsheet.
type odsRows struct {
	d        *xml.Decoder
	closer   io.Closer
	maxField int

	row    int      // the number of the row last returned
	repeat int      // how many more times that row repeats
	cells  []string // its cells
	spans  []span
	// down holds, by column (from 0), the merged cells of rows above
	// that cover rows below: their text, and their last row.
	down map[int]downMerge
	done bool
	// cellCount counts the cells of the rows returned, repeated ones too:
	// a small file can repeat a cell over a billion.
	cellCount int
}

// maxODSCells caps the cells of a sheet: a list of a million rows of 64
// columns is well within.
const maxODSCells = 1 << 26

type downMerge struct {
	text string
	last int
}

// openODS opens an .ods file: a zip whose content.xml holds the sheets.
func openODS(file, want string, maxField int) (sheetRows, string, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, "", fmt.Errorf("not an OpenDocument spreadsheet (.ods): %w", err)
		}
		return nil, "", err
	}
	if mt, err := readSmall(&zr.Reader, "mimetype"); err == nil && mt != odsMediaType {
		zr.Close()
		return nil, "", fmt.Errorf("not an OpenDocument spreadsheet (.ods) but %q", mt)
	}
	rc, err := zr.Open("content.xml")
	if err != nil {
		zr.Close()
		return nil, "", fmt.Errorf("not an OpenDocument spreadsheet (.ods): %w", err)
	}
	return newODSRows(rc, multiCloser{rc, zr}, want, maxField)
}

// openFODS opens a flat OpenDocument spreadsheet: the same XML, unzipped.
func openFODS(file, want string, maxField int) (sheetRows, string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, "", err
	}
	return newODSRows(f, f, want, maxField)
}

// newODSRows reads the document's XML from r up to the table want names
// (the first if ""), and returns its rows and its name; closer is closed
// with them, or on an error.
func newODSRows(r io.Reader, closer io.Closer, want string, maxField int) (*odsRows, string, error) {
	o := &odsRows{d: xml.NewDecoder(r), closer: closer, maxField: maxField, down: map[int]downMerge{}}
	var names []string
	for {
		tok, err := o.d.Token()
		if err == io.EOF {
			closer.Close()
			_, err := chooseSheet(names, want) // want is none of them
			return nil, "", err
		}
		if err != nil {
			closer.Close()
			return nil, "", fmt.Errorf("read the spreadsheet's XML (a password-protected file cannot be read): %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != nsTable || se.Name.Local != "table" {
			continue
		}
		name := attr(se, nsTable, "name")
		if want == "" || name == want || strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(want)) {
			return o, name, nil
		}
		names = append(names, name)
		if err := o.d.Skip(); err != nil {
			closer.Close()
			return nil, "", fmt.Errorf("read the spreadsheet's XML: %w", err)
		}
	}
}

func (o *odsRows) Close() error { return o.closer.Close() }

func (o *odsRows) next() (int, []string, []span, error) {
	for {
		if o.repeat > 0 {
			o.repeat--
			o.row++
			o.spans = o.spans[:0] // a merge starts in the first of the rows
			return o.row, o.cells, o.spans, nil
		}
		if o.done {
			return 0, nil, nil, io.EOF
		}
		tok, err := o.d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, nil, &located.Error{Line: o.row + 1, Err: fmt.Errorf("read the spreadsheet's XML: %w", err)}
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if t.Name.Space == nsTable && t.Name.Local == "table" {
				o.done = true
			}
		case xml.StartElement:
			if t.Name.Space != nsTable {
				err = o.d.Skip()
				break
			}
			switch t.Name.Local {
			case "table-row":
				n, err := o.readRow(t)
				if err != nil {
					return 0, nil, nil, err
				}
				if blank(o.cells) {
					// Rows with nothing in them, as a sheet ends with a
					// million of, are skipped at once: the reader would.
					o.row += n
					if o.row > maxSheetRows {
						o.done = true
					}
					continue
				}
				if o.row+n > maxSheetRows {
					return 0, nil, nil, &located.Error{Line: o.row + 1, Err: fmt.Errorf("the sheet says it has over %d rows, which no spreadsheet has", maxSheetRows)}
				}
				if o.cellCount += n * len(o.cells); o.cellCount > maxODSCells {
					return 0, nil, nil, &located.Error{Line: o.row + 1, Err: fmt.Errorf("the sheet says it has over %d cells, as no list of recipients has", maxODSCells)}
				}
				o.repeat = n - 1
				o.row++
				return o.row, o.cells, o.spans, nil
			case "table-header-rows", "table-rows", "table-row-group":
				// Rows within: read on.
			default:
				err = o.d.Skip()
			}
		}
		if err != nil {
			return 0, nil, nil, &located.Error{Line: o.row + 1, Err: fmt.Errorf("read the spreadsheet's XML: %w", err)}
		}
	}
}

// readRow reads a table-row element into o.cells and o.spans, and
// returns how many rows it stands for.
func (o *odsRows) readRow(start xml.StartElement) (int, error) {
	row := o.row + 1
	repeat := count(attr(start, nsTable, "number-rows-repeated"), maxSheetRows)
	o.cells, o.spans = o.cells[:0], o.spans[:0]
	col := 0         // the next cell's column, from 0
	across := span{} // a merged cell of this row, covering the cells after it
	var across0 string
	for {
		tok, err := o.d.Token()
		if err != nil {
			return 0, o.errorAt(row, col, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			o.cells = trimEmpty(o.cells)
			return repeat, nil
		case xml.StartElement:
			covered := t.Name.Space == nsTable && t.Name.Local == "covered-table-cell"
			if t.Name.Space != nsTable || (t.Name.Local != "table-cell" && !covered) {
				if err := o.d.Skip(); err != nil {
					return 0, o.errorAt(row, col, err)
				}
				continue
			}
			n := count(attr(t, nsTable, "number-columns-repeated"), maxSheetColumns)
			text, err := o.cellText(t)
			if err != nil {
				return 0, o.errorAt(row, col, err)
			}
			if col+n > maxSheetColumns {
				if text == "" && !covered {
					col = maxSheetColumns
					continue
				}
				return 0, o.errorAt(row, col, fmt.Errorf("the row has over %d columns, which no spreadsheet has", maxSheetColumns))
			}
			if !covered {
				cols := count(attr(t, nsTable, "number-columns-spanned"), maxSheetColumns)
				rows := count(attr(t, nsTable, "number-rows-spanned"), maxSheetRows)
				if cols > 1 || rows > 1 {
					across, across0 = span{col: col + 1, cols: cols, rows: rows}, text
					o.spans = append(o.spans, across)
					for c := col; c < col+cols && rows > 1; c++ {
						o.down[c] = downMerge{text, row + rows - 1}
					}
				}
			}
			for k := 0; k < n; k++ {
				v := text
				if covered {
					v = o.coveredText(row, col, across, across0)
				}
				if v != "" {
					for len(o.cells) < col {
						o.cells = append(o.cells, "")
					}
					o.cells = append(o.cells, v)
				}
				col++
			}
		}
	}
}

// coveredText is the text of a covered cell: its merged cell's.
func (o *odsRows) coveredText(row, col int, across span, text string) string {
	if across.cols > 0 && across.col-1 < col && col < across.col-1+across.cols {
		return text
	}
	if m, ok := o.down[col]; ok {
		if m.last >= row {
			return m.text
		}
		delete(o.down, col)
	}
	return ""
}

// cellText reads a cell element to its end and returns its text: its
// paragraphs, one to a line, or its value where it has none.
func (o *odsRows) cellText(start xml.StartElement) (string, error) {
	var b strings.Builder
	paragraphs := 0
	for {
		tok, err := o.d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if paragraphs == 0 {
				return cellValue(start), nil
			}
			return b.String(), nil
		case xml.StartElement:
			if t.Name.Space == nsText && (t.Name.Local == "p" || t.Name.Local == "h") {
				if paragraphs > 0 {
					b.WriteByte('\n')
				}
				paragraphs++
				if err := o.paragraph(&b); err != nil {
					return "", err
				}
				continue
			}
			// An annotation (a comment), a drawing: not the cell's text.
			if err := o.d.Skip(); err != nil {
				return "", err
			}
		}
	}
}

// paragraph writes the text of a paragraph, up to its end, to b: its
// characters, and spaces, tabs and line breaks written as elements.
func (o *odsRows) paragraph(b *strings.Builder) error {
	depth := 1
	for depth > 0 {
		tok, err := o.d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len() <= o.maxField {
				b.Write(t)
			}
		case xml.StartElement:
			depth++
			if t.Name.Space == nsOffice && t.Name.Local == "annotation" || t.Name.Space == nsText && t.Name.Local == "note" {
				if err := o.d.Skip(); err != nil {
					return err
				}
				depth--
				continue
			}
			if t.Name.Space != nsText || b.Len() > o.maxField {
				continue
			}
			switch t.Name.Local {
			case "s":
				b.WriteString(strings.Repeat(" ", count(attr(t, nsText, "c"), o.maxField+1)))
			case "tab":
				b.WriteByte('\t')
			case "line-break":
				b.WriteByte('\n')
			}
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// cellValue is the text of a cell without paragraphs, from its value.
func cellValue(start xml.StartElement) string {
	switch attr(start, nsOffice, "value-type") {
	case "float", "percentage", "currency":
		v := attr(start, nsOffice, "value")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return v
	case "date":
		return strings.TrimSuffix(attr(start, nsOffice, "date-value"), "T00:00:00")
	case "time":
		return attr(start, nsOffice, "time-value")
	case "boolean":
		return strings.ToUpper(attr(start, nsOffice, "boolean-value"))
	case "string":
		return attr(start, nsOffice, "string-value")
	}
	return ""
}

func (o *odsRows) errorAt(row, col int, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &located.Error{Line: row, Column: col + 1, Err: fmt.Errorf("read the spreadsheet's XML: %w", err)}
}

// attr returns the value of a start element's attribute.
func attr(se xml.StartElement, space, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value
		}
	}
	return ""
}

// count reads a count attribute: 1 if it is missing or not a count,
// limit at most.
func count(v string, limit int) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return min(n, limit)
}

// trimEmpty drops the empty cells at the end of a row.
func trimEmpty(cells []string) []string {
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	return cells
}

// readSmall reads a small part of a zip.
func readSmall(zr *zip.Reader, name string) (string, error) {
	rc, err := zr.Open(name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256))
	return string(b), err
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
