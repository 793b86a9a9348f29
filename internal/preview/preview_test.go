package preview

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/message"
	"github.com/mailmerge/mailmerge/internal/template"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Отчёт.pdf"), []byte("%PDF-1.4 test"), 0o644)
	src := "From: Отдел <dept@example.com>\nTo: {{.name}} <{{.email}}>\nBcc: archive@example.com\nSubject: Тема для {{.name}}\nX-Tag: t1\nAttachment: Отчёт.pdf\n\nПривет, {{.name}}!\n"
	files, err := attachment.NewStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := template.Parse("l.txt", []byte(src), template.Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tm.Execute(template.Row{Line: 9, Values: map[string]string{"name": "Иван", "email": "ivan@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Identify(letter.NewKey("c", l.Recipients, 0))
	data, err := message.Build(l, message.Options{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Write(&b, l, data); err != nil {
		t.Fatal(err)
	}
	want := `=== letter for line 9 ===
Envelope: MAIL FROM:<dept@example.com> RCPT TO:<ivan@example.com>, <archive@example.com>
From: Отдел <dept@example.com>
To: Иван <ivan@example.com>
Subject: Тема для Иван
Date: Fri, 02 Jan 2026 03:04:05 +0000
Message-ID: ` + l.MessageID + `
X-Tag: t1
--- text/plain
Привет, Иван!
--- attachment: Отчёт.pdf (application/pdf, 13 bytes)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
