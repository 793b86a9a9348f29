package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"

	"github.com/mailmerge/mailmerge/internal/testmailpit"
)

// TestMailpit sends 300 letters of the bundled Markdown example (Russian
// text and names, an HTML and a text part, a grade sheet attached to
// each) through Mailpit with STARTTLS and AUTH, and compares what Mailpit
// decoded of each with preview --out of the same letter: headers, both
// bodies and the attachment's bytes.
func TestMailpit(t *testing.T) {
	testmailpit.Need(t)
	dir := t.TempDir()
	ca := caIn(t, dir)
	mp := testmailpit.Start(t, ca.Server, map[string]string{"kafedra": "mp-pw"})
	letter, err := os.ReadFile(filepath.Join("..", "..", "examples", "course-announcement", "letter.md"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "letter.md"), letter, 0o644)
	os.Mkdir(filepath.Join(dir, "grades"), 0o755)
	const n = 300
	var csv strings.Builder
	csv.WriteString("Номер;Фамилия;Имя;email;Группа;Оценка\n")
	surnames := []string{"Иванов", "Петрова", "Сидоров", "Кузнецова", "Смирнов", "Ёлкина"}
	names := []string{"Пётр", "Анна", "Иван", "Мария", "Алексей", "Юлия"}
	sheets := map[string]string{} // attachment name → SHA-256
	for i := range n {
		id := fmt.Sprintf("s%04d", i)
		fmt.Fprintf(&csv, "%s;%s;%s;%s@students.example.edu;ИВТ-%d;%s\n", id, surnames[i%6], names[i%5], id, 21+i%3, []string{"отлично", "хорошо", "удовлетворительно"}[i%3])
		sheet := bytes.Repeat([]byte(fmt.Sprintf("%%PDF-1.4 grade sheet of %s\n\x00\xff", id)), 1+i%50)
		os.WriteFile(filepath.Join(dir, "grades", id+".pdf"), sheet, 0o644)
		sum := sha256.Sum256(sheet)
		sheets[id+".pdf"] = hex.EncodeToString(sum[:])
	}
	os.WriteFile(filepath.Join(dir, "students.csv"), []byte(csv.String()), 0o644)
	cfg := filepath.Join(dir, "mailmerge.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`campaign: grades
template: letter.md
recipients:
  file: students.csv
smtp:
  host: 127.0.0.1
  port: %d
  security: starttls
  username: kafedra
  ca_file: ca.pem
  server_name: localhost
send:
  concurrency: 4
`, mp.SMTPPort)), 0o644)
	t.Setenv("MAILMERGE_SMTP_PASSWORD", "mp-pw")
	mm := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code := run(context.Background(), append(args, "-c", cfg), strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, &out)
		}
		return out.String()
	}
	if out := mm("send", "--yes"); !strings.Contains(out, fmt.Sprintf("delivered %d, failed 0", n)) {
		t.Fatalf("send:\n%s", out)
	}
	mm("preview", "--out", filepath.Join(dir, "preview"), "--limit", "0")

	want := map[string]decoded{}
	files, _ := filepath.Glob(filepath.Join(dir, "preview", "*.eml"))
	for _, f := range files {
		d := decode(t, f)
		want[d.messageID] = d
	}
	got := mp.Messages(t)
	if len(got) != n || len(want) != n {
		t.Fatalf("Mailpit has %d letters, preview wrote %d; want %d", len(got), len(want), n)
	}
	for _, m := range got {
		w, ok := want["<"+m.MessageID+">"]
		if !ok {
			t.Errorf("Mailpit has <%s>, which preview did not write", m.MessageID)
			continue
		}
		to := ""
		if len(m.To) == 1 {
			to = m.To[0].Name + " <" + m.To[0].Address + ">"
		}
		switch {
		case m.Subject != w.subject:
			t.Errorf("%s: subject %q, preview %q", m.MessageID, m.Subject, w.subject)
		case m.From == nil || m.From.Name+" <"+m.From.Address+">" != w.from:
			t.Errorf("%s: from %+v, preview %q", m.MessageID, m.From, w.from)
		case to != w.to:
			t.Errorf("%s: to %q, preview %q", m.MessageID, to, w.to)
		case norm(m.Text) != norm(w.text) || !strings.Contains(w.text, "Здравствуйте"):
			t.Errorf("%s: text\n%q\npreview\n%q", m.MessageID, m.Text, w.text)
		case norm(m.HTML) != norm(w.html) || !strings.Contains(w.html, "<strong>"):
			t.Errorf("%s: html\n%q\npreview\n%q", m.MessageID, m.HTML, w.html)
		case m.Username != "kafedra":
			t.Errorf("%s: sent as %q", m.MessageID, m.Username)
		case len(m.Attachments) != 1 || len(w.attachments) != 1:
			t.Errorf("%s: %d attachments, preview %d", m.MessageID, len(m.Attachments), len(w.attachments))
		default:
			a := m.Attachments[0]
			if sheets[a.FileName] == "" || a.Checksums.SHA256 != sheets[a.FileName] || w.attachments[a.FileName] != sheets[a.FileName] || a.ContentType != "application/pdf" {
				t.Errorf("%s: attachment %s (%s, %s), preview %v, file %s", m.MessageID, a.FileName, a.ContentType, a.Checksums.SHA256, w.attachments, sheets[a.FileName])
			}
		}
	}
}

// decoded is a letter as go-message reads it.
type decoded struct {
	messageID, subject, from, to, text, html string
	attachments                              map[string]string // name → SHA-256
}

func decode(t *testing.T, path string) decoded {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := mail.CreateReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d := decoded{attachments: map[string]string{}}
	d.messageID = r.Header.Get("Message-Id")
	d.subject, _ = r.Header.Subject()
	if from, err := r.Header.AddressList("From"); err == nil && len(from) == 1 {
		d.from = from[0].Name + " <" + from[0].Address + ">"
	}
	if to, err := r.Header.AddressList("To"); err == nil && len(to) == 1 {
		d.to = to[0].Name + " <" + to[0].Address + ">"
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				d.html = string(body)
			} else {
				d.text = string(body)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			sum := sha256.Sum256(body)
			d.attachments[name] = hex.EncodeToString(sum[:])
		}
	}
	return d
}

func norm(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
