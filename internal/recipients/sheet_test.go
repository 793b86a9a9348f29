package recipients

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/located"
)

// The rows of Sheet1 of testdata/spreadsheets.fods, as LibreOffice shows
// them: the .xlsx and .ods it saves (make-spreadsheets.sh) read the same.
var spreadsheetHeader = []string{"id", "ФИО", "email", "Телефон", "Телефон_2", "дата", "iso", "обычная", "оплачено", "баллы", "сумма", "группа", "заметка"}

var spreadsheetRows = []struct {
	line   int
	fields []string
}{
	{2, []string{"000123", "Иванов Иван", "ivan@example.com", "+7 900 000-00-01", "79000000002", "01.09.2026", "2026-09-01", "9/1/26", "TRUE", "4.50", "450.3", "А-1", "две\nстроки"}},
	{3, []string{"007", "Петрова Анна", "anna@example.com", "", "", "31.12.2026", "2026-12-31", "12/31/26", "FALSE", "0.1", "10", "А-1", "a  b"}},
	{5, []string{"004567", "Ёлкина Алёна", "alena@example.com", "", "", "28.02.2027", "2027-02-28", "2/28/27", "TRUE", "1234567.25", "Ёлкина Алёна (Б-2)", "Б-2", ""}},
}

// TestLibreOfficeFiles reads the .xlsx and .ods LibreOffice wrote: the
// numbers, dates, booleans and formulas as it shows them, leading zeros
// of IDs (a text cell, a number in a 000000 format), a merged header, a
// cell merged over two rows, a comment that is not the cell's text,
// paragraphs, and the empty rows between and after.
func TestLibreOfficeFiles(t *testing.T) {
	for _, file := range []string{"spreadsheets.xlsx", "spreadsheets.ods"} {
		t.Run(file, func(t *testing.T) {
			r, err := Open(filepath.Join("testdata", file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Sheet() != "Sheet1" || !slices.Equal(r.Header(), spreadsheetHeader) {
				t.Fatalf("sheet %q, header %q", r.Sheet(), r.Header())
			}
			if enc, _ := r.Encoding(); enc != "" || r.Delimiter() != 0 {
				t.Errorf("a spreadsheet has encoding %q and delimiter %q", enc, r.Delimiter())
			}
			for _, want := range spreadsheetRows {
				rec, err := r.Read()
				if err != nil {
					t.Fatalf("row %d: %v", want.line, err)
				}
				if rec.Line != want.line || !slices.Equal(rec.Fields, want.fields) {
					t.Errorf("row %d: %q\nwant row %d: %q", rec.Line, rec.Fields, want.line, want.fields)
				}
				if line, col := rec.Column(2); line != want.line || col != 3 {
					t.Errorf("row %d: email at %d:%d", want.line, line, col)
				}
				if got, want := rec.Locate(2, errors.New("x")).Error(), fmt.Sprintf("%s:Sheet1!C%d: x", file, want.line); got != want {
					t.Errorf("Locate: %q, want %q", got, want)
				}
			}
			if rec, err := r.Read(); err != io.EOF {
				t.Errorf("after the last row: %v, %v", rec, err)
			}
			if r.Rows() != 3 {
				t.Errorf("Rows() = %d", r.Rows())
			}
		})
	}
}

func TestSheets(t *testing.T) {
	for _, file := range []string{"spreadsheets.xlsx", "spreadsheets.ods"} {
		path := filepath.Join("testdata", file)
		for _, sheet := range []string{"Выпуск 2025", "выпуск 2025 "} {
			r, err := Open(path, Options{Sheet: sheet})
			if err != nil {
				t.Fatalf("%s, %q: %v", file, sheet, err)
			}
			rec, err := r.Read()
			if err != nil || r.Sheet() != "Выпуск 2025" || !slices.Equal(rec.Fields, []string{"Сидоров Пётр", "petr@example.com"}) {
				t.Errorf("%s, %q: sheet %q, %v, %v", file, sheet, r.Sheet(), rec, err)
			}
			if got := rec.Locate(1, errors.New("x")).Error(); got != file+":'Выпуск 2025'!B2: x" {
				t.Errorf("%s: Locate: %q", file, got)
			}
			r.Close()
		}

		_, err := Open(path, Options{Sheet: "Лист1"})
		want := file + `: no such sheet "Лист1" (recipients.sheet): the sheets are "Sheet1", "Выпуск 2025", "Пустой"`
		if !errors.Is(err, ErrNoSheet) || err.Error() != want {
			t.Errorf("a wrong sheet: %v\nwant %s", err, want)
		}
		_, err = Open(path, Options{Sheet: "Пустой"})
		if !errors.Is(err, ErrEmpty) || err.Error() != file+":Пустой: the sheet is empty: expected a header row naming the fields" {
			t.Errorf("an empty sheet: %v", err)
		}
	}
}

// writeXLSX saves a workbook excelize made, after fill fills it in.
func writeXLSX(t *testing.T, name string, fill func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	fill(f)
	path := filepath.Join(t.TempDir(), name)
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestExcelizeFiles reads workbooks as excelize writes them, which is as
// other programs do: a built-in date format, inline strings, formats
// on cells and styles on empty rows.
func TestExcelizeFiles(t *testing.T) {
	path := writeXLSX(t, "list.xlsx", func(f *excelize.File) {
		id, err1 := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("000000")})
		date, err2 := f.NewStyle(&excelize.Style{NumFmt: 14}) // Excel's short date
		pct, err3 := f.NewStyle(&excelize.Style{NumFmt: 9})   // 0%
		fill, err4 := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
		must(t, err1, err2, err3, err4)
		must(t,
			f.SetSheetRow("Sheet1", "A1", &[]any{"id", "имя", "email", "дата", "доля", "ok", "n", "Телефон", nil}),
			f.MergeCell("Sheet1", "H1", "I1"),
			f.SetSheetRow("Sheet1", "A2", &[]any{42, "Иван", "ivan@example.com", 46266, 0.25, true, 0.1 + 0.2, "+7 1", "+7 2"}),
			f.SetSheetRow("Sheet1", "A3", &[]any{"0042", "Анна", "anna@example.com", 46387, 1, false, 1e6}),
			f.SetCellStyle("Sheet1", "A2", "A3", id),
			f.SetCellStyle("Sheet1", "D2", "D3", date),
			f.SetCellStyle("Sheet1", "E2", "E3", pct),
			f.SetCellStyle("Sheet1", "A4", "J9", fill), // styled, empty
			f.MergeCell("Sheet1", "H3", "I3"),          // a merged value
			f.SetCellValue("Sheet1", "H3", "+7 3"),
		)
	})
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := []string{"id", "имя", "email", "дата", "доля", "ok", "n", "Телефон", "Телефон_2"}; !slices.Equal(r.Header(), want) {
		t.Errorf("header %q, want %q", r.Header(), want)
	}
	recs, lines, errs := readAll(t, r)
	want := []map[string]string{
		{"id": "000042", "имя": "Иван", "email": "ivan@example.com", "дата": "2026-09-01", "доля": "25%", "ok": "TRUE", "n": "0.3", "Телефон": "+7 1", "Телефон_2": "+7 2"},
		{"id": "0042", "имя": "Анна", "email": "anna@example.com", "дата": "2026-12-31", "доля": "100%", "ok": "FALSE", "n": "1000000", "Телефон": "+7 3", "Телефон_2": "+7 3"},
	}
	if len(errs) > 0 || fmt.Sprint(recs) != fmt.Sprint(want) || !slices.Equal(lines, []int{2, 3}) {
		t.Errorf("rows on %v: %v, %v\nwant %v", lines, recs, errs, want)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSheetProblems: each problem of a sheet, placed at its cell.
func TestSheetProblems(t *testing.T) {
	tests := []struct {
		name string
		fill func(f *excelize.File) error
		opts Options
		open string   // the error of Open
		errs []string // of Read, in order
		rows int      // good rows
	}{
		{
			name: "a value in a column with no name",
			fill: func(f *excelize.File) error {
				return errors.Join(
					f.SetSheetRow("Sheet1", "A1", &[]any{"name", nil, "email"}),
					f.SetSheetRow("Sheet1", "A2", &[]any{"Ann", nil, "ann@example.com"}),
					f.SetSheetRow("Sheet1", "A3", &[]any{"Bob", "x", "bob@example.com"}),
					f.SetCellValue("Sheet1", "F4", "y"),
					f.SetSheetRow("Sheet1", "A4", &[]any{"Cid"}),
				)
			},
			errs: []string{
				"t.xlsx:Sheet1!B3: bad header row: column B has no name in the header row (row 1), but this row has a value there: name the column, or delete the value",
				"t.xlsx:Sheet1!F4: bad header row: column F has no name in the header row (row 1), but this row has a value there: name the column, or delete the value",
			},
			rows: 1,
		},
		{
			name: "the header is the first row with text, on a sheet with a space in its name",
			fill: func(f *excelize.File) error {
				_, err := f.NewSheet("Группа 2")
				return errors.Join(err,
					f.SetSheetRow("Группа 2", "B3", &[]any{"name", "email"}),
					f.SetSheetRow("Группа 2", "B4", &[]any{"Ann", strings.Repeat("я", 20)}),
					f.SetSheetRow("Группа 2", "B6", &[]any{"Bob", "bob@example.com"}),
				)
			},
			opts: Options{Sheet: "Группа 2", MaxField: 16},
			errs: []string{`t.xlsx:'Группа 2'!C4: field too large: field "email" is 40 bytes, the limit is 16`},
			rows: 1,
		},
		{
			name: "header problems",
			fill: func(f *excelize.File) error {
				return errors.Join(
					f.SetSheetRow("Sheet1", "A1", &[]any{"email", "ФИО", " email ", "group"}),
					f.MergeCell("Sheet1", "D1", "D2"),
					f.SetSheetRow("Sheet1", "A3", &[]any{"a@example.com", "A", "a@example.com"}),
				)
			},
			open: "t.xlsx:Sheet1!D1: bad header row: the cell is merged with the row below it: the header is one row that names each column; unmerge the cell\n" +
				`t.xlsx:Sheet1!C1: bad header row: field name "email" repeats column A`,
		},
		{
			name: "a header and no rows",
			fill: func(f *excelize.File) error { return f.SetSheetRow("Sheet1", "A1", &[]any{"email"}) },
			errs: []string{"t.xlsx:Sheet1: no recipients: the sheet has a header row but no data rows"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeXLSX(t, "t.xlsx", func(f *excelize.File) { must(t, tt.fill(f)) })
			r, err := Open(path, tt.opts)
			if fmt.Sprint(err) != fmt.Sprint(map[bool]any{true: nil, false: tt.open}[tt.open == ""]) {
				t.Fatalf("Open: %v\nwant %s", err, tt.open)
			}
			if err != nil {
				var le *located.Error
				if !errors.As(err, &le) || !errors.Is(err, ErrHeader) {
					t.Errorf("not a located header error: %#v", err)
				}
				return
			}
			defer r.Close()
			recs, _, errs := readAll(t, r)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(recs) != tt.rows || !slices.Equal(got, tt.errs) {
				t.Errorf("%d rows, errors:\n%s\nwant %d rows, errors:\n%s", len(recs), strings.Join(got, "\n"), tt.rows, strings.Join(tt.errs, "\n"))
			}
		})
	}
}

func TestNotASpreadsheet(t *testing.T) {
	dir := t.TempDir()
	for name, want := range map[string]string{
		"list.xlsx": "list.xlsx: not an Excel workbook (.xlsx): zip: not a valid zip file",
		"list.ods":  "list.ods: not an OpenDocument spreadsheet (.ods): zip: not a valid zip file",
		"list.XLS":  "list.XLS: an Excel 97-2003 workbook (.xls), which mailmerge does not read: save it as an Excel Workbook (.xlsx) or as CSV",
		"list.fods": "list.fods: the file has no sheets: is it a spreadsheet?",
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte("name,email\nAnn,ann@example.com\n"), 0o644)
		if _, err := Open(path, Options{}); fmt.Sprint(err) != want {
			t.Errorf("%s: %v\nwant %s", name, err, want)
		}
	}
	if _, err := Open(filepath.Join(dir, "none.xlsx"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := Open(filepath.Join("testdata", "spreadsheets.ods"), Options{Sheet: "x"}); !errors.Is(err, ErrNoSheet) {
		t.Errorf("an .ods, a missing sheet: %v", err)
	}
	// An .odt is a zip with a content.xml, of a text.
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("mimetype")
	io.WriteString(w, "application/vnd.oasis.opendocument.text")
	zw.Close()
	path := filepath.Join(dir, "letter.ods")
	os.WriteFile(path, b.Bytes(), 0o644)
	if _, err := Open(path, Options{}); fmt.Sprint(err) != `letter.ods: not an OpenDocument spreadsheet (.ods) but "application/vnd.oasis.opendocument.text"` {
		t.Errorf("an .odt: %v", err)
	}
}

func TestSpreadsheetList(t *testing.T) {
	got, err := ReadList(filepath.Join("testdata", "spreadsheets.ods"), Options{Sheet: "ignored"})
	want := map[string]int{"ivan@example.com": 2, "anna@example.com": 3, "alena@example.com": 5}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ReadList: %v, %v", got, err)
	}
	if n, err := CountLines(filepath.Join("testdata", "spreadsheets.xlsx")); n != 0 || err != nil {
		t.Errorf("CountLines of a spreadsheet: %d, %v", n, err)
	}
}

// TestGroupedSheet: the rows of a spreadsheet grouped through the
// temporary file come back with their cells' places: a problem in a
// grouped row names its sheet and cell.
func TestGroupedSheet(t *testing.T) {
	path := writeXLSX(t, "groups.xlsx", func(f *excelize.File) {
		must(t,
			f.SetSheetRow("Sheet1", "A1", &[]any{"name", "email"}),
			f.SetSheetRow("Sheet1", "A2", &[]any{"Анна", "anna@example.com"}),
			f.SetSheetRow("Sheet1", "A3", &[]any{"Иван", ""}),
			f.SetSheetRow("Sheet1", "A4", &[]any{"Анна 2", "ANNA@example.com"}),
		)
	})
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g, err := GroupBy(context.Background(), r, "email")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var got []string
	for {
		rec, group, err := g.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		line, col := group[len(group)-1].Column(1)
		got = append(got, fmt.Sprintf("%s×%d last at %d:%d in %s", rec.Fields[0], len(group), line, col, group[len(group)-1].Locate(1, io.EOF).Error()))
	}
	want := []string{
		`groups.xlsx:Sheet1!B3: field "email" is empty; recipients.group_by groups the rows by it`,
		`Анна×2 last at 4:2 in groups.xlsx:Sheet1!B4: EOF`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("groups:\n%q\nwant\n%q", got, want)
	}
}
