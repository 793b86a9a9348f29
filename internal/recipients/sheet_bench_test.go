package recipients

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchRows is the size of the lists the benchmarks read.
const benchRows = 100_000

// BenchmarkSheet reads a list of 100,000 rows as an Excel workbook and as
// an OpenDocument spreadsheet, written as Excel and LibreOffice write them
// (shared strings; a text paragraph per cell), and as the same CSV: the
// time and allocations of reading every row, and the peak of the live
// heap while reading (peak-heap-MB).
//
//	go test ./internal/recipients -run XXX -bench Sheet -benchtime 3x
func BenchmarkSheet(b *testing.B) {
	dir := b.TempDir()
	files := map[string]func(string, int) error{"xlsx": writeBenchXLSX, "ods": writeBenchODS, "csv": writeBenchCSV}
	for _, ext := range []string{"xlsx", "ods", "csv"} {
		path := filepath.Join(dir, "list."+ext)
		if err := files[ext](path, benchRows); err != nil {
			b.Fatal(err)
		}
		b.Run(ext, func(b *testing.B) {
			peak := watchHeap()
			b.ReportAllocs()
			for b.Loop() {
				r, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Read()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				r.Close()
				if n != benchRows {
					b.Fatalf("%d rows", n)
				}
			}
			b.ReportMetric(peak()/1e6, "peak-heap-MB")
			fi, _ := os.Stat(path)
			b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
		})
	}
}

// watchHeap samples the live heap until the returned function, which
// gives its peak in bytes, is called.
func watchHeap() func() float64 {
	runtime.GC()
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
	)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				mu.Lock()
				peak = max(peak, sample[0].Value.Uint64())
				mu.Unlock()
			}
		}
	}()
	return func() float64 {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return float64(peak)
	}
}

// benchRow is row i of the benchmarks' list: an ID, a name, an address,
// a date, a group, a grade.
func benchRow(i int) (id int, name, email string, date int, group string, grade float64) {
	return 100000 + i, fmt.Sprintf("Студентова Анна %d", i), fmt.Sprintf("student%d@example.edu", i), 46266 + i%365, fmt.Sprintf("ИУ7-%d", i%40), float64(i%50) / 10
}

func writeBenchCSV(path string, rows int) error {
	var b strings.Builder
	b.WriteString("id;ФИО;email;дата;группа;оценка\n")
	for i := range rows {
		id, name, email, date, group, grade := benchRow(i)
		t := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, date)
		fmt.Fprintf(&b, "%06d;%s;%s;%s;%s;%g\n", id, name, email, t.Format("02.01.2006"), group, grade)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeBenchXLSX writes a workbook as Excel does: text in the shared
// strings, the ID in a 000000 format, the date in dd.mm.yyyy.
func writeBenchXLSX(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	part := func(name, text string) {
		w, _ := zw.Create(name)
		io.WriteString(w, text)
	}
	const main = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	part("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>`)
	part("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	part("xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook `+main+` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	part("xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`)
	part("xl/styles.xml", `<?xml version="1.0" encoding="UTF-8"?><styleSheet `+main+`><numFmts count="2"><numFmt numFmtId="164" formatCode="000000"/><numFmt numFmtId="165" formatCode="dd\.mm\.yyyy"/></numFmts><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs></styleSheet>`)

	var sst strings.Builder
	strs := 0
	str := func(s string) int {
		fmt.Fprintf(&sst, "<si><t>%s</t></si>", s)
		strs++
		return strs - 1
	}
	w, _ := zw.Create("xl/worksheets/sheet1.xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><worksheet %s><dimension ref="A1:F%d"/><sheetData>`, main, rows+1)
	fmt.Fprint(w, `<row r="1">`)
	for i, h := range []string{"id", "ФИО", "email", "дата", "группа", "оценка"} {
		fmt.Fprintf(w, `<c r="%c1" t="s"><v>%d</v></c>`, 'A'+i, str(h))
	}
	fmt.Fprint(w, `</row>`)
	for i := range rows {
		id, name, email, date, group, grade := benchRow(i)
		r := i + 2
		fmt.Fprintf(w, `<row r="%d"><c r="A%d" s="1"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c><c r="C%d" t="s"><v>%d</v></c><c r="D%d" s="2"><v>%d</v></c><c r="E%d" t="s"><v>%d</v></c><c r="F%d"><v>%g</v></c></row>`,
			r, r, id, r, str(name), r, str(email), r, date, r, str(group), r, grade)
	}
	fmt.Fprint(w, `</sheetData><mergeCells count="1"><mergeCell ref="H1:I1"/></mergeCells></worksheet>`)
	part("xl/sharedStrings.xml", fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><sst %s count="%d" uniqueCount="%d">%s</sst>`, main, strs, strs, sst.String()))
	return zw.Close()
}

// writeBenchODS writes a spreadsheet as LibreOffice does: each cell's
// value, and its text as shown.
func writeBenchODS(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "mimetype", Method: zip.Store})
	io.WriteString(w, odsMediaType)
	w, _ = zw.Create("content.xml")
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-column table:number-columns-repeated="6"/><table:table-row>`)
	for _, h := range []string{"id", "ФИО", "email", "дата", "группа", "оценка"} {
		fmt.Fprintf(w, `<table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell>`, h)
	}
	fmt.Fprint(w, `</table:table-row>`)
	for i := range rows {
		id, name, email, date, group, grade := benchRow(i)
		t := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, date)
		fmt.Fprintf(w, `<table:table-row><table:table-cell office:value-type="float" office:value="%d"><text:p>%06d</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="%s"><text:p>%s</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="%g"><text:p>%g</text:p></table:table-cell></table:table-row>`,
			id, id, name, email, t.Format("2006-01-02"), t.Format("02.01.2006"), group, grade, grade)
	}
	fmt.Fprint(w, `<table:table-row table:number-rows-repeated="948575"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>`)
	return zw.Close()
}

// TestBenchFiles: the benchmarks' files read as the CSV does.
func TestBenchFiles(t *testing.T) {
	dir := t.TempDir()
	var want []map[string]string
	for _, ext := range []string{"csv", "xlsx", "ods"} {
		path := filepath.Join(dir, "list."+ext)
		if err := map[string]func(string, int) error{"xlsx": writeBenchXLSX, "ods": writeBenchODS, "csv": writeBenchCSV}[ext](path, 50); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows, _, errs := readAll(t, r)
		r.Close()
		if ext == "csv" {
			want = rows
		}
		if len(errs) > 0 || len(rows) != 50 || fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Errorf("%s: %v, %v\nwant %v", ext, rows[:1], errs, want[:1])
		}
	}
}
