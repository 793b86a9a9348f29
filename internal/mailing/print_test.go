package mailing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/sender"
	"github.com/mailmerge/mailmerge/internal/testenv"
)

// pdfMailing writes a mailing of n rows whose letters each attach a
// certificate printed from certificate.html, named for the row, and
// returns its config, delivering into a Maildir. Names are Cyrillic,
// with one character HTML escapes.
func pdfMailing(t *testing.T, n int, page string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Кафедра <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Сертификат\n"+
		"Attachment: certificate.html; render=pdf; filename=\"Сертификат {{.name}}.pdf\"\n\nЗдравствуйте, {{.name}}!\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "certificate.html"), []byte(page), 0o644)
	os.WriteFile(filepath.Join(dir, "seal.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="60" height="60"><circle cx="30" cy="30" r="28" fill="gold"/></svg>`), 0o644)
	var csv strings.Builder
	csv.WriteString("name,email,course\n")
	for i := range n {
		fmt.Fprintf(&csv, "%s,s%d@example.edu,Базы данных & SQL\n", certName(i), i)
	}
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv.String()), 0o644)
	cfg := &config.Config{File: filepath.Join(dir, "m.yaml"), Campaign: "certificates", Template: "letter.txt",
		Recipients: config.Recipients{File: "people.csv"}, Maildir: config.Maildir{Path: "outbox"},
		Send: config.Send{Concurrency: 4, MaxAttempts: 1, MessagesPerConnection: 100, MaxLetterSize: 25 << 20, RenderTimeout: 5 * time.Second}}
	cfg.Resolve()
	return cfg
}

// certName is the name in row i: Cyrillic, each different.
func certName(i int) string {
	first := []string{"Иван", "Ольга", "Пётр", "Юлия", "Эдуард", "Жанна", "Щукин", "Ёлка"}
	return fmt.Sprintf("%s Номер%d", first[i%len(first)], i)
}

const certificate = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>@page { size: A4 landscape }</style></head>
<body><img src="seal.svg"><h1>Сертификат</h1><p>выдан: {{.name}}</p><p>курс «{{.course}}»</p></body></html>
`

// needChromium is the browser the tests print with.
func needChromium(t *testing.T) string {
	return testenv.Tool(t, "chromium", "apt-get install chromium")
}

// pdftotext reads a PDF's text back.
func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "pdftotext", "apt-get install poppler-utils"), "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// TestPDFPerRecipient: a send of 50 letters into a Maildir attaches to
// each a PDF printed for its row: a mail reader finds it under the
// row's name, and pdftotext reads the row's name (Cyrillic) and course
// (an & escaped on the page) back from it.
func TestPDFPerRecipient(t *testing.T) {
	needChromium(t)
	const n = 50
	cfg := pdfMailing(t, n, certificate)
	res, err := Send(context.Background(), cfg, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Delivered != n {
		t.Fatalf("delivered %d of %d: %+v", res.Stats.Delivered, n, res.Stats)
	}
	files, _ := filepath.Glob(filepath.Join(cfg.Maildir.Path, "new", "*"))
	if len(files) != n {
		t.Fatalf("%d letters in the Maildir, want %d", len(files), n)
	}
	seen := map[string]bool{}
	for _, f := range files {
		to, name, pdf := readAttachment(t, f)
		var i int
		if _, err := fmt.Sscanf(to, "s%d@example.edu", &i); err != nil {
			t.Fatalf("To %q", to)
		}
		want := certName(i)
		seen[want] = true
		if name != "Сертификат "+want+".pdf" {
			t.Errorf("%s: attachment named %q", to, name)
		}
		text := pdftotext(t, pdf)
		for _, w := range []string{"Сертификат", "выдан: " + want, "курс «Базы данных & SQL»"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the PDF's text lacks %q:\n%s", to, w, text)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d different recipients' PDFs, want %d", len(seen), n)
	}
}

// readAttachment reads a letter from a file as a mail reader does, and
// returns its To address and its one attachment's name and contents.
func readAttachment(t *testing.T, file string) (to, name string, data []byte) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := mail.CreateReader(f)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := r.Header.AddressList("To")
	if len(addrs) == 1 {
		to = addrs[0].Address
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := p.Header.(*mail.AttachmentHeader); ok {
			if name != "" {
				t.Fatalf("%s: two attachments", file)
			}
			if mt, _, _ := h.ContentType(); mt != "application/pdf" {
				t.Errorf("%s: attachment of type %s", file, mt)
			}
			name, _ = h.Filename()
			data, _ = io.ReadAll(p.Body)
		}
	}
	return to, name, data
}

// TestCheckPrintsPDFs: check prints every letter's PDF, or with a
// sample the first letters' only; a letter too big with its PDF is its
// row's problem, at its line.
func TestCheckPrintsPDFs(t *testing.T) {
	needChromium(t)
	cfg := pdfMailing(t, 6, certificate)
	var notes bytes.Buffer
	sum, err := Check(context.Background(), cfg, nil, false, 2, &notes)
	if err != nil {
		t.Fatalf("%v\n%s", err, notes.String())
	}
	if sum.Pages != 6 || sum.Printed != 2 || !sum.PagesSampled || sum.PrintedBytes == 0 {
		t.Errorf("sample of 2: pages %d, printed %d, sampled %v, %d bytes", sum.Pages, sum.Printed, sum.PagesSampled, sum.PrintedBytes)
	}
	if note := PrintedNote(sum); !strings.HasPrefix(note, ", 2 PDFs printed: letters of ") || !strings.HasSuffix(note, " (a sample: 2 of 6)") {
		t.Errorf("note %q", note)
	}

	cfg.Send.MaxLetterSize = 4000 // smaller than any letter with its PDF
	notes.Reset()
	sum, err = Check(context.Background(), cfg, nil, false, 0, &notes)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Data || sum.Errors != 6 || sum.Printed != 0 {
		t.Fatalf("err %v, %d problems, %d printed\n%s", err, sum.Errors, sum.Printed, notes.String())
	}
	if !strings.Contains(notes.String(), "people.csv:7: header Attachment: with its PDF (") || !strings.Contains(notes.String(), "more than m.yaml: send.max_letter_size allows (0.0 MB)") {
		t.Errorf("notes:\n%s", notes.String())
	}
}

// TestPDFTemplateError: a mistake in the page's template is found by
// check, located in the page's file, and send sends nothing; neither
// needs a browser for it.
func TestPDFTemplateError(t *testing.T) {
	pages := []struct{ page, want string }{
		{"<!DOCTYPE html>\n<p>Сертификат</p>\n<p>{{date \"2 January\" .name \"de\"}}</p>\n", `certificate.html:3:6: date: the language is "ru" or "en"`},
		{"<!DOCTYPE html>\n<p>Сертификат</p>\n<p>{{.name}}</p>\n<p>{{.Course}}</p>\n", `certificate.html:4:6: unknown field "Course": did you mean "course"?`},
	}
	for _, p := range pages {
		cfg := pdfMailing(t, 3, p.page)
		cfg.PDF.Browser = filepath.Join(t.TempDir(), "no-browser")
		for _, run := range []func(*bytes.Buffer) error{
			func(notes *bytes.Buffer) error {
				_, err := Check(context.Background(), cfg, nil, false, 0, notes)
				return err
			},
			func(notes *bytes.Buffer) error {
				_, err := Send(context.Background(), cfg, SendOptions{Notes: notes})
				return err
			},
		} {
			var notes bytes.Buffer
			err := run(&notes)
			var e *Error
			if !errors.As(err, &e) || e.Kind != Data {
				t.Errorf("err = %v, want a problem with the data", err)
			}
			if !strings.Contains(notes.String(), p.want) {
				t.Errorf("notes lack %q:\n%s", p.want, notes.String())
			}
		}
		if files, _ := filepath.Glob(filepath.Join(cfg.Maildir.Path, "new", "*")); len(files) != 0 {
			t.Errorf("%d letters sent", len(files))
		}
	}
}

// TestNoBrowser: with no browser where pdf.browser points, check and
// send stop with an error that says what to install and where the
// setting is, and send sends nothing.
func TestNoBrowser(t *testing.T) {
	cfg := pdfMailing(t, 3, certificate)
	cfg.PDF.Browser = filepath.Join(t.TempDir(), "chromium")
	cfg.Overrides = map[string]string{"pdf.browser": "$MAILMERGE_PDF_BROWSER"}
	_, checkErr := Check(context.Background(), cfg, nil, false, 0, io.Discard)
	_, sendErr := Send(context.Background(), cfg, SendOptions{})
	for _, err := range []error{checkErr, sendErr} {
		var e *Error
		want := "$MAILMERGE_PDF_BROWSER: pdf.browser: PDF attachments need Chromium, Google Chrome or Microsoft Edge; " + cfg.PDF.Browser + " was not found"
		if !errors.As(err, &e) || e.Kind != Config || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v\nwant one starting %q", err, want)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.Maildir.Path, "new", "*")); len(files) != 0 {
		t.Errorf("%d letters sent", len(files))
	}
}

// TestStopLeavesNoBrowser: a send stopped while it prints (Ctrl-C)
// ends its browser: no process of it is left.
func TestStopLeavesNoBrowser(t *testing.T) {
	needChromium(t)
	if runtime.GOOS != "linux" {
		t.Skip("looks for processes in /proc")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the browser's profile is made here
	cfg := pdfMailing(t, 20, certificate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running atomic.Int32
	var once sync.Once
	res, _ := Send(ctx, cfg, SendOptions{Watch: func(int) Watch {
		return Watch{Progress: func(st sender.Stats) {
			if st.Delivered >= 2 {
				once.Do(func() {
					running.Store(int32(processesUsing(tmp)))
					cancel() // as the first Ctrl-C does
				})
			}
		}}
	}})
	if res == nil || res.Stats.Delivered >= 20 || res.Stats.Delivered < 2 {
		t.Fatalf("the send was not stopped midway: %+v", res)
	}
	if running.Load() == 0 {
		t.Fatal("no browser process seen while sending: the test cannot see them")
	}
	if n := processesUsing(tmp); n != 0 {
		t.Errorf("%d browser processes left after the send stopped", n)
	}
}

// processesUsing counts the processes whose command line names dir.
func processesUsing(dir string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			n++
		}
	}
	return n
}
