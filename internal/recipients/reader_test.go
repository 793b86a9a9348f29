package recipients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/located"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// readAll returns the records and every error, as callers see them.
func readAll(t *testing.T, r *Reader) (recs []map[string]string, lines []int, errs []error) {
	t.Helper()
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec.Map())
		lines = append(lines, rec.Line)
	}
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file    string
		enc     Encoding
		guessed bool
		delim   rune
		header  []string
		lines   []int
		rows    []map[string]string
	}{
		{
			file: "cp1251-semicolon.csv", enc: Windows1251, guessed: true, delim: ';',
			header: []string{"Имя", "Фамилия", "email", "Группа"},
			lines:  []int{2, 3},
			rows: []map[string]string{
				{"Имя": "Иван", "Фамилия": "Петров", "email": "ivan@example.com", "Группа": "ИУ7-31"},
				{"Имя": "Мария", "Фамилия": "Сидорова", "email": "maria@example.com", "Группа": "ИУ7; поток 2"},
			},
		},
		{
			file: "koi8r.csv", enc: KOI8R, guessed: true, delim: ',',
			header: []string{"Имя", "email"},
			lines:  []int{2, 3},
			rows: []map[string]string{
				{"Имя": "Ёжик Туманов", "email": "ezhik@example.com"},
				{"Имя": "Алёна", "email": "alena@example.com"},
			},
		},
		{
			file: "utf8-bom-crlf.csv", enc: UTF8, delim: ',',
			header: []string{"name", "email", "note"},
			lines:  []int{2, 4},
			rows: []map[string]string{
				{"name": "Ivan", "email": "ivan@example.com", "note": `hello, "world"`},
				{"name": "Jane", "email": "jane@example.com", "note": "two\nlines"},
			},
		},
		{
			// Excel for Mac's "CSV (Macintosh)": lines end with CR alone.
			file: "mac-cr-cp1251.csv", enc: Windows1251, guessed: true, delim: ';',
			header: []string{"Имя", "email", "Заметка"},
			lines:  []int{2, 5},
			rows: []map[string]string{
				{"Имя": "Иван", "email": "ivan@example.com", "Заметка": "две\nстроки"},
				{"Имя": "Мария", "email": "maria@example.com", "Заметка": "нет"},
			},
		},
		{
			file: "utf16-tab.tsv", enc: UTF16, delim: '\t',
			header: []string{"Имя", "email"},
			lines:  []int{2, 3},
			rows: []map[string]string{
				{"Имя": "Иван", "email": "ivan@example.com"},
				{"Имя": "Olga", "email": "olga@example.com"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Open(filepath.Join("testdata", tt.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if enc, guessed := r.Encoding(); enc != tt.enc || guessed != tt.guessed {
				t.Errorf("Encoding() = %s, %v; want %s, %v", enc, guessed, tt.enc, tt.guessed)
			}
			if r.Delimiter() != tt.delim {
				t.Errorf("Delimiter() = %q; want %q", r.Delimiter(), tt.delim)
			}
			if !reflect.DeepEqual(r.Header(), tt.header) {
				t.Errorf("Header() = %q; want %q", r.Header(), tt.header)
			}
			rows, lines, errs := readAll(t, r)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("rows = %q\nwant %q", rows, tt.rows)
			}
			if !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("lines = %v; want %v", lines, tt.lines)
			}
		})
	}
}

// TestExcelSepLine: Excel's "sep=;" first line sets the delimiter and is
// not a header; line numbers still count it.
func TestExcelSepLine(t *testing.T) {
	r, err := NewReader(strings.NewReader("sep=;\r\nname;email\r\nIvan;ivan@example.com\r\nBad\r\n"), "x.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delimiter() != ';' || !reflect.DeepEqual(r.Header(), []string{"name", "email"}) {
		t.Fatalf("delimiter %q, header %q", r.Delimiter(), r.Header())
	}
	rows, lines, errs := readAll(t, r)
	if len(rows) != 1 || lines[0] != 3 || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "x.csv:4: wrong number of fields") {
		t.Errorf("rows %v lines %v errs %v", rows, lines, errs)
	}
}

func TestExplicitOptionsOverrideDetection(t *testing.T) {
	// "a;b" with an explicit ',' is one field.
	r, err := NewReader(strings.NewReader("a;b\n1;2\n"), "x.csv", Options{Delimiter: ',', Encoding: UTF8})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header(); !reflect.DeepEqual(got, []string{"a;b"}) {
		t.Errorf("header = %q", got)
	}
	// Windows-1251 bytes read as declared KOI8-R give KOI8-R letters.
	r, err = NewReader(strings.NewReader("name\n\xc9\xd7\xc1\xce\n"), "x.csv", Options{Encoding: KOI8R})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := readAll(t, r)
	if rows[0]["name"] != "иван" {
		t.Errorf("koi8-r decode = %q", rows[0]["name"])
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		rows  int      // good rows
		errs  []string // every error, in order, as printed
		is    []error  // and what each wraps
	}{
		{
			name:  "ragged rows are skipped, the rest is read",
			input: "name,email\nIvan,ivan@example.com,extra\nOlga,olga@example.com\nPetr\n",
			rows:  1,
			errs:  []string{"t.csv:2: wrong number of fields: row has 3 fields, the header has 2", "t.csv:4: wrong number of fields: row has 1 fields, the header has 2"},
			is:    []error{ErrFieldCount, ErrFieldCount},
		},
		{
			name:  "CR line ends: lines and columns as the user sees them",
			input: "name,email\rIvan,ivan@example.com,extra\rOlga,olga@example.com\r\"Pe\"tr\",x\r",
			rows:  1,
			errs:  []string{"t.csv:2: wrong number of fields: row has 3 fields, the header has 2", `t.csv:4:4: a quote (") that does not close its field, or a field in quotes that is never closed: a quote inside a quoted field is written twice (""); the rows after it were not read (extraneous or missing " in quoted-field)`},
			is:    []error{ErrFieldCount},
		},
		{
			name:  "bare quote ends reading, column in characters",
			input: "имя,email\nИван \"Грозный\",ivan@example.com\nOlga,olga@example.com\n",
			errs:  []string{`t.csv:2:6: a quote (") inside a field that does not start with one: remove it, or put the whole field in quotes and double the quote ("Ivan ""the Great"""); the rows after it were not read (bare " in non-quoted-field)`},
			is:    []error{csv.ErrBareQuote},
		},
		{
			name:  "header only",
			input: "name,email\n",
			errs:  []string{"t.csv: no recipients: the file has a header row but no data rows"},
			is:    []error{ErrNoRecipients},
		},
		{
			name:  "blank and all-empty rows are skipped",
			input: "name;email\n\n;\n \t; \nIvan;ivan@example.com\n\n",
			rows:  1,
		},
		{
			name:  "NUL byte",
			input: "name,email\nIv\x00an,ivan@example.com\n",
			errs:  []string{"t.csv:2:3: NUL byte in the file: is the file UTF-16 without a byte order mark?"},
			is:    []error{ErrNUL},
		},
		{
			name:  "invalid UTF-8 after the sniffed part",
			input: "name,email\n" + strings.Repeat("Ivan,ivan@example.com\n", 4000) + "Ив\xe0н,x@example.com\n",
			rows:  4000,
			errs:  []string{"t.csv:4002:3: invalid UTF-8: the file is not UTF-8: set recipients.encoding (windows-1251, koi8-r, utf-16)"},
			is:    []error{ErrInvalidUTF8},
		},
		{
			name:  "field too large",
			input: "name,note\nIvan,\"" + strings.Repeat("я", 20) + "\"\nOlga,ok\n",
			opts:  Options{MaxField: 16},
			rows:  1,
			errs:  []string{`t.csv:2:6: field too large: field "note" is 40 bytes, the limit is 16`},
			is:    []error{ErrFieldTooLarge},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rows []map[string]string
			var errs []error
			// A fatal problem close to the header may show up while the
			// header is read; it must be located all the same.
			r, err := NewReader(strings.NewReader(tt.input), "t.csv", tt.opts)
			if err != nil {
				errs = []error{err}
			} else {
				rows, _, errs = readAll(t, r)
			}
			if len(rows) != tt.rows {
				t.Errorf("got %d rows, want %d", len(rows), tt.rows)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.errs)
			}
			for i, want := range tt.is {
				if i < len(errs) && !errors.Is(errs[i], want) {
					t.Errorf("error %d = %v, want it to wrap %v", i, errs[i], want)
				}
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name, input string
		err         string
		warnings    []string
	}{
		{"empty file", "", "t.csv: the file is empty: expected a header row naming the fields", nil},
		{"duplicate", "email,name,email\n", `t.csv:1:12: bad header row: field name "email" repeats field 1`, nil},
		{"no name at all", " ;;\n", "t.csv:1:1: bad header row: the header row names no field", nil},
		{"spaces are trimmed with a warning", "email, Имя \nx@example.com,Иван\n", "", []string{`t.csv:1:7: field name " Имя " has surrounding spaces; using "Имя"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			_, err := NewReader(strings.NewReader(tt.input), "t.csv", Options{Warn: func(err error) { warnings = append(warnings, err.Error()) }})
			if got := fmt.Sprint(err); tt.err != "" && got != tt.err || tt.err == "" && err != nil {
				t.Errorf("err = %v; want %q", err, tt.err)
			}
			if fmt.Sprint(warnings) != fmt.Sprint(tt.warnings) {
				t.Errorf("warnings = %q; want %q", warnings, tt.warnings)
			}
		})
	}
}

// TestUnnamedColumns: the empty columns Excel leaves after the last in a
// CSV file it saves ("field 9 has no name" stopped a new user) are no
// fields, as is any column with no name, as long as it is empty in every
// row; a named column may be empty.
func TestUnnamedColumns(t *testing.T) {
	tests := []struct {
		name, input string
		header      []string
		rows        []map[string]string
		errs        []string
	}{
		{
			name:   "Excel's trailing columns",
			input:  "name;email;;;\r\nIvan;ivan@example.com;;;\r\nOlga;olga@example.com; ;;\r\n",
			header: []string{"name", "email"},
			rows:   []map[string]string{{"name": "Ivan", "email": "ivan@example.com"}, {"name": "Olga", "email": "olga@example.com"}},
		},
		{
			name:   "an empty column in between",
			input:  "name,,email\nIvan,,ivan@example.com\n",
			header: []string{"name", "email"},
			rows:   []map[string]string{{"name": "Ivan", "email": "ivan@example.com"}},
		},
		{
			name:   "a named column may be empty",
			input:  "name,email,note\nIvan,ivan@example.com,\n",
			header: []string{"name", "email", "note"},
			rows:   []map[string]string{{"name": "Ivan", "email": "ivan@example.com", "note": ""}},
		},
		{
			name:   "a value in a column with no name",
			input:  "name;email;;\nIvan;ivan@example.com;;\nOlga;olga@example.com;;Ёж\nPetr;petr@example.com;;\n",
			header: []string{"name", "email"},
			rows:   []map[string]string{{"name": "Ivan", "email": "ivan@example.com"}, {"name": "Petr", "email": "petr@example.com"}},
			errs:   []string{"t.csv:3:24: bad header row: field 4 has no name in the header row (line 1), but this row has a value there: name the field, or delete the value"},
		},
		{
			name:   "the fields are still counted",
			input:  "name;email;;\nIvan;ivan@example.com\n",
			header: []string{"name", "email"},
			errs:   []string{"t.csv:2: wrong number of fields: row has 2 fields, the header has 4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.input), "t.csv", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Header(), tt.header) {
				t.Errorf("header %q, want %q", r.Header(), tt.header)
			}
			rows, _, errs := readAll(t, r)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
				if !errors.Is(e, ErrHeader) && !errors.Is(e, ErrFieldCount) {
					t.Errorf("%v wraps neither ErrHeader nor ErrFieldCount", e)
				}
			}
			if fmt.Sprint(rows) != fmt.Sprint(tt.rows) || !slices.Equal(got, tt.errs) {
				t.Errorf("rows %v, errors %q\nwant %v, %q", rows, got, tt.rows, tt.errs)
			}
		})
	}
}

func TestFieldColumn(t *testing.T) {
	r, err := NewReader(strings.NewReader("имя;почта\nЁжик;\"ezhik\n@example.com\"\n"), "t.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if line, col := rec.Column(1); line != 2 || col != 6 {
		t.Errorf("Column(1) = %d:%d; want 2:6", line, col)
	}
}

func TestParseOptions(t *testing.T) {
	for in, want := range map[string]Encoding{"": Auto, "UTF8": UTF8, "cp1251": Windows1251, "KOI8-R": KOI8R, "utf-16": UTF16} {
		if got, err := ParseEncoding(in); err != nil || got != want {
			t.Errorf("ParseEncoding(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseEncoding("latin1"); err == nil {
		t.Error("ParseEncoding(latin1) succeeded")
	}
	for in, want := range map[string]rune{"auto": 0, ",": ',', ";": ';', `\t`: '\t', "tab": '\t'} {
		if got, err := ParseDelimiter(in); err != nil || got != want {
			t.Errorf("ParseDelimiter(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseDelimiter(":"); err == nil {
		t.Error("ParseDelimiter(:) succeeded")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("name,email\nIvan,ivan@example.com\n"))
	f.Add([]byte("\xef\xbb\xbfимя;почта\r\n\"a;b\";\"c\"\"d\"\r\n"))
	f.Add([]byte("\xff\xfea\x00\t\x00b\x00\n\x001\x00\t\x002\x00\n\x00"))
	f.Add([]byte("a,b\n\"unterminated\n"))
	f.Add([]byte("\xc9\xd7\xc1\xce,x\n1,2\n"))
	f.Add([]byte("sep=;\r\na;b\r\n\"x\ny\";2\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(strings.NewReader(string(data)), "f.csv", Options{MaxField: 1 << 10})
		if err != nil {
			var e *located.Error
			if !errors.As(err, &e) && !isJoinOfErrors(err) {
				t.Fatalf("header error is not located: %v", err)
			}
			return
		}
		for n := 0; ; n++ {
			if n > len(data)+2 {
				t.Fatal("Read does not reach io.EOF")
			}
			rec, err := r.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *located.Error
				if !errors.As(err, &e) {
					t.Fatalf("error is not an *located.Error: %v", err)
				}
				continue
			}
			if len(rec.Fields) != len(r.Header()) {
				t.Fatalf("record has %d fields, header %d", len(rec.Fields), len(r.Header()))
			}
			for i := range rec.Fields {
				rec.Column(i)
			}
		}
	})
}

func isJoinOfErrors(err error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		var le *located.Error
		if !errors.As(e, &le) {
			return false
		}
	}
	return true
}

// FuzzRoundTrip writes rows as spreadsheets export them, in every
// combination of delimiter, line end and encoding the reader supports, and
// reads them back: the same rows, on the lines they were written on.
func FuzzRoundTrip(f *testing.F) {
	f.Add("Иван\x1fivan@example.com\x1fдве\nстроки\x1eOlga\x1fo@example.com\x1f\"quoted\", with comma; and semicolon", uint8(0))
	f.Add("a\x1fb\x1fc", uint8(255))
	f.Add("Ёжик\x1f\x1f\t\x1e\x1e  \x1fx", uint8(37))
	f.Fuzz(func(t *testing.T, data string, shape uint8) {
		// The rows: \x1e ends a row, \x1f a field; three fields a row.
		var rows [][]string
		for _, line := range strings.Split(data, "\x1e") {
			fields := strings.Split(line, "\x1f")
			fields = append(fields, "", "", "")[:3]
			for i, v := range fields {
				v = strings.ToValidUTF8(v, "?")
				fields[i] = strings.Map(func(r rune) rune {
					if r == 0 || r == '\r' || r == '\x1f' || r == '\x1e' {
						return -1
					}
					return r
				}, v)
			}
			if !blank(fields) {
				rows = append(rows, fields)
			}
		}
		if len(rows) == 0 {
			return
		}
		delim := []rune{',', ';', '\t'}[shape%3]
		lineEnd := []string{"\n", "\r\n", "\r"}[shape/3%3]
		enc := []string{"utf-8", "utf-8-bom", "utf-16", "windows-1251", "koi8-r"}[shape/9%5]

		var text strings.Builder
		w := csv.NewWriter(&text)
		w.Comma = delim
		w.Write([]string{"name", "email", "note"})
		w.WriteAll(rows)
		written := text.String()
		if lineEnd != "\n" {
			written = strings.ReplaceAll(written, "\n", lineEnd)
		}
		var raw []byte
		opts := Options{MaxField: 1 << 20}
		switch enc {
		case "utf-8":
			raw = []byte(written)
		case "utf-8-bom":
			raw = append([]byte("\xef\xbb\xbf"), written...)
		case "utf-16":
			b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(written)
			if err != nil {
				t.Fatal(err)
			}
			raw = []byte(b)
		case "windows-1251", "koi8-r":
			cm := charmap.Windows1251
			opts.Encoding = Windows1251
			if enc == "koi8-r" {
				cm, opts.Encoding = charmap.KOI8R, KOI8R
			}
			b, err := cm.NewEncoder().String(written)
			if err != nil {
				return // not every character has a byte in a legacy charset
			}
			raw = []byte(b)
		}

		r, err := NewReader(bytes.NewReader(raw), "t.csv", opts)
		if err != nil {
			t.Fatalf("%s, %q, %q line ends: %v\n%q", enc, delim, lineEnd, err, written)
		}
		if r.Delimiter() != delim {
			t.Fatalf("delimiter %q, want %q", r.Delimiter(), delim)
		}
		got, lines, errs := readAll(t, r)
		if len(errs) > 0 {
			t.Fatalf("%s, %q, %q line ends: %v\n%q", enc, delim, lineEnd, errs, written)
		}
		if len(got) != len(rows) {
			t.Fatalf("%s, %q, %q line ends: %d rows, want %d\n%q", enc, delim, lineEnd, len(got), len(rows), written)
		}
		line := 2
		for i, row := range rows {
			if lines[i] != line {
				t.Fatalf("%s, %q, %q line ends: row %d on line %d, want %d\n%q", enc, delim, lineEnd, i+1, lines[i], line, written)
			}
			line += 1 + strings.Count(strings.Join(row, ""), "\n")
			for j, name := range []string{"name", "email", "note"} {
				if got[i][name] != row[j] {
					t.Fatalf("%s, %q, %q line ends: row %d %s = %q, want %q\n%q", enc, delim, lineEnd, i+1, name, got[i][name], row[j], written)
				}
			}
		}
	})
}

// TestWriterReadsBack: rows written with NewWriter read back as they were,
// in every delimiter, with the BOM taken for UTF-8.
func TestWriterReadsBack(t *testing.T) {
	rows := [][]string{{"name", "email"}, {"Иванов, Пётр", "ivan@example.com"}, {"Olga \"O\"", "olga;x@example.com"}}
	for _, delim := range []rune{',', ';', '\t'} {
		var b bytes.Buffer
		w, err := NewWriter(&b, delim)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAll(rows)
		r, err := NewReader(&b, "out.csv", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if enc, _ := r.Encoding(); enc != UTF8 || r.Delimiter() != delim {
			t.Errorf("%q: read as %s with %q", delim, enc, r.Delimiter())
		}
		for _, want := range rows[1:] {
			rec, err := r.Read()
			if err != nil || !slices.Equal(rec.Fields, want) {
				t.Errorf("%q: %v %v, want %q", delim, rec, err, want)
			}
		}
	}
}

func TestCountLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.csv")
	os.WriteFile(path, []byte("name,note\nAnna,\"two\nlines\"\nBoris,x"), 0o644)
	if n, err := CountLines(path); n != 3 || err != nil {
		t.Errorf("CountLines = %d, %v; want 3", n, err)
	}
	if _, err := CountLines(filepath.Join(t.TempDir(), "none.csv")); err == nil {
		t.Error("no error for a missing file")
	}
}

// TestGuessCyrillic: Windows-1251 and KOI8-R are told apart by which
// letters follow which, whatever the case: all-caps surnames in a list
// with a Latin header row were read as KOI8-R by a count of cases.
func TestGuessCyrillic(t *testing.T) {
	texts := map[string]string{
		"all-caps surnames": "surname;name;email\nИВАНОВ;Пётр;ivanov@example.com\nСИДОРОВА;Анна;sidorova@example.com\nКУЗНЕЦОВ;Михаил;kuznetsov@example.com\nСМИРНОВА;Елена;smirnova@example.com\n",
		"names and groups":  "Фамилия,Имя,Отчество,Группа\nПетров,Иван,Сергеевич,ИВТ-21\nОрлова,Мария,Андреевна,ИВТ-22\n",
		"a sentence":        "note\nЗанятия переносятся на понедельник, аудитория пятьсот один\n",
	}
	for name, text := range texts {
		for _, cm := range []struct {
			enc Encoding
			cm  *charmap.Charmap
		}{{Windows1251, charmap.Windows1251}, {KOI8R, charmap.KOI8R}} {
			b, err := cm.cm.NewEncoder().Bytes([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			enc, close := guessCyrillic(b)
			if enc != cm.enc || close {
				t.Errorf("%s in %s: guessed %s (close %v)", name, cm.enc, enc, close)
			}
		}
	}
	// Two surnames: too little to tell.
	b, _ := charmap.Windows1251.NewEncoder().Bytes([]byte("Ли;Ю\n"))
	if _, close := guessCyrillic(b); !close {
		t.Error("two letters' worth of text: not flagged as a weak guess")
	}
}
