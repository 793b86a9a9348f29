package report

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/recipients"
)

// Columns are the names of the columns report --out adds to the list's,
// in their order: what became of the row's letter (its state, said by
// Word), when it was last tried, the account that carried it, what the
// server said, what a delivery report said after, and mailmerge's note.
// They and the states are the words to translate.
var Columns = [...]string{"status", "time", "account", "reply", "bounce", "note"}

// TimeLayout is how a CSV says when a letter was last tried, in local
// time: a form spreadsheets read as a date and time in every locale.
const TimeLayout = "2006-01-02 15:04:05"

// xlsxTimeFormat is the number format of the time cells of an XLSX.
const xlsxTimeFormat = "yyyy-mm-dd hh:mm:ss"

// outHeader is the list's header with Columns added, each renamed
// "name (mailmerge)" where the list has a column of that name already,
// so that the file reads back as a recipient list.
func outHeader(header []string) []string {
	out := slices.Clone(header)
	for _, c := range Columns {
		name := c
		for slices.ContainsFunc(out, func(h string) bool { return strings.EqualFold(h, name) }) {
			name += " (mailmerge)"
		}
		out = append(out, name)
	}
	return out
}

// cells lays a row out under a header of width fields: its fields,
// padded to the width, then what the added columns hold (added), then
// the fields of a row longer than the header, so that the added columns
// line up in every row.
func cells[T any](fields []string, width int, added []T, field func(string) T) []T {
	out := make([]T, 0, max(width, len(fields))+len(added))
	for i := range width {
		v := ""
		if i < len(fields) {
			v = fields[i]
		}
		out = append(out, field(v))
	}
	out = append(out, added...)
	for i := width; i < len(fields); i++ {
		out = append(out, field(fields[i]))
	}
	return out
}

// WriteRowsCSV writes every row of the list rep was made of (Rows) with
// Columns added, in the recipients file's dialect (delimiter delim),
// UTF-8 with a byte order mark as WriteCSV writes; times are in loc. It
// returns how many rows it wrote.
func WriteRowsCSV(ctx context.Context, out io.Writer, delim rune, loc *time.Location, rep *Report) (int, error) {
	w, err := recipients.NewWriter(out, delim)
	if err != nil {
		return 0, err
	}
	w.Write(outHeader(rep.Header))
	n := 0
	err = rep.Rows(ctx, func(r Row) error {
		at := ""
		if !r.Time.IsZero() {
			at = r.Time.In(loc).Format(TimeLayout)
		}
		added := []string{Word(r.State), at, r.Account, inert(r.Reply), inert(r.Bounce), inert(r.Note)}
		n++
		return w.Write(cells(r.Fields, len(rep.Header), added, func(s string) string { return s }))
	})
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	return n, err
}

// inert keeps a text a spreadsheet would take for a formula (it starts
// with =, +, - or @) as text: a server's words are data.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteRowsXLSX writes what WriteRowsCSV writes as an Excel workbook: one
// sheet, its header row frozen and filtered, every field of the list a
// text cell (leading zeros kept), each time a date cell in loc.
func WriteRowsXLSX(ctx context.Context, out io.Writer, loc *time.Location, rep *Report) (int, error) {
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return 0, err
	}
	header := outHeader(rep.Header)
	width := len(rep.Header)
	timeCol := width + 2 // 1-based: the column after status
	dates, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr(xlsxTimeFormat)})
	if err != nil {
		return 0, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return 0, err
	}
	if err := sw.SetColWidth(timeCol, timeCol, 20); err != nil {
		return 0, err
	}
	if err := sw.SetColWidth(timeCol+2, timeCol+4, 50); err != nil { // reply, bounce, note
		return 0, err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return 0, err
	}
	text := func(s string) any {
		if s == "" {
			return nil // no cell: blank to a filter and to COUNTA
		}
		return s
	}
	row := []any{}
	for _, h := range header {
		row = append(row, excelize.Cell{StyleID: bold, Value: h})
	}
	if err := sw.SetRow("A1", row); err != nil {
		return 0, err
	}
	n := 0
	err = rep.Rows(ctx, func(r Row) error {
		var at any
		if !r.Time.IsZero() {
			at = excelize.Cell{StyleID: dates, Value: r.Time.In(loc).Truncate(time.Second)} // as the CSV says it
		}
		added := []any{Word(r.State), at, text(r.Account), text(r.Reply), text(r.Bounce), text(r.Note)}
		cs := cells(r.Fields, width, added, text)
		n++
		cell, err := excelize.CoordinatesToCellName(1, n+1)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, cs)
	})
	if err != nil {
		return n, err
	}
	// The filter covers every row; it is set before Flush, which writes
	// it after the rows.
	last, err := excelize.CoordinatesToCellName(len(header), n+1)
	if err != nil {
		return n, err
	}
	if err := f.AutoFilter(sheet, "A1:"+last, nil); err != nil {
		return n, err
	}
	if err := sw.Flush(); err != nil {
		return n, err
	}
	return n, f.Write(out)
}

func ptr[T any](v T) *T { return &v }
