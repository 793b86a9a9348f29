package report

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// grouped is a mailing of a list grouped by email (one letter per
// student, each row a course), with a row that makes no letter, and a
// history of its letters: the first delivered then bounced, the second
// refused, the third never tried.
func grouped(t *testing.T) (*config.Config, *journal.History, []*letter.Letter) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.email}}\n\n{{range .Rows}}{{.course}}: {{.grade}}\n{{end}}"), 0o644)
	os.WriteFile(filepath.Join(dir, "grades.csv"), []byte("email;course;grade\n"+
		"a@example.com;Физика;05\n"+ // 2: group a
		"b@example.com;Физика;4\n"+ // 3: group b
		"c@example.com;Химия;3\n"+ // 4: group c
		"A@example.com;Химия;=1+1\n"+ // 5: group a
		"bad;Химия;5\n"+ // 6: no letter
		"b@example.com;Химия\n"+ // 7: ragged: no letter
		"b@example.com;Биология;5;extra\n"), 0o644) // 8: ragged too
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Campaign: "m", Template: "letter.txt", Recipients: config.Recipients{File: "grades.csv", GroupBy: "email"}}
	cfg.Resolve()
	var letters []*letter.Letter
	campaign.New(cfg, campaign.Options{}).Envelopes(context.Background(), func(l *letter.Letter, _ *recipients.Record) error {
		letters = append(letters, l)
		return nil
	})
	if len(letters) != 3 {
		t.Fatalf("%d letters, want 3", len(letters))
	}
	sent := time.Date(2026, 12, 7, 7, 30, 15, 600e6, time.UTC) // both files say :15
	rcpt := func(i int) string { return letters[i].Recipients[0] }
	delivered := journal.Record{Time: sent, Key: letters[0].Key, Line: 2, Rcpt: []string{rcpt(0)}, State: journal.Delivered, Phase: "EOD", Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4F2A"}
	h := &journal.History{Letters: map[letter.Key]uint64{}, Outcomes: map[letter.Key]*journal.Outcome{
		letters[0].Key: {Last: delivered, Sent: delivered, Rcpts: map[string]journal.RcptOutcome{
			rcpt(0): {Rcpt: rcpt(0), State: journal.Bounced, Code: 550, Enhanced: "5.1.1", Text: "550 5.1.1 <a@example.com>: Recipient address rejected"},
		}},
		letters[1].Key: {Last: journal.Record{Time: sent.Add(time.Minute), Key: letters[1].Key, Line: 3, State: journal.Failed}, Sent: journal.Record{Time: sent.Add(time.Minute), Key: letters[1].Key, Line: 3, State: journal.Failed}, Rcpts: map[string]journal.RcptOutcome{
			rcpt(1): {Rcpt: rcpt(1), State: journal.Failed, Phase: "RCPT", Code: 550, Enhanced: "5.1.1", Text: "=cmd|' /C calc'!A0"},
		}},
	}}
	for k := range h.Outcomes {
		h.Letters[k] = 0
	}
	return cfg, h, letters
}

// TestRowsGrouped: every row of a grouped list, in file order, gets its
// group's letter's state, time and replies; rows that make no letter are
// invalid, each with its own problem.
func TestRowsGrouped(t *testing.T) {
	cfg, h, letters := grouped(t)
	rep, _, _ := Make(context.Background(), cfg, campaign.Options{}, h)
	var rows []Row
	if err := rep.Rows(context.Background(), func(r Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line  int
		state journal.State
		group int // the letter, or -1
	}{{2, journal.Bounced, 0}, {3, journal.Failed, 1}, {4, NotSent, 2}, {5, journal.Bounced, 0}, {6, journal.Invalid, -1}, {7, journal.Invalid, -1}, {8, journal.Invalid, -1}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Line != w.line || r.State != w.state {
			t.Errorf("row %d: line %d, %s; want line %d, %s", i, r.Line, r.State, w.line, w.state)
			continue
		}
		var o *journal.Outcome
		if w.group >= 0 {
			o = h.Outcomes[letters[w.group].Key]
		}
		switch {
		case o == nil && (!r.Time.IsZero() || r.Reply != "" || r.Bounce != ""):
			t.Errorf("line %d, never sent: %+v", r.Line, r)
		case o != nil && !r.Time.Equal(o.Sent.Time):
			t.Errorf("line %d: time %v, want %v", r.Line, r.Time, o.Sent.Time)
		}
	}
	if r := rows[0]; r.Reply != "at EOD: 250 2.0.0 Ok: queued as 4F2A" || r.Bounce != "the address does not exist (no such mailbox) (550 5.1.1 <a@example.com>: Recipient address rejected)" {
		t.Errorf("bounced row: reply %q, bounce %q", r.Reply, r.Bounce)
	}
	if r := rows[4]; !strings.HasPrefix(r.Note, `field "email": header To: "bad"`) {
		t.Errorf("invalid row's note %q", r.Note)
	}
	if r := rows[5]; !strings.Contains(r.Note, "row has 2 fields, the header has 3") || strings.Contains(r.Note, "grades.csv:") {
		t.Errorf("ragged row's note %q", r.Note)
	}
}

// TestWriteRows: the CSV and the XLSX hold every row as the list has it,
// with the columns added after the list's own in every row (a short row
// padded, a long row's extra field after them), the time in the zone
// asked for, a text that would be a formula kept as text, the header
// frozen and filtered, and the time a real date.
func TestWriteRows(t *testing.T) {
	cfg, h, _ := grouped(t)
	rep, sum, _ := Make(context.Background(), cfg, campaign.Options{}, h)
	msk := time.FixedZone("MSK", 3*60*60)

	var csvOut bytes.Buffer
	n, err := WriteRowsCSV(context.Background(), &csvOut, sum.Delimiter, msk, rep)
	if err != nil || n != 7 {
		t.Fatalf("WriteRowsCSV: %d rows, %v", n, err)
	}
	rr, err := recipients.NewReader(bytes.NewReader(csvOut.Bytes()), "out.csv", recipients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []string{"email", "course", "grade", "status", "time", "account", "reply", "bounce", "note"}
	if !slices.Equal(rr.Header(), wantHeader) || rr.Delimiter() != ';' || !bytes.HasPrefix(csvOut.Bytes(), []byte("\ufeff")) {
		t.Fatalf("header %q, delimiter %q", rr.Header(), rr.Delimiter())
	}
	var csvRows [][]string
	for {
		rec, err := rr.Read()
		if rec == nil {
			break
		}
		_ = err // the long row is ragged here too
		csvRows = append(csvRows, slices.Clone(rec.Fields))
	}
	if len(csvRows) != 7 {
		t.Fatalf("%d rows read back:\n%s", len(csvRows), csvOut.String())
	}
	if got := csvRows[0]; !slices.Equal(got[:5], []string{"a@example.com", "Физика", "05", "bounced", "2026-12-07 10:30:15"}) {
		t.Errorf("row 2: %q", got)
	}
	if got := csvRows[1]; got[3] != "failed" || got[6] != `the address does not exist (no such mailbox) (at RCPT: 550 5.1.1 =cmd|' /C calc'!A0)` {
		t.Errorf("row 3: %q", got)
	}
	if got := csvRows[5]; len(got) != 9 || got[2] != "" || got[3] != "invalid" {
		t.Errorf("the short row: %q", got)
	}
	if got := csvRows[6]; len(got) != 10 || got[2] != "5" || got[3] != "invalid" || got[9] != "extra" {
		t.Errorf("the long row: %q", got)
	}

	var xlsxOut bytes.Buffer
	if n, err := WriteRowsXLSX(context.Background(), &xlsxOut, msk, rep); err != nil || n != 7 {
		t.Fatalf("WriteRowsXLSX: %d rows, %v", n, err)
	}
	f, err := excelize.OpenReader(&xlsxOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet := f.GetSheetName(0)
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil || len(rows) != 8 || !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("rows %q, %v", rows, err)
	}
	for i, row := range rows[1:] {
		want := csvRows[i]
		for len(want) > 0 && want[len(want)-1] == "" {
			want = want[:len(want)-1] // GetRows leaves out empty cells at the end
		}
		got := slices.Clone(row)
		if len(got) > 4 && got[4] != "" { // a date cell: the serial number
			serial, err := strconv.ParseFloat(got[4], 64)
			if err != nil {
				t.Fatalf("row %d: time %q", i+2, got[4])
			}
			at, _ := excelize.ExcelDateToTime(serial, false)
			got[4] = at.Round(time.Second).Format(TimeLayout)
		}
		want = slices.Clone(want)
		for c := 6; c < min(len(want), 9); c++ {
			want[c] = strings.TrimPrefix(want[c], "'") // text in a cell needs no quote
		}
		if !slices.Equal(got, want) {
			t.Errorf("row %d: xlsx %q\ncsv %q", i+2, got, want)
		}
	}
	if style, _ := f.GetCellStyle(sheet, "E2"); style == 0 {
		t.Error("the time has no date format")
	} else if s, _ := f.GetStyle(style); s.CustomNumFmt == nil || *s.CustomNumFmt != "yyyy-mm-dd hh:mm:ss" {
		t.Errorf("the time's format: %+v", s)
	}
	if p, err := f.GetPanes(sheet); err != nil || !p.Freeze || p.YSplit != 1 {
		t.Errorf("panes %+v, %v", p, err)
	}
	if !slices.ContainsFunc(f.GetDefinedName(), func(d excelize.DefinedName) bool {
		return d.Name == "_xlnm._FilterDatabase" && strings.HasSuffix(d.RefersTo, "!$A$1:$I$8")
	}) {
		t.Errorf("no filter over the rows: %+v", f.GetDefinedName())
	}
}

// TestOutHeader: a column the list has already is not repeated, so the
// file reads back as a list.
func TestOutHeader(t *testing.T) {
	got := outHeader([]string{"name", "Status", "note (mailmerge)", "note"})
	want := []string{"name", "Status", "note (mailmerge)", "note", "status (mailmerge)", "time", "account", "reply", "bounce", "note (mailmerge) (mailmerge)"}
	if !slices.Equal(got, want) {
		t.Errorf("outHeader = %q", got)
	}
}

// TestUnlocated: a problem said on its row needs no place.
func TestUnlocated(t *testing.T) {
	for problem, want := range map[string]string{
		"p.csv:5:9: field x": "field x", "p.csv:5: row x": "row x", "p.csv: empty": "empty", "other.csv:5: x": "other.csv:5: x", "p.csv:5:9: 12: x": "12: x",
	} {
		if got := unlocated("p.csv", problem); got != want {
			t.Errorf("unlocated(%q) = %q, want %q", problem, got, want)
		}
	}
}

// TestInert: a server's text that a spreadsheet would run as a formula is
// written as text.
func TestInert(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"550 5.1.1 no": "550 5.1.1 no", "": "", "a=b": "a=b",
	} {
		if got := inert(in); got != want {
			t.Errorf("inert(%q) = %q, want %q", in, got, want)
		}
	}
}
