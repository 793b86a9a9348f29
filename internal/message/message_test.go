package message

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/letter"
)

func testOptions() Options {
	n := 0
	return Options{
		Now:      func() time.Time { return time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC) },
		Boundary: func() string { n++; return fmt.Sprintf("b%d", n) },
	}
}

// TestBuild writes a letter made by hand, not by a template: the writer
// needs nothing but the letter.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Ведомость.pdf"), []byte("%PDF-1.4"), 0o644)
	files, _ := attachment.NewStore(dir, false)
	f, err := files.Resolve("Ведомость.pdf")
	if err != nil {
		t.Fatal(err)
	}
	l := &letter.Letter{
		From: "dept@example.edu", Recipients: []string{"ivan@example.com", "archive@example.edu"},
		Fields: []letter.Field{
			{Name: "From", Mailboxes: []address.Mailbox{{Name: "Кафедра", Addr: "dept@example.edu"}}},
			{Name: "To", Mailboxes: []address.Mailbox{{Name: "Petrov, Ivan", Addr: "ivan@example.com"}}},
			{Name: "Subject", Value: "Итоги семестра"},
			{Name: "List-Unsubscribe", Value: "<https://example.edu/u?id=1>"},
		},
		Kind:        letter.Markdown,
		Body:        []byte("Hello, **Ivan**\r\nline two"),
		Attachments: []letter.Attachment{{Name: "Ведомость.pdf", File: f}},
	}
	l.Identify(letter.NewKey("c", l.Recipients, 0))
	data, nm := buildAndRead(t, l)
	subject, _ := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("Subject"))
	to, _ := nm.Header.AddressList("To")
	from, _ := nm.Header.AddressList("From")
	if subject != "Итоги семестра" || len(to) != 1 || to[0].Name != "Petrov, Ivan" || len(from) != 1 || from[0].Name != "Кафедра" {
		t.Errorf("Subject %q, To %v, From %v", subject, to, from)
	}
	for k, want := range map[string]string{
		"Message-Id": l.MessageID, "Date": "Wed, 25 Nov 2026 10:30:00 +0000", "Mime-Version": "1.0",
		"List-Unsubscribe": "<https://example.edu/u?id=1>", "Bcc": "",
	} {
		if got := nm.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	e, err := gomessage.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	e.Walk(func(_ []int, p *gomessage.Entity, _ error) error {
		mt, _, _ := p.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			parts = append(parts, mt+": ")
			return nil
		}
		body, _ := io.ReadAll(p.Body)
		parts = append(parts, mt+": "+strings.TrimSpace(string(body)))
		return nil
	})
	want := []string{"multipart/mixed: ", "multipart/alternative: ", "text/plain: Hello, **Ivan**\r\nline two",
		"text/html: <!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body>\r\n<p>Hello, <strong>Ivan</strong><br>\r\nline two</p>\r\n</body></html>",
		"application/pdf: %PDF-1.4"}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("parts:\n%q\nwant\n%q", parts, want)
	}
}

func TestCheckValue(t *testing.T) {
	for _, tt := range []struct{ name, value, err string }{
		{"Subject", "Итоги " + strings.Repeat("x", 2000), ""},
		{"X-Course", "Алгоритмы", ""},
		{"List-Unsubscribe", "<https://example.edu/u?id=" + strings.Repeat("1", 900) + ">", ""},
		{"List-Unsubscribe", "<https://example.edu/u?id=ид>", "non-ASCII text is allowed only in Subject, Comments, Keywords, Organization and X- headers"},
		{"In-Reply-To", "<" + strings.Repeat("x", 1000) + "@example.com>", "a word longer than a header line may be (998 octets) cannot be folded"},
	} {
		err := CheckValue(tt.name, tt.value)
		if fmt.Sprint(err) != tt.err && !(err == nil && tt.err == "") {
			t.Errorf("CheckValue(%s, %.20q...) = %v, want %q", tt.name, tt.value, err, tt.err)
		}
	}
}

// TestTextTransferEncoding: text mostly in ASCII goes quoted-printable,
// text mostly in Cyrillic base64 (a third larger, not three times), and
// either decodes back to the letter's text with CRLF line ends.
// TestEncodedWordInjection: a value that looks like an encoded-word (a
// CSV cell with "=?utf-8?q?=0A?=Bcc: ...") is itself encoded, so that a
// reader decodes it to the text as typed, never to a line break or a
// header of its own; in Subject and in a display name.
func TestEncodedWordInjection(t *testing.T) {
	evil := "=?utf-8?q?=0A?=Bcc: victim@evil.example"
	for _, tt := range []struct{ subject, name string }{
		{"Hello " + evil, "Ann"},
		{"Hello", evil},
		{"Hello =?", "=?x?="},
	} {
		l := &letter.Letter{
			From: "dept@example.edu", Recipients: []string{"ann@example.com"},
			Fields: []letter.Field{
				{Name: "From", Mailboxes: []address.Mailbox{{Addr: "dept@example.edu"}}},
				{Name: "To", Mailboxes: []address.Mailbox{{Name: tt.name, Addr: "ann@example.com"}}},
				{Name: "Subject", Value: tt.subject},
			},
			Body: []byte("Hello\n"),
		}
		l.Identify(letter.NewKey("c", l.Recipients, 0))
		data, nm := buildAndRead(t, l)
		subject, err := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("Subject"))
		to, terr := nm.Header.AddressList("To")
		if err != nil || subject != tt.subject || terr != nil || len(to) != 1 || to[0].Name != tt.name || to[0].Address != "ann@example.com" {
			t.Errorf("%+v: read back Subject %q (%v), To %v (%v)\n%s", tt, subject, err, to, terr, data)
		}
		if nm.Header.Get("Bcc") != "" || strings.Count(string(data), "victim") > 0 && strings.Contains(string(data), "Bcc: victim") {
			t.Errorf("%+v: a Bcc on the wire:\n%s", tt, data)
		}
	}
}

func TestTextTransferEncoding(t *testing.T) {
	for _, tt := range []struct {
		body, cte string
	}{
		{"Hello Ivan,\nyour grade is in.\n", "quoted-printable"},
		{"Hello Иван,\nyour grade is in.\n", "quoted-printable"},
		{"Здравствуйте, Иван!\nОценка за семестр выставлена.\n", "base64"},
	} {
		l := &letter.Letter{
			From: "dept@example.edu", Recipients: []string{"ivan@example.com"},
			Fields: []letter.Field{
				{Name: "From", Mailboxes: []address.Mailbox{{Addr: "dept@example.edu"}}},
				{Name: "To", Mailboxes: []address.Mailbox{{Addr: "ivan@example.com"}}},
			},
			Body: []byte(tt.body),
		}
		l.Identify(letter.NewKey("c", l.Recipients, 0))
		data, err := Build(l, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(data, []byte("\r\n")) {
			t.Errorf("%q: the letter does not end with CRLF", tt.body)
		}
		e, err := gomessage.Read(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Header.Get("Content-Transfer-Encoding"); got != tt.cte {
			t.Errorf("%q went %s, want %s", tt.body, got, tt.cte)
		}
		text, _ := io.ReadAll(e.Body)
		if want := strings.ReplaceAll(tt.body, "\n", "\r\n"); string(text) != want {
			t.Errorf("%q decodes to %q, want %q", tt.body, text, want)
		}
		if tt.cte == "base64" && len(data) > 3*len(tt.body)+600 {
			t.Errorf("%d bytes for %d of text", len(data), len(tt.body))
		}
	}
}

// FuzzHeaderText writes any text as a Subject and as a display name:
// the header lines stay within 78 characters with no bare CR or LF,
// encoded-words never split a character, and a reader (Go's net/mail and
// mime.WordDecoder) gets the text back exactly, also text that looks like
// an encoded-word.
func FuzzHeaderText(f *testing.F) {
	for _, s := range []string{"Итоги семестра", "=?utf-8?q?=0A?=Bcc: victim@evil.example", "Petrov, Ivan", strings.Repeat("Тема ", 40),
		strings.Repeat("x", 200), "emoji 😀 and 中文", `quote " and \ backslash`, "=?", "a  b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		v = strings.TrimSpace(v)
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) || v == "" || strings.Contains(v, "  ") {
			return // the template refuses these before a letter is written
		}
		l := &letter.Letter{
			From: "dept@example.edu", Recipients: []string{"ann@example.com"},
			Fields: []letter.Field{
				{Name: "From", Mailboxes: []address.Mailbox{{Addr: "dept@example.edu"}}},
				{Name: "To", Mailboxes: []address.Mailbox{{Name: v, Addr: "ann@example.com"}}},
				{Name: "Subject", Value: v},
			},
			Body: []byte("Hello\n"),
		}
		l.Identify(letter.NewKey("c", l.Recipients, 0))
		data, err := Build(l, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		head := string(data[:bytes.Index(data, []byte("\r\n\r\n"))+2])
		if strings.Count(head, "\n") != strings.Count(head, "\r\n") || strings.Count(head, "\r") != strings.Count(head, "\r\n") {
			t.Fatalf("bare CR or LF in\n%q", head)
		}
		for _, line := range strings.Split(head, "\r\n") {
			if len(line) > 78 {
				t.Fatalf("a line of %d characters: %q", len(line), line)
			}
		}
		for _, w := range regexp.MustCompile(`=\?utf-8\?[bq]\?[^?]*\?=`).FindAllString(head, -1) {
			if dec, err := new(mime.WordDecoder).Decode(w); err != nil || !utf8.ValidString(dec) {
				t.Fatalf("encoded-word %q splits a character: %q, %v", w, dec, err)
			}
		}
		nm, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("Subject"))
		to, terr := nm.Header.AddressList("To")
		if err != nil || subject != v || terr != nil || len(to) != 1 || to[0].Name != v {
			t.Fatalf("%q read back as Subject %q (%v), To %v (%v)\n%s", v, subject, err, to, terr, head)
		}
	})
}

// buildAndRead writes l out and reads it back with net/mail.
func buildAndRead(t *testing.T, l *letter.Letter) ([]byte, *mail.Message) {
	t.Helper()
	data, err := Build(l, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	nm, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return data, nm
}

// TestRedirectSubject: a test copy (send --redirect-to) has the prefix
// before its subject, encoded with it as one text (a long Cyrillic
// subject folded, every line within 78), and the real letter, written
// after, is as it was: its subject, its Message-ID, its identity.
func TestRedirectSubject(t *testing.T) {
	subject := strings.TrimSpace(strings.Repeat("Итоги семестра по курсу ", 5))
	l := &letter.Letter{
		From: "dept@example.edu", Recipients: []string{"ivan@example.com"},
		Fields: []letter.Field{
			{Name: "From", Mailboxes: []address.Mailbox{{Addr: "dept@example.edu"}}},
			{Name: "To", Mailboxes: []address.Mailbox{{Name: "Иван", Addr: "ivan@example.com"}}},
			{Name: "Subject", Value: subject},
		},
		Body: []byte("Hello"),
	}
	l.Identify(letter.NewKey("c", l.Recipients, 0))
	key, id := l.Key, l.MessageID
	for _, tt := range []struct {
		prefix, want string
	}{
		{"[TEST] ", "[TEST] " + subject},
		{"[ТЕСТ] =?", "[ТЕСТ] =?" + subject},
		{"", subject},
	} {
		c := l.Redirect(address.Mailbox{Addr: "me@example.org"}, tt.prefix)
		data, nm := buildAndRead(t, c)
		got, err := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("Subject"))
		if err != nil || got != tt.want {
			t.Errorf("prefix %q: Subject %q (%v), want %q", tt.prefix, got, err, tt.want)
		}
		for _, line := range strings.Split(string(data[:bytes.Index(data, []byte("\r\n\r\n"))]), "\r\n") {
			if len(line) > 78 {
				t.Errorf("prefix %q: header line of %d octets: %q", tt.prefix, len(line), line)
			}
		}
		if nm.Header.Get("Message-Id") == id || c.Key != key {
			t.Errorf("prefix %q: the test copy has the letter's Message-ID %s, or another key", tt.prefix, nm.Header.Get("Message-Id"))
		}
	}
	_, nm := buildAndRead(t, l)
	if got, _ := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("Subject")); got != subject || nm.Header.Get("Message-Id") != id || l.Key != key {
		t.Errorf("the real letter after its test copies: Subject %q, Message-ID %s", got, nm.Header.Get("Message-Id"))
	}
}
