package recipients

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/located"
)

// odsContent wraps rows (table:table-row elements) in a document.
func odsContent(rows string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="T">` +
		rows + `</table:table></office:spreadsheet></office:body></office:document-content>`
}

// readODS reads the rows of XML as Open reads a sheet of an .ods.
func readODS(t *testing.T, xml string, opts Options) (header []string, rows []string, errs []string) {
	t.Helper()
	if opts.MaxField == 0 {
		opts.MaxField = DefaultMaxField
	}
	src, sheet, err := newODSRows(strings.NewReader(xml), io.NopCloser(nil), opts.Sheet, opts.MaxField)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	r, err := newSheetReader(src, "t.ods", sheet, opts)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return r.Header(), rows, errs
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		rows = append(rows, fmt.Sprintf("%d:%s", rec.Line, strings.Join(rec.Fields, "|")))
	}
}

func TestODS(t *testing.T) {
	const (
		cell   = `<table:table-cell office:value-type="string"><text:p>%s</text:p></table:table-cell>`
		header = `<table:table-row>` + `<table:table-cell><text:p>a</text:p></table:table-cell><table:table-cell><text:p>b</text:p></table:table-cell><table:table-cell><text:p>c</text:p></table:table-cell>` + `</table:table-row>`
	)
	tests := []struct {
		name, rows string
		header     []string
		want       []string
		errs       []string
	}{
		{
			name: "repeated rows and cells",
			rows: header + `<table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-repeated="2"><text:p>x</text:p></table:table-cell><table:table-cell/></table:table-row>` +
				`<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>`,
			want: []string{"2:x|x|", "3:x|x|"},
		},
		{
			name: "rows in groups, empty rows between",
			rows: `<table:table-header-rows>` + header + `</table:table-header-rows><table:table-row><table:table-cell/></table:table-row>` +
				`<table:table-row-group><table:table-rows><table:table-row><table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>z</text:p></table:table-cell></table:table-row></table:table-rows></table:table-row-group>`,
			want: []string{"3:||z"},
		},
		{
			name: "merged across and down",
			rows: header + `<table:table-row><table:table-cell table:number-columns-spanned="2" table:number-rows-spanned="2"><text:p>m</text:p></table:table-cell><table:covered-table-cell/><table:table-cell><text:p>1</text:p></table:table-cell></table:table-row>` +
				`<table:table-row><table:covered-table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>2</text:p></table:table-cell></table:table-row>` +
				`<table:table-row><table:covered-table-cell/><table:table-cell><text:p>3</text:p></table:table-cell></table:table-row>`,
			want: []string{"2:m|m|1", "3:m|m|2", "4:|3|"},
		},
		{
			name:   "a merged header names the columns it covers",
			rows:   `<table:table-row>` + fmt.Sprintf(cell, "id") + `<table:table-cell table:number-columns-spanned="3"><text:p>Телефон</text:p></table:table-cell><table:covered-table-cell table:number-columns-repeated="2"/></table:table-row>` + `<table:table-row>` + fmt.Sprintf(cell, "1") + `</table:table-row>`,
			header: []string{"id", "Телефон", "Телефон_2", "Телефон_3"},
			want:   []string{"2:1|||"},
		},
		{
			name: "text: spaces, tabs, breaks, spans, links; no comments, no notes",
			rows: header + `<table:table-row><table:table-cell><office:annotation><text:p>no</text:p></office:annotation><text:p>a<text:s/>b<text:s text:c="3"/>c<text:tab/>d<text:line-break/>e <text:span>f<text:a>g</text:a></text:span><text:note><text:note-body><text:p>no</text:p></text:note-body></text:note></text:p><text:h>h</text:h></table:table-cell></table:table-row>`,
			want: []string{"2:a b   c\td\ne fg\nh||"},
		},
		{
			name: "values where there is no text",
			rows: header + `<table:table-row><table:table-cell office:value-type="float" office:value="0.30000000000000004"/><table:table-cell office:value-type="date" office:date-value="2026-09-01T00:00:00"/><table:table-cell office:value-type="boolean" office:boolean-value="true"/></table:table-row>` +
				`<table:table-row><table:table-cell office:value-type="percentage" office:value="0.25"/><table:table-cell office:value-type="string" office:string-value="s"/><table:table-cell office:value-type="time" office:time-value="PT12H30M00S"/></table:table-row>`,
			want: []string{"2:0.30000000000000004|2026-09-01|TRUE", "3:0.25|s|PT12H30M00S"},
		},
		{
			name: "too many rows",
			rows: header + `<table:table-row table:number-rows-repeated="2000000"><table:table-cell><text:p>x</text:p></table:table-cell></table:table-row>`,
			errs: []string{"t.ods:T: row 2: the sheet says it has over 1048576 rows, which no spreadsheet has"},
		},
		{
			name: "too many columns",
			rows: header + `<table:table-row><table:table-cell table:number-columns-repeated="16384"/><table:table-cell><text:p>x</text:p></table:table-cell></table:table-row>`,
			errs: []string{"t.ods:T!XFE2: read the spreadsheet's XML: the row has over 16384 columns, which no spreadsheet has"},
		},
		{
			name: "broken XML, after the good rows",
			rows: header + `<table:table-row>` + fmt.Sprintf(cell, "1") + `</table:table-row><table:table-row><table:table-cell><text:p>2</text:p></table:table-row>`,
			want: []string{"2:1||"},
			errs: []string{"t.ods:T!A3: read the spreadsheet's XML: XML syntax error on line 2: element <table-cell> closed by </table-row>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, rows, errs := readODS(t, odsContent(tt.rows), Options{})
			if tt.header == nil && errs == nil {
				tt.header = []string{"a", "b", "c"}
			}
			if tt.header != nil && !slices.Equal(header, tt.header) || !slices.Equal(rows, tt.want) || !slices.Equal(errs, tt.errs) {
				t.Errorf("header %q, rows %q, errors %q\nwant %q, %q, %q", header, rows, errs, tt.header, tt.want, tt.errs)
			}
		})
	}
}

// FuzzODS reads the rows of a sheet of an .ods file's content.xml:
// whatever they hold, rows come in order, with a field for every name,
// and every problem is located. The fuzzer changes the rows alone (the
// namespaces around them would not make it far).
func FuzzODS(f *testing.F) {
	f.Add(`<table:table-row><table:table-cell><text:p>id</text:p></table:table-cell><table:table-cell table:number-columns-spanned="2"><text:p>Тел</text:p></table:table-cell><table:covered-table-cell/></table:table-row>` +
		`<table:table-row><table:table-cell office:value-type="float" office:value="1"><text:p>001</text:p></table:table-cell><table:table-cell table:number-rows-spanned="2"><office:annotation><text:p>x</text:p></office:annotation><text:p>a<text:s text:c="2"/></text:p><text:p>c</text:p></table:table-cell></table:table-row>` +
		`<table:table-row table:number-rows-repeated="9"><table:covered-table-cell table:number-columns-repeated="3"/></table:table-row>`)
	f.Add(`<table:table-header-rows><table:table-row><table:table-cell><text:p>a</text:p></table:table-cell></table:table-row></table:table-header-rows><table:table-row-group><table:table-row table:number-rows-repeated="2"><table:table-cell office:value-type="boolean" office:boolean-value="true"/></table:table-row></table:table-row-group>`)
	f.Fuzz(func(t *testing.T, rows string) {
		src, name, err := newODSRows(strings.NewReader(odsContent(rows)), io.NopCloser(nil), "", 1<<10)
		if err != nil {
			t.Fatalf("the table is not found: %v", err)
		}
		r, err := newSheetReader(src, "f.ods", name, Options{MaxField: 1 << 10})
		if err != nil {
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					if !errors.As(e, new(*located.Error)) {
						t.Fatalf("header error is not located: %v", e)
					}
				}
			} else if !errors.As(err, new(*located.Error)) {
				t.Fatalf("header error is not located: %v", err)
			}
			return
		}
		last := 0
		for n := 0; n < 10000; n++ {
			rec, err := r.Read()
			if err == io.EOF {
				return
			}
			if err != nil && !errors.As(err, new(*located.Error)) {
				t.Fatalf("error is not located: %v", err)
			}
			if rec == nil {
				continue
			}
			if rec.Line <= last || rec.Line > maxSheetRows {
				t.Fatalf("row %d after row %d", rec.Line, last)
			}
			last = rec.Line
			if err == nil && len(rec.Fields) != len(r.Header()) {
				t.Fatalf("%d fields, %d names", len(rec.Fields), len(r.Header()))
			}
		}
	})
}
