package recipients

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/xuri/excelize/v2"
	"github.com/xuri/nfp"

	"github.com/mailmerge/mailmerge/internal/located"
)

// xlsxRows reads a sheet of an Excel workbook with excelize's row
// iterator, which streams the sheet's XML: a sheet of a million rows is
// read in the memory of one. excelize formats each cell with its number
// format, as Excel shows it; the merged ranges, which the sheet lists
// after its rows, are found first by a scan of its XML (mergeRanges).
type xlsxRows struct {
	f    *excelize.File
	rows *excelize.Rows
	row  int
	// merges are the sheet's merged ranges by first row; pending are
	// those not reached yet, active those the rows read are in, with the
	// text of their first cell.
	pending []mergeRange
	active  []activeMerge
	spans   []span
}

type mergeRange struct{ col1, row1, col2, row2 int }

type activeMerge struct {
	mergeRange
	text string
}

// excelizeOptions makes a date in Excel's "short date" (number format 14,
// which Excel shows in the computer's own way) read as 2026-09-01: any
// other date format is the cell's own (on [$-409], see fastDates). A
// sheet or shared strings over 1 MB wait in a temporary file, not in
// memory: excelize decodes the shared strings it holds into 500 bytes
// apiece. A workbook whose parts say they unzip to over 2 GiB (100,000
// rows of six columns from LibreOffice unzip to 50 MB) is refused rather
// than unzipped into temporary files (excelize's default limit is 16 GB).
var excelizeOptions = excelize.Options{ShortDatePattern: enUS + "yyyy-mm-dd", UnzipXMLSizeLimit: 1 << 20, UnzipSizeLimit: 2 << 30}

// enUS is the locale tag of US English, which names months and days as
// a date format with no tag of its own does.
const enUS = "[$-409]"

// fastDates tags the workbook's date formats that have no locale with US
// English, in which excelize shows them the same: a date format without
// one has excelize look for the locale "" through all it knows, in every
// cell (40% of the time of reading a list with a date column).
func fastDates(f *excelize.File) {
	if f.Styles == nil || f.Styles.NumFmts == nil {
		return
	}
	for _, nf := range f.Styles.NumFmts.NumFmt {
		if nf.FormatCode16 == "" && isDateFormat(nf.FormatCode) && !strings.Contains(nf.FormatCode, "[$") {
			nf.FormatCode = enUS + nf.FormatCode
		}
	}
}

// isDateFormat reports whether a number format shows a date or a time.
func isDateFormat(code string) bool {
	p := nfp.NumberFormatParser()
	for _, s := range p.Parse(code) {
		for _, t := range s.Items {
			if t.TType == nfp.TokenTypeDateTimes || t.TType == nfp.TokenTypeElapsedDateTimes {
				return true
			}
		}
	}
	return false
}

func openXLSX(file, want string) (sheetRows, string, error) {
	f, err := excelize.OpenFile(file, excelizeOptions)
	if err != nil {
		switch {
		case errors.Is(err, excelize.ErrWorkbookFileFormat):
			return nil, "", errors.New("the workbook is protected by a password, or is an Excel 97-2003 workbook under another name: save it as an Excel Workbook (.xlsx) without a password")
		case errors.Is(err, zip.ErrFormat):
			return nil, "", fmt.Errorf("not an Excel workbook (.xlsx): %w", err)
		}
		return nil, "", err
	}
	fastDates(f)
	sheet, err := chooseSheet(f.GetSheetList(), want)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	merges, err := mergeRanges(file, sheet)
	if err != nil {
		f.Close()
		return nil, sheet, fmt.Errorf("read the merged cells: %w", err)
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		f.Close()
		return nil, sheet, err
	}
	return &xlsxRows{f: f, rows: rows, pending: merges}, sheet, nil
}

func (x *xlsxRows) next() (int, []string, []span, error) {
	for x.rows.Next() {
		x.row++
		cells, err := x.rows.Columns()
		if err != nil {
			return 0, nil, nil, &located.Error{Line: x.row, Err: err}
		}
		cells = x.merge(cells)
		if len(cells) > 0 {
			return x.row, cells, x.spans, nil
		}
	}
	if err := x.rows.Error(); err != nil {
		return 0, nil, nil, err
	}
	return 0, nil, nil, io.EOF
}

// merge fills the cells of the current row that merged ranges cover
// with the text of their first cells, and finds the ranges that start in
// the row.
func (x *xlsxRows) merge(cells []string) []string {
	x.spans = x.spans[:0]
	x.active = slices.DeleteFunc(x.active, func(m activeMerge) bool { return m.row2 < x.row })
	for len(x.pending) > 0 && x.pending[0].row1 <= x.row {
		m := x.pending[0]
		x.pending = x.pending[1:]
		if m.row1 < x.row { // its first row had no cells
			continue
		}
		text := ""
		if m.col1-1 < len(cells) {
			text = cells[m.col1-1]
		}
		x.active = append(x.active, activeMerge{m, text})
		x.spans = append(x.spans, span{col: m.col1, cols: m.col2 - m.col1 + 1, rows: m.row2 - m.row1 + 1})
	}
	for _, m := range x.active {
		if m.text == "" {
			continue
		}
		for len(cells) < m.col2 {
			cells = append(cells, "")
		}
		for c := m.col1; c <= m.col2; c++ {
			cells[c-1] = m.text
		}
	}
	return cells
}

func (x *xlsxRows) Close() error {
	return errors.Join(x.rows.Close(), x.f.Close())
}

// maxMerges caps the merged ranges read from a sheet.
const maxMerges = 1 << 20

// mergeRanges returns the merged ranges of a workbook's sheet, sorted by
// their first rows. A sheet lists them after all its rows: rather than
// decode its whole XML (excelize's GetMergeCells does, into memory), this
// looks at each element's name for mergeCell, in one streaming pass. A '<'
// in a value is written &lt;, so every '<' starts markup.
func mergeRanges(file, sheet string) ([]mergeRange, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	part, err := sheetPart(&zr.Reader, sheet)
	if err != nil {
		return nil, err
	}
	rc, err := zr.Open(part)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []mergeRange
	br := bufio.NewReaderSize(rc, 64<<10)
	for {
		if _, err := br.ReadSlice('<'); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				break
			}
			return nil, err
		}
		head, _ := br.Peek(256)
		ref, ok := mergeCellRef(head)
		if !ok {
			continue
		}
		c1, r1, err1 := excelize.CellNameToCoordinates(ref[0])
		c2, r2, err2 := excelize.CellNameToCoordinates(ref[1])
		if err1 != nil || err2 != nil || c2 < c1 || r2 < r1 || (c1 == c2 && r1 == r2) {
			continue
		}
		if len(out) == maxMerges {
			return nil, fmt.Errorf("over %d merged ranges", maxMerges)
		}
		out = append(out, mergeRange{c1, r1, c2, r2})
	}
	slices.SortStableFunc(out, func(a, b mergeRange) int { return a.row1 - b.row1 })
	return out, nil
}

// mergeCellRef reads the cells of a range from the start of an element,
// after its '<': `mergeCell ref="D1:E1"/>`, or with any prefix,
// `x:mergeCell ...`.
func mergeCellRef(head []byte) ([2]string, bool) {
	end := bytes.IndexByte(head, '>')
	if end < 0 {
		return [2]string{}, false
	}
	tag := head[:end]
	name, attrs, _ := bytes.Cut(tag, []byte(" "))
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	if string(name) != "mergeCell" {
		return [2]string{}, false
	}
	for _, f := range bytes.Fields(attrs) {
		if v, ok := bytes.CutPrefix(f, []byte(`ref="`)); ok {
			v, _, _ = bytes.Cut(v, []byte(`"`))
			a, b, ok := strings.Cut(string(v), ":")
			return [2]string{a, b}, ok
		}
	}
	return [2]string{}, false
}

// sheetPart finds the part of the zip that holds a sheet, as Excel does:
// the package's relationships name the workbook, whose own name the part
// of each sheet.
func sheetPart(zr *zip.Reader, sheet string) (string, error) {
	type rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	target := func(base, t string) string {
		if strings.HasPrefix(t, "/") {
			return strings.TrimPrefix(t, "/")
		}
		return path.Join(path.Dir(base), t)
	}
	var pkg rels
	if err := decodePart(zr, "_rels/.rels", &pkg); err != nil {
		return "", err
	}
	book := "xl/workbook.xml"
	for _, r := range pkg.Rel {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			book = target("", r.Target)
		}
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := decodePart(zr, book, &wb); err != nil {
		return "", err
	}
	var bookRels rels
	if err := decodePart(zr, path.Join(path.Dir(book), "_rels", path.Base(book)+".rels"), &bookRels); err != nil {
		return "", err
	}
	for _, s := range wb.Sheets {
		if s.Name != sheet {
			continue
		}
		for _, r := range bookRels.Rel {
			if r.ID == s.ID {
				return target(book, r.Target), nil
			}
		}
	}
	return "", fmt.Errorf("the workbook names no part for sheet %q", sheet)
}

func decodePart(zr *zip.Reader, name string, v any) error {
	rc, err := zr.Open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}
