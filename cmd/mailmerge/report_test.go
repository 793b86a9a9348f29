package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/report"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testenv"
)

// TestReportOut sends a mailing over SMTP with every outcome (delivered,
// refused, deferred, unknown), an invalid row, a suppressed one and rows
// --limit leaves, records a bounce read from a real IMAP mailbox, edits
// the list (a row above them all), and has report --out write the list
// back as CSV and as XLSX. Each file is read back and every row compared
// with what the journal says of its address: its state, and when it was
// last tried. bounces names the line now and the line when sent.
// LibreOffice reads the XLSX as the CSV says it.
func TestReportOut(t *testing.T) {
	testdovecot.Need(t)
	dir := t.TempDir()
	ca := caIn(t, dir)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}})
	smtpPort, stop, err := startScriptServer(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Kafedra <kafedra@example.org>\nTo: {{.name}} <{{.email}}>\nSubject: Ведомость\n\nЗдравствуйте, {{.name}}: {{.id}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "unsubscribed.txt"), []byte("ivan@example.com\n"), 0o644)
	rows := "001;Анна;anna@example.com\n002;Bad;bad@example\n003;Иван;ivan@example.com\n004;Пётр;fail-petr@example.com\n" +
		"005;Dan;later-dan@example.com\n006;Eve;lost-eve@example.com\n007;Olga;olga@example.com\n008;Petr;petr@example.com\n"
	list := filepath.Join(dir, "people.csv")
	os.WriteFile(list, []byte("id;name;email\n"+rows), 0o644)
	cfg := filepath.Join(dir, "mailing.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`campaign: course
template: letter.txt
recipients:
  file: people.csv
  suppress: unsubscribed.txt
smtp:
  host: 127.0.0.1
  port: %d
  security: none
send:
  concurrency: 1
  max_attempts: 2
  retry_delay: 10ms
imap:
  host: 127.0.0.1
  port: %d
  security: tls
  username: kafedra
  ca_file: ca.pem
  server_name: localhost
`, smtpPort, v.Port)), 0o644)
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	mm := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(context.Background(), append(args, "-c", cfg), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := mm("send", "--yes", "--skip-invalid", "--limit", "4"); code != exitSomeFailed || !strings.Contains(out, "delivered 1, failed 1, deferred 1, unknown 1, skipped 2, invalid 1, suppressed 1 (of 8)") {
		t.Fatalf("send: exit %d\n%s", code, out)
	}

	// Anna's mailbox turns out not to exist: her server's report comes back.
	journalPath := filepath.Join(dir, "course.journal")
	var annID string
	journal.Read(journalPath, func(r journal.Record) error {
		if r.State == journal.Delivered && slices.Contains(r.Rcpt, "anna@example.com") {
			annID = r.MessageID
		}
		return nil
	})
	envid, _, _ := strings.Cut(strings.Trim(annID, "<>"), "@")
	v.Deliver(t, "kafedra", []byte(strings.ReplaceAll(fmt.Sprintf(`From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: kafedra@example.org
Subject: Undelivered Mail Returned to Sender
Date: %s
Message-ID: <report-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your letter could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Original-Envelope-Id: %s

Final-Recipient: rfc822; anna@example.com
Original-Recipient: rfc822;anna@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown

--b
Content-Type: text/rfc822-headers

Message-ID: %s

--b--
`, time.Now().UTC().Format(time.RFC1123Z), envid, annID), "\n", "\r\n")))

	// A row is added above them all: every row is a line further down.
	os.WriteFile(list, []byte("id;name;email\n000;New;new@example.com\n"+rows), 0o644)
	code, out := mm("bounces")
	if code != 0 || !strings.Contains(out, "people.csv:3 (line 2 when sent): bounced anna@example.com: the recipient's mail server sent it back: the address does not exist (no such mailbox) (550 5.1.1 ") {
		t.Fatalf("bounces: exit %d\n%s", code, out)
	}

	csvPath, xlsxPath := filepath.Join(dir, "status.csv"), filepath.Join(dir, "status.xlsx")
	for _, path := range []string{csvPath, xlsxPath} {
		if code, out := mm("report", "--out", path); code != 0 || !strings.Contains(out, "wrote 9 rows with their status to "+path) {
			t.Fatalf("report --out %s: exit %d\n%s", filepath.Base(path), code, out)
		}
	}

	// What the journal says of each address: the state of the last record
	// that names it (a report's among them), and when a send last tried it.
	type fate struct {
		state journal.State
		tried time.Time
	}
	fates := map[string]fate{}
	invalidLines := map[int]bool{} // lines when sent
	err = journal.Read(journalPath, func(r journal.Record) error {
		if r.State == journal.Invalid {
			invalidLines[r.Line] = true
		}
		for _, rej := range r.Rejected {
			fates[rej.Rcpt] = fate{rej.Final(), r.Time}
		}
		for _, rcpt := range r.Rcpt {
			f := fate{r.Final(), fates[rcpt].tried}
			if r.Report == "" {
				f.tried = r.Time
			}
			fates[rcpt] = f
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(line int, fields []string) (state, tried string) {
		email := fields[2]
		f, ok := fates[email]
		switch {
		case ok && f.state != journal.Attempt:
			return string(f.state), f.tried.In(time.Local).Format(report.TimeLayout)
		case invalidLines[line-1]:
			return "invalid", ""
		case email == "ivan@example.com":
			return "suppressed", ""
		}
		return "not sent", ""
	}
	listRows := readList(t, list)
	wantStates := []string{"not sent", "bounced", "invalid", "suppressed", "failed", "deferred", "unknown", "not sent", "not sent"}

	// The CSV reads back as a recipient list: the list's rows, in order,
	// each with its state and time as the journal has them.
	csvRows := readList(t, csvPath)
	if len(csvRows) != len(listRows) {
		t.Fatalf("%d rows in the CSV, %d in the list", len(csvRows), len(listRows))
	}
	for i, row := range csvRows {
		state, tried := want(listRows[i].line, listRows[i].fields)
		if !slices.Equal(row.fields[:3], listRows[i].fields) || row.fields[3] != state || row.fields[4] != tried || row.fields[3] != wantStates[i] {
			t.Errorf("CSV line %d: %q; the journal says %s at %q", row.line, row.fields, state, tried)
		}
	}
	if got := csvRows[1].fields; !strings.HasPrefix(got[6], "at EOD: 250 ") || !strings.Contains(got[7], "550 5.1.1 <anna@example.com>: Recipient address rejected") {
		t.Errorf("the bounced row's reply and bounce: %q", got)
	}

	// The XLSX: the same rows, the header frozen and filtered, each time
	// a date.
	f, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet := f.GetSheetName(0)
	cells, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil || len(cells) != len(listRows)+1 || !slices.Equal(cells[0], []string{"id", "name", "email", "status", "time", "account", "reply", "bounce", "note"}) {
		t.Fatalf("XLSX rows %q, %v", cells, err)
	}
	for i, row := range cells[1:] {
		state, tried := want(listRows[i].line, listRows[i].fields)
		got := ""
		if len(row) > 4 && row[4] != "" {
			serial, err := strconv.ParseFloat(row[4], 64)
			if err != nil {
				t.Fatalf("XLSX row %d: the time is %q, not a date", i+2, row[4])
			}
			at, _ := excelize.ExcelDateToTime(serial, false)
			got = at.Round(time.Second).Format(report.TimeLayout)
		}
		if len(row) < 4 || !slices.Equal(row[:3], listRows[i].fields) || row[3] != state || got != tried {
			t.Errorf("XLSX row %d: %q (time %q); the journal says %s at %q", i+2, row, got, state, tried)
		}
	}
	if p, err := f.GetPanes(sheet); err != nil || !p.Freeze || p.YSplit != 1 {
		t.Errorf("XLSX panes %+v, %v: the header is not frozen", p, err)
	}

	t.Run("LibreOffice", func(t *testing.T) {
		soffice, err := exec.LookPath("soffice")
		if err != nil {
			testenv.Missing(t, "LibreOffice", "apt-get install libreoffice-calc")
		}
		// Converted to CSV by a real spreadsheet program, each date shown
		// in its format: the XLSX says what the CSV says.
		outDir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, soffice, "-env:UserInstallation=file://"+t.TempDir(), "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):59,34,76", "--outdir", outDir, xlsxPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("soffice: %v\n%s", err, out)
		}
		lo, err := os.ReadFile(filepath.Join(outDir, "status.csv"))
		if err != nil {
			t.Fatal(err)
		}
		ours, _ := os.ReadFile(csvPath)
		if a, b := parseCSV(t, lo), parseCSV(t, bytes.TrimPrefix(ours, []byte("\ufeff"))); !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("LibreOffice reads the XLSX as\n%q\nthe CSV says\n%q", a, b)
		}
	})
}

type listRow struct {
	line   int
	fields []string
}

// readList reads a recipient list as mailmerge does.
func readList(t *testing.T, path string) []listRow {
	t.Helper()
	rr, err := recipients.Open(path, recipients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var out []listRow
	for {
		rec, err := rr.Read()
		if rec == nil {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, listRow{rec.Line, slices.Clone(rec.Fields)})
	}
}

func parseCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return recs
}
