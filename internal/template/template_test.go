package template

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/message"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testNow = time.Date(2026, 11, 25, 10, 30, 0, 0, time.FixedZone("MSK", 3*3600))

// testOpts are what a test renders letters with: the template's options,
// the attachments folder and campaign the campaign would give, and a
// message writer made reproducible (a fixed clock, counted boundaries).
type testOpts struct {
	AttachmentsDir string
	AllowOutside   bool
	MaxLetter      int
	MaxLetterSize  int64
	Campaign       string
	RenderTimeout  time.Duration
	Now            func() time.Time // the render timeout's clock
	msg            message.Options
}

func testOptions() testOpts {
	n := 0
	return testOpts{
		Campaign:       "test",
		AttachmentsDir: "testdata/attach",
		msg: message.Options{
			Now:      func() time.Time { return testNow },
			Boundary: func() string { n++; return fmt.Sprintf("boundary-%d", n) },
		},
	}
}

// testTemplate is a template with the options it was parsed with, so that
// Render can do what a send does with each row.
type testTemplate struct {
	*Template
	o testOpts
}

// rendered is a letter with its bytes.
type rendered struct {
	*letter.Letter
	Data []byte
}

func (o testOpts) parse(name string, src []byte) (*testTemplate, error) {
	files, err := attachment.NewStore(o.AttachmentsDir, o.AllowOutside)
	if err != nil {
		return nil, err
	}
	tm, err := Parse(name, src, Options{Files: files, MaxLetter: o.MaxLetter, MaxLetterSize: o.MaxLetterSize, MaxLetterKey: "mailing.yaml: send.max_letter_size",
		RenderTimeout: o.RenderTimeout, Now: o.Now})
	if err != nil {
		return nil, err
	}
	return &testTemplate{tm, o}, nil
}

// Render executes the template for row, gives the letter its identity as
// the first letter to its recipients, and writes it out.
func (tm *testTemplate) Render(row Row) (*rendered, error) {
	l, err := tm.Execute(row)
	if err != nil {
		return nil, err
	}
	l.Identify(letter.NewKey(tm.o.Campaign, l.Recipients, 0))
	data, err := message.Build(l, tm.o.msg)
	if err != nil {
		return nil, err
	}
	return &rendered{l, data}, nil
}

func mustParse(t *testing.T, file string, opts testOpts) *testTemplate {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := opts.parse(file, src)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func parseText(t *testing.T, src string, opts testOpts) *testTemplate {
	t.Helper()
	tm, err := opts.parse("letter.txt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// decoded is a letter as a mail reader sees it.
type decoded struct {
	header      gomessage.Header
	subject     string
	to, cc      []*mail.Address
	texts       map[string]string // media type -> decoded text
	attachments map[string][]byte // file name -> content
}

// decode parses a letter back with go-message and net/mail and checks the
// wire format rules every letter must keep.
func decode(t *testing.T, data []byte) decoded {
	t.Helper()
	checkWire(t, data)
	nm, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail cannot read the letter: %v", err)
	}
	var d decoded
	dec := new(mime.WordDecoder)
	if d.subject, err = dec.DecodeHeader(nm.Header.Get("Subject")); err != nil {
		t.Fatalf("decode Subject: %v", err)
	}
	d.to, _ = nm.Header.AddressList("To")
	d.cc, _ = nm.Header.AddressList("Cc")

	e, err := gomessage.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("go-message cannot read the letter: %v", err)
	}
	d.header = e.Header
	d.texts = map[string]string{}
	d.attachments = map[string][]byte{}
	err = e.Walk(func(path []int, part *gomessage.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, params, _ := part.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		if disp, dp, _ := part.Header.ContentDisposition(); disp == "attachment" {
			d.attachments[dp["filename"]] = body
			return nil
		}
		if params["charset"] != "utf-8" {
			t.Errorf("text part %s has charset %q, want utf-8", mt, params["charset"])
		}
		d.texts[mt] = string(body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkWire checks CRLF line ends, header lines within 78 octets and body
// lines within 76 (quoted-printable and base64 both promise that).
func checkWire(t *testing.T, data []byte) {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Error("letter does not end with CRLF")
	}
	inHeader := true
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\r\n")), []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) == 0 {
			inHeader = false
		}
		limit := 76
		if inHeader || bytes.HasPrefix(line, []byte("Content-")) {
			limit = 78
		}
		// An address is one token that cannot be folded; RFC 5322 allows
		// it up to 998 octets.
		unbreakable := inHeader && bytes.Contains(line, []byte("@")) && len(bytes.Fields(line)) == 1 && len(line) <= 998
		if len(line) > limit && !unbreakable {
			t.Errorf("line %d is %d octets: %q", i+1, len(line), line)
		}
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name, file string
		row        map[string]string
	}{
		{"announcement", "announcement.tmpl", map[string]string{"name": "Иван Петров", "email": "ivan@example.com", "surname": "Иванов", "grade": "отлично"}},
		{"notice", "notice.tmpl", map[string]string{"name": "Jane Doe", "email": "jane@example.com", "date": "1 December"}},
		{"html", "html.tmpl", map[string]string{"name": "Tom & Jerry", "email": "tom@example.com", "cc": "", "note": "<script>alert(1)</script>"}},
		{"markdown", "markdown.tmpl", map[string]string{"name": "Мария", "email": "maria@example.com", "note": "<b>raw</b> _ok_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := mustParse(t, tt.file, testOptions()).Render(Row{Line: 2, Values: tt.row})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", tt.name+".eml")
			if *update {
				if err := os.WriteFile(golden, l.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.Data, want) {
				t.Errorf("letter differs from %s (run go test -update to accept):\n%s", golden, l.Data)
			}
			// The golden file must itself be a whole letter: every part
			// there, every multipart closed.
			if d := decode(t, want); len(d.texts) == 0 {
				t.Errorf("%s has no text part", golden)
			}
		})
	}
}

func TestRenderDecodesBack(t *testing.T) {
	tm := mustParse(t, "announcement.tmpl", testOptions())
	row := map[string]string{"name": "Иван Петров", "email": "ivan@example.com", "surname": "Иванов", "grade": "отлично"}
	l, err := tm.Render(Row{Line: 7, Values: row})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, l.Data)

	if want := "Оценка за курс «Алгоритмы и структуры данных», Иван Петров: итоги семестра и пересдача"; d.subject != want {
		t.Errorf("Subject = %q\nwant %q", d.subject, want)
	}
	if len(d.to) != 1 || d.to[0].Name != "Иван Петров" || d.to[0].Address != "ivan@example.com" {
		t.Errorf("To = %v", d.to)
	}
	if d.header.Has("Bcc") {
		t.Error("Bcc is in the message")
	}
	if bytes.Contains(l.Data, []byte("archive@example.edu")) {
		t.Error("the Bcc address is in the message")
	}
	if got, want := l.Recipients, []string{"ivan@example.com", "archive@example.edu"}; !reflect.DeepEqual(got, want) {
		t.Errorf("envelope recipients = %v; want %v", got, want)
	}
	if l.From != "dept@example.edu" || l.Line != 7 {
		t.Errorf("From = %q, Line = %d", l.From, l.Line)
	}
	if !strings.HasSuffix(l.MessageID, "@example.edu>") || d.header.Get("Message-Id") != l.MessageID {
		t.Errorf("Message-ID = %q, header %q", l.MessageID, d.header.Get("Message-Id"))
	}
	if got := d.header.Get("Date"); got != "Wed, 25 Nov 2026 10:30:00 +0300" {
		t.Errorf("Date = %q", got)
	}
	wantPlain := "Здравствуйте, **Иван Петров**!\r\n\r\nВаша оценка: отлично.\r\n.\r\nСтрока с пробелом в конце \r\n"
	if d.texts["text/plain"] != wantPlain {
		t.Errorf("text/plain = %q\nwant %q", d.texts["text/plain"], wantPlain)
	}
	if !strings.Contains(d.texts["text/html"], "<strong>Иван Петров</strong>") {
		t.Errorf("text/html = %q", d.texts["text/html"])
	}
	pdf, _ := os.ReadFile("testdata/attach/Ведомость Иванов.pdf")
	if !bytes.Equal(d.attachments["Ведомость Иванов.pdf"], pdf) {
		t.Errorf("attachments = %v", d.attachments)
	}
	if len(l.Attachments) != 2 || l.Attachments[0].Size() != int64(len(pdf)) {
		t.Errorf("Letter.Attachments = %+v", l.Attachments)
	}
}

func TestHTMLEscapesValues(t *testing.T) {
	l, err := mustParse(t, "html.tmpl", testOptions()).Render(Row{Values: map[string]string{"name": "Tom & Jerry", "email": "tom@example.com", "cc": "", "note": "<script>alert(1)</script>"}})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, l.Data)
	if want := "<p>Hello, Tom &amp; Jerry! &lt;script&gt;alert(1)&lt;/script&gt;</p>\r\n"; d.texts["text/html"] != want {
		t.Errorf("text/html = %q; want %q", d.texts["text/html"], want)
	}
	if d.header.Has("Cc") {
		t.Error("an empty Cc is written")
	}
	if len(d.to) != 1 || d.to[0].Name != "Tom & Jerry" {
		t.Errorf("To = %v", d.to)
	}
}

func TestPlainIsSinglePart(t *testing.T) {
	l, err := mustParse(t, "notice.tmpl", testOptions()).Render(Row{Values: map[string]string{"name": "Jane", "email": "jane@example.com", "date": "1 December"}})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, l.Data)
	if mt, _, _ := d.header.ContentType(); mt != "text/plain" {
		t.Errorf("Content-Type = %q", mt)
	}
	if d.header.Get("X-Campaign") != "maintenance" || d.header.Get("Reply-To") != "helpdesk@example.com" {
		t.Error("pass-through headers lost")
	}
}

// TestHeaderValues covers what CSV values can do to headers.
func TestHeaderValues(t *testing.T) {
	const tmpl = "From: Sender <sender@example.com>\nTo: {{.name}} <{{.email}}>\nSubject: {{.subject}}\n\nBody\n"
	tests := []struct {
		name     string
		row      map[string]string
		err      string // as printed; empty for success
		to       []*mail.Address
		subject  string
		rcpts    []string
		warnings int
	}{
		{name: "newline in name", row: map[string]string{"name": "Ivan\r\nBcc: evil@example.org", "email": "ivan@example.com", "subject": "hi"},
			err: `field "name": header To: value contains control character U+000D (a line break?); header values must be one line`},
		{name: "newline in subject", row: map[string]string{"name": "Ivan", "email": "ivan@example.com", "subject": "hi\nBcc: evil@example.org"},
			err: `field "subject": header Subject: value contains control character U+000A (a line break?); header values must be one line`},
		{name: "unicode line separator", row: map[string]string{"name": "Ivan", "email": "ivan@example.com", "subject": "hi\u2028there"},
			err: `field "subject": header Subject: value contains control character U+2028 (a line break?); header values must be one line`},
		{name: "second address in the email field", row: map[string]string{"name": "Ivan", "email": "ivan@example.com>, <evil@example.org", "subject": "hi"},
			err: `field "email": header To: "ivan@example.com>, <evil@example.org" has a < or > out of place (expected comma)`},
		{name: "address list in the name field", row: map[string]string{"name": "evil@example.org, Ivan", "email": "ivan@example.com", "subject": "hi"},
			err: `field "name": header To: "evil@example.org, Ivan" is not an address (a name without <address>?) (missing '@' or angle-addr)`},
		{name: "two addresses in the name field", row: map[string]string{"name": "evil@example.org, x@example.org", "email": "ivan@example.com", "subject": "hi"},
			err: `field "name": header To: holds 2 addresses; put each address in a column of its own`},
		{name: "a whole address inside the template's <...>", row: map[string]string{"name": "Ivan", "email": "Ivan <ivan@example.com>", "subject": "hi"},
			err: `field "email": header To: "Ivan <Ivan <ivan@example.com>>" has a < or > out of place (missing @ in addr-spec) (the field holds "Ivan <ivan@example.com>", a whole address, and the template adds its own <...>: use either)`},
		{name: "an address and a list comma in the name field", row: map[string]string{"name": `"0"<0@0.A>,`, "email": `"AAAAAAAA"@0.A`, "subject": "hi"},
			err: `field "name": header To: "\"0\"<0@0.A>," is more than one address (a comma?): put each address in a column of its own (expected single address, got ",")`},
		{name: "a group in the name field", row: map[string]string{"name": "G: evil@example.org;", "email": "ivan@example.com", "subject": "hi"},
			err: `field "name": header To: "G: evil@example.org; <ivan@example.com>" is a group (name: addresses;), not one address (expected comma)`},
		{name: "a name that is only a comma", row: map[string]string{"name": ",", "email": "ivan@example.com", "subject": "hi"},
			to: []*mail.Address{{Name: ",", Address: "ivan@example.com"}}, rcpts: []string{"ivan@example.com"}, subject: "hi"},
		{name: "quotes in a name are kept", row: map[string]string{"name": `Ivan "the Great", Tsar`, "email": "ivan@example.com", "subject": "hi"},
			to: []*mail.Address{{Name: `Ivan "the Great", Tsar`, Address: "ivan@example.com"}}, rcpts: []string{"ivan@example.com"}, subject: "hi"},
		{name: "name with a comma", row: map[string]string{"name": "Petrov, Ivan", "email": "ivan@example.com", "subject": "hi"},
			to: []*mail.Address{{Name: "Petrov, Ivan", Address: "ivan@example.com"}}, rcpts: []string{"ivan@example.com"}, subject: "hi"},
		{name: "relay form", row: map[string]string{"name": "Relay", "email": "user%relay@example.com", "subject": "hi"},
			rcpts: []string{"user%relay@example.com"}, subject: "hi"},
		{name: "invisible characters are trimmed", row: map[string]string{"name": "Ivan", "email": "\u200bivan@example.com\u00a0", "subject": "hi"},
			rcpts: []string{"ivan@example.com"}, subject: "hi", warnings: 1},
		{name: "dotless domain", row: map[string]string{"name": "Ivan", "email": "ivan@example", "subject": "hi"},
			err: `field "email": header To: address "ivan@example": domain "example" has no dot`},
		{name: "hyphen domain", row: map[string]string{"name": "Ivan", "email": "ivan@-example.com", "subject": "hi"},
			err: `field "email": header To: address "ivan@-example.com": invalid domain "-example.com"`},
		{name: "IDN domain to A-labels", row: map[string]string{"name": "Иван", "email": "ivan@пример.рф", "subject": "hi"},
			rcpts: []string{"ivan@xn--e1afmkfd.xn--p1ai"}, subject: "hi"},
		{name: "quoted local part cannot inject parameters", row: map[string]string{"name": "Ivan", "email": `"a> NOTIFY=NEVER"@example.com`, "subject": "hi"},
			err: `field "email": header To: address "a> NOTIFY=NEVER@example.com": the quoted part before the @ contains characters that are not allowed here`},
		{name: "long local part", row: map[string]string{"name": "Ivan", "email": strings.Repeat("a", 65) + "@example.com", "subject": "hi"},
			err: `field "email": header To: address "` + strings.Repeat("a", 65) + `@example.com": the part before the @ is 65 octets, over the limit of 64`},
		{name: "empty email", row: map[string]string{"name": "", "email": "", "subject": "hi"},
			err: `field "email": header To: no address (is the cell empty?)`},
		{name: "long Cyrillic subject folds", row: map[string]string{"name": "Иван", "email": "ivan@example.com", "subject": strings.Repeat("Проверка длинной темы письма ", 20)},
			rcpts: []string{"ivan@example.com"}, subject: strings.TrimSpace(strings.Repeat("Проверка длинной темы письма ", 20))},
		{name: "long ASCII subject folds", row: map[string]string{"name": "Ivan", "email": "ivan@example.com", "subject": strings.Repeat("word  ", 40) + "end"},
			rcpts: []string{"ivan@example.com"}, subject: strings.Repeat("word  ", 40) + "end"},
	}
	tm := parseText(t, tmpl, testOptions())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tm.Render(Row{Values: tt.row})
			if tt.err != "" {
				if err == nil {
					t.Fatalf("rendered, want error %q:\n%s", tt.err, l.Data)
				}
				var ve *ValueError
				if !errors.As(err, &ve) {
					t.Errorf("error is %T, want *ValueError", err)
				}
				if err.Error() != tt.err {
					t.Errorf("error:\n got %s\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, l.Data)
			if tt.to != nil && !reflect.DeepEqual(d.to, tt.to) {
				t.Errorf("To = %v; want %v", d.to, tt.to)
			}
			if tt.rcpts != nil && !reflect.DeepEqual(l.Recipients, tt.rcpts) {
				t.Errorf("recipients = %v; want %v", l.Recipients, tt.rcpts)
			}
			if strings.Join(strings.Fields(d.subject), " ") != strings.Join(strings.Fields(tt.subject), " ") {
				t.Errorf("Subject = %q; want %q", d.subject, tt.subject)
			}
			if len(l.Warnings) != tt.warnings {
				t.Errorf("warnings = %v; want %d", l.Warnings, tt.warnings)
			}
			if len(d.header.Values("Bcc")) > 0 || d.header.Has("Bcc") {
				t.Error("a Bcc header appeared")
			}
		})
	}
}

// doubling defines d0 … dn, each calling the one before twice: d20 makes
// a million calls, of templates that print nothing.
func doubling(n int) string {
	var b strings.Builder
	b.WriteString(`{{define "d0"}}{{end}}`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{{define "d%d"}}{{template "d%d"}}{{template "d%d"}}{{end}}`, i, i-1, i-1)
	}
	return b.String()
}

// TestRunaway: what a template can spend on one letter is bounded, and a
// letter that spends too much is a problem of its row; the run's end
// stops a letter half made. (Loops and calls that could run for hours are
// refused before any row: TestTemplateErrors.)
func TestRunaway(t *testing.T) {
	rows := func(n int) Row {
		r := Row{Line: 2, Values: map[string]string{"email": "ann@example.com"}}
		for range n {
			r.Group = append(r.Group, r.Values)
		}
		return r
	}
	for _, tt := range []struct {
		name string
		body string
		row  Row
		opts func(*testOpts)
		want error
		says string
	}{
		{name: "a value doubled row by row", body: `{{$x := "0123456789abcdef"}}{{range .Rows}}{{$x = printf "%s%s" $x $x}}{{end}}done`, row: rows(40),
			want: ErrValueTooLarge, says: "over 1048576 bytes"},
		{name: "a value doubled by html", body: `{{$x := .email}}{{range .Rows}}{{$x = html $x $x}}{{end}}done`, row: rows(40),
			want: ErrValueTooLarge},
		{name: "printf padding", body: `{{printf "%01000000000d" 1}}`, row: rows(1), says: "printf: width or precision 01000000000 is over 1000"},
		{name: "printf width from an argument", body: `{{printf "%*d" 1000000000 1}}`, row: rows(1), says: "printf: a width from an argument (*) is not allowed"},
		{name: "print of large values", body: `{{$x := printf "%1000s" "a"}}{{$x = print $x $x $x $x}}{{$x = print $x $x $x $x}}{{$x = print $x $x $x $x}}{{$x = print $x $x $x $x}}{{$x = print $x $x $x $x}}{{$x = print $x $x $x $x}}`, row: rows(1),
			want: ErrValueTooLarge},
		{name: "a letter slower than the render timeout", body: `{{range .Rows}}{{range $.Rows}}{{.email}}{{end}}{{end}}`, row: rows(50),
			opts: func(o *testOpts) {
				var clock time.Time
				o.Now = func() time.Time { clock = clock.Add(time.Second); return clock } // a second a write
				o.RenderTimeout = 100 * time.Second
			},
			want: ErrRenderTimeout, says: "over 1m40s (send.render_timeout)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			tm, err := opts.parse("letter.txt", []byte("From: a@example.com\nTo: {{.email}}\n\n"+tt.body+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tm.Execute(tt.row)
			var ve *ValueError
			var ee *located.Error
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.says) || !(errors.As(err, &ve) || errors.As(err, &ee)) {
				t.Errorf("err = %v (%T); want %v, saying %q, of the row", err, err, tt.want, tt.says)
			}
		})
	}

	// The run's end stops a letter half made: no problem of its row.
	// (The clock is the real one, the timeout the default 5 s.)
	tm, err := testOptions().parse("letter.txt", []byte("From: a@example.com\nTo: {{.email}}\n\n{{range .Rows}}{{.email}}{{end}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tm.ExecuteContext(ctx, rows(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if _, err := tm.ExecuteContext(context.Background(), rows(3)); err != nil {
		t.Errorf("a letter of 3 rows: %v", err)
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name, src string
		errs      []string
	}{
		{"no blank line", "From: a@example.com", []string{"letter.txt: no blank line: a template is a header block, a blank line, then the body"}},
		{"syntax error in header", "From: a@example.com\nTo: {{.email}\n\nBody\n", []string{`letter.txt:2: bad character U+007D '}'`}},
		{"syntax error in body", "From: a@example.com\nTo: {{.email}}\n\nLine 4\nLine 5 {{if}}\n", []string{"letter.txt:5: missing value for if"}},
		{"not a header", "From: a@example.com\nTo {{.email}}\nTo: x@example.com\n\nBody\n", []string{`letter.txt:2: not a header line (want "Name: value"): "To {{.email}}"`}},
		{"reserved header", "From: a@example.com\nTo: x@example.com\nMessage-ID: <x@y>\n\nBody\n", []string{"letter.txt:3: header Message-ID is set by mailmerge from the campaign and the recipients"}},
		{"no From, no To", "Subject: x\n\nBody\n", []string{"letter.txt: no From header", "letter.txt: no recipient: add a To, Cc or Bcc header"}},
		{"range over a constant", "From: a@example.com\nTo: x@example.com\n\n{{range 100000000000}}{{end}}\n", []string{"letter.txt:4:9: range over a number is not allowed in a letter"}},
		{"calls that multiply", "From: a@example.com\nTo: x@example.com\n\n" + doubling(20) + "{{template \"d20\"}}\n", []string{`letter.txt:4:747: {{template}} calls multiply to more than 10000 for one letter: each call of "d12" makes 8190 more`}},
		{"a template that calls itself", "From: a@example.com\nTo: x@example.com\n\n{{define \"a\"}}{{template \"b\" .}}{{end}}{{define \"b\"}}x{{template \"a\" .}}{{end}}{{template \"a\" .}}\n", []string{`letter.txt:4:66: {{template "a"}} calls itself, through other templates or not: a letter cannot use recursion`}},
		{"range over a function", "From: a@example.com\nTo: x@example.com\n\n{{range len .name}}x{{end}}\n", []string{"letter.txt:4:9: range goes over the rows of a group ({{range .Rows}}), not over a number, a variable or a function's result"}},
		{"range over a variable", "From: a@example.com\nTo: x@example.com\n\n{{$n := 2000000000}}{{range $n}}{{end}}\n", []string{"letter.txt:4:29: range goes over the rows of a group ({{range .Rows}}), not over a number, a variable or a function's result"}},
		{"range over dot", "From: a@example.com\nTo: x@example.com\n\n{{with 2000000000}}{{range .}}{{end}}{{end}}\n", []string{"letter.txt:4:28: range goes over the rows of a group ({{range .Rows}}), not over a number, a variable or a function's result"}},
		{"range over a number in a define", "From: a@example.com\nTo: x@example.com\n\n{{define \"x\"}}{{range 100000000000}}{{end}}{{end}}{{template \"x\"}}\n", []string{"letter.txt:4:23: range over a number is not allowed in a letter"}},
		{"Windows-1251 text", "From: a@example.com\nTo: x@example.com\nSubject: \xcf\xf0\xe8\xe2\xe5\xf2\n\nBody\n", []string{"letter.txt:3:10: the template is not UTF-8 (Windows-1251?): save the template as UTF-8"}},
		{"UTF-16 text", "\xff\xfeF\x00r\x00", []string{"letter.txt: the template is UTF-16: save the template as UTF-8"}},
		{"NUL byte", "From: a@example.com\nTo: x@example.com\n\nBo\x00dy\n", []string{"letter.txt:4:3: NUL byte in the template: save the template as UTF-8"}},
		{"bad content type", "From: a@example.com\nTo: x@example.com\nContent-Type: application/pdf\n\nBody\n", []string{`letter.txt:3: Content-Type "application/pdf": the body can be text/plain, text/html or text/markdown`}},
		{"two Cc lines", "From: a@example.com\nTo: x@example.com\nCc: tutor@example.com\nSubject: s\ncc: dean@example.com\n\nBody\n", []string{"letter.txt:5: header Cc again (first on line 3): a letter may have it once (RFC 5322 §3.6); put all its addresses or its text in one Cc line"}},
		{"two Subjects", "From: a@example.com\nTo: x@example.com\nSubject: one\nSubject: two\n\nBody\n", []string{"letter.txt:4: header Subject again (first on line 3): a letter may have it once (RFC 5322 §3.6); put all its addresses or its text in one Subject line"}},
		// Column names a field cannot have: the parser stops at no column
		// and says nothing of fields; the error says where and how.
		{"field name with a hyphen", "From: a@example.com\nTo: {{.E-mail}}\n\nBody\n", []string{`letter.txt:2:7: a field name with "-" needs {{index . "E-mail"}}`}},
		{"field name with a space", "From: a@example.com\nTo: x@example.com\n\nДобрый день!\nВаш адрес: {{ .Электронная почта }}.\n", []string{`letter.txt:5:15: a field name with a space needs {{index . "Электронная почта"}}`}},
		{"field name with spaces in a pipeline", "From: a@example.com\nTo: x@example.com\nSubject: {{.Имя и фамилия | upper}}\n\nBody\n", []string{`letter.txt:3:12: a field name with a space needs (index . "Имя и фамилия") in place of .Имя и фамилия`}},
		{"field name with a hyphen in an if", "From: a@example.com\nTo: x@example.com\n\n{{/* e-mail */}}{{if $.Год-рождения}}x{{end}}\n", []string{`letter.txt:4:22: a field name with "-" needs (index $ "Год-рождения") in place of $.Год-рождения`}},
		{"field name with a hyphen in a row", "From: a@example.com\nTo: x@example.com\n\n{{range .Rows}}\n  {{- .Оценка-1 -}}\n{{end}}\n", []string{`letter.txt:5:7: a field name with "-" needs {{index . "Оценка-1"}}`}},
		{"field name with a hyphen in html", "From: a@example.com\nTo: x@example.com\nContent-Type: text/html\n\n<p>{{.e-mail}}</p>\n", []string{`letter.txt:5:6: a field name with "-" needs {{index . "e-mail"}}`}},
		{"a trim marker without its space", "From: a@example.com\nTo: x@example.com\n\n{{.name-}}\n", []string{`letter.txt:4: bad character U+002D '-'`}},
		{"a function that is not defined", "From: a@example.com\nTo: x@example.com\n\n{{shout .name}}\n", []string{`letter.txt:4: function "shout" not defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testOptions().parse("letter.txt", []byte(tt.src))
			if err == nil {
				t.Fatal("parsed")
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.errs)
			}
		})
	}
}

// TestAddressCountBackstop: a header never holds more addresses than the
// template's own @ signs plus one per field that holds an address.
func TestAddressCountBackstop(t *testing.T) {
	h := &headerTemplate{name: "To", fields: []string{"name", "email"}, ats: 1}
	row := Row{Values: map[string]string{"name": "Ivan, Petr", "email": "ivan@example.com"}}
	if err := checkAddressCount(h, row, 2); err != nil {
		t.Errorf("2 of at most 2: %v", err)
	}
	err := checkAddressCount(h, row, 3)
	if err == nil || err.Error() != `field "name": header To: renders 3 addresses where the template and its fields give at most 2` {
		t.Errorf("3 of at most 2: %v", err)
	}
}

func TestReplacementCharacterIsText(t *testing.T) {
	// U+FFFD written as UTF-8 is a character like any other.
	if _, err := testOptions().parse("letter.txt", []byte("From: a@example.com\nTo: x@example.com\n\n\uFFFD\n")); err != nil {
		t.Error(err)
	}
}

func TestCheckFields(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: {{.Email}}\nSubject: {{.name}} {{.grade}}\n\nDear {{.name}},\n{{with .course}}{{.inner}}{{end}}{{$.nmae}}\n", testOptions())
	err := tm.CheckFields([]string{"name", "email", "course"})
	want := []string{
		`letter.txt:2:7: unknown field "Email": did you mean "email"? (field names are case-sensitive)`,
		`letter.txt:3:22: unknown field "grade": the list has "name", "email", "course"`,
		`letter.txt:6:37: unknown field "nmae": the list has "name", "email", "course"`,
	}
	if err == nil || !reflect.DeepEqual(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("CheckFields:\n got %v\nwant %q", err, want)
	}
	if !errors.Is(err, ErrUnknownField) {
		t.Error("not ErrUnknownField")
	}
	var names []string
	for _, f := range tm.fields {
		if !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	if !reflect.DeepEqual(names, []string{"Email", "name", "grade", "course", "nmae"}) {
		t.Errorf("fields used: %q", names)
	}
}

// TestStructuredHeadersAreNotEncoded: a long List-Unsubscribe URL stays
// one token (an encoded-word there would break it); non-ASCII text in a
// structured header is an error; X- headers are free text.
func TestStructuredHeadersAreNotEncoded(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\nList-Unsubscribe: <https://example.com/unsubscribe?list=course-announcements&id={{.id}}>, <mailto:unsub@example.com?subject={{.id}}>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\nX-Note: {{.note}}\n\nBody\n", testOptions())
	id := strings.Repeat("0123456789", 5)
	l, err := tm.Render(Row{Values: map[string]string{"id": id, "note": "примечание"}})
	if err != nil {
		t.Fatal(err)
	}
	nm, err := mail.ReadMessage(bytes.NewReader(l.Data))
	if err != nil {
		t.Fatal(err)
	}
	want := "<https://example.com/unsubscribe?list=course-announcements&id=" + id + ">, <mailto:unsub@example.com?subject=" + id + ">"
	if got := nm.Header.Get("List-Unsubscribe"); got != want {
		t.Errorf("List-Unsubscribe = %q\nwant %q", got, want)
	}
	if got, _ := new(mime.WordDecoder).DecodeHeader(nm.Header.Get("X-Note")); got != "примечание" {
		t.Errorf("X-Note = %q", got)
	}
	_, err = tm.Render(Row{Values: map[string]string{"id": strings.Repeat("x", 1000), "note": "x"}})
	if err == nil || !strings.Contains(err.Error(), "998 octets") {
		t.Errorf("a 1000-octet word: err = %v", err)
	}
	_, err = tm.Render(Row{Values: map[string]string{"id": "ид", "note": "x"}})
	if err == nil || err.Error() != `field "id": header List-Unsubscribe: non-ASCII text is allowed only in Subject, Comments, Keywords, Organization and X- headers` {
		t.Errorf("err = %v", err)
	}
}

func TestIndexFieldsAreChecked(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: {{index . \"E-mail\"}}\n\nDear {{index . \"First Nmae\"}}\n{{with .list}}{{index $ \"Grupa\"}}{{end}}\n", testOptions())
	err := tm.CheckFields([]string{"First Name", "E-mail", "list", "Group"})
	if err == nil || !strings.Contains(err.Error(), `letter.txt:4:16: unknown field "First Nmae": the list has "First Name", "E-mail"`) ||
		!strings.Contains(err.Error(), `letter.txt:5:25: unknown field "Grupa"`) {
		t.Errorf("CheckFields = %v", err)
	}
	l, err := tm.Render(Row{Values: map[string]string{"First Name": "Ada", "E-mail": "ada@example.com", "list": "", "Group": "7"}})
	if err != nil || !bytes.Contains(l.Data, []byte("To: ada@example.com")) {
		t.Errorf("render: %v", err)
	}
}

func TestMissingKeyIsAnError(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\n\n\nDear {{.name}}\n", testOptions())
	_, err := tm.Render(Row{Values: map[string]string{}})
	if err == nil || err.Error() != `letter.txt:5:8: <.name>: map has no entry for key "name"` {
		t.Errorf("err = %v", err)
	}
}

func TestAttachments(t *testing.T) {
	dir := t.TempDir()
	inside := filepath.Join(dir, "inside")
	os.MkdirAll(filepath.Join(inside, "sub"), 0o755)
	os.WriteFile(filepath.Join(inside, "ok.pdf"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(inside, "link.txt"))
	os.Symlink("ok.pdf", filepath.Join(inside, "good-link.pdf"))

	tests := []struct {
		path, err string
		outside   bool
	}{
		{path: "ok.pdf"},
		{path: "good-link.pdf"},
		{path: "", err: ""}, // empty: no attachment
		{path: "missing.pdf", err: `field "file": header Attachment: attachment "missing.pdf" not found (looked in ` + inside + ")"},
		{path: "../secret.txt", err: `field "file": header Attachment: attachment "../secret.txt" is outside the attachments folder ` + inside + " (set attachments_allow_outside: true to allow it)"},
		{path: filepath.Join(dir, "secret.txt"), err: `field "file": header Attachment: attachment "` + filepath.Join(dir, "secret.txt") + `" is outside the attachments folder ` + inside + " (set attachments_allow_outside: true to allow it)"},
		{path: "link.txt", err: `field "file": header Attachment: attachment "link.txt" is outside the attachments folder ` + inside + " (set attachments_allow_outside: true to allow it)"},
		{path: "link.txt", outside: true},
		{path: "sub", err: `field "file": header Attachment: attachment "sub" is not a regular file`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			opts := testOptions()
			opts.AttachmentsDir = inside
			opts.AllowOutside = tt.outside
			tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: {{.file}}\n\nBody\n", opts)
			l, err := tm.Render(Row{Values: map[string]string{"file": tt.path}})
			if fmt.Sprint(err) != fmt.Sprint(tt.err) && !(err == nil && tt.err == "") {
				t.Fatalf("err = %v\nwant %s", err, tt.err)
			}
			if err == nil {
				d := decode(t, l.Data)
				if tt.path != "" && len(d.attachments) != 1 {
					t.Errorf("attachments = %v", d.attachments)
				}
			}
		})
	}
}

// TestAttachmentSizeCap: attachments that would make a letter bigger than
// send.max_letter_size on the wire (base64 adds a third) are a problem of
// the row, named by its field, found before anything is read or sent.
func TestAttachmentSizeCap(t *testing.T) {
	dir := t.TempDir()
	big, _ := os.Create(filepath.Join(dir, "video.mp4"))
	big.Truncate(20 << 20) // sparse: nothing is written
	big.Close()
	os.WriteFile(filepath.Join(dir, "small.pdf"), make([]byte, 1<<20), 0o644)
	opts := testOptions()
	opts.AttachmentsDir, opts.MaxLetterSize = dir, 25<<20
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: {{.a}}\nAttachment: {{.b}}\n\nBody\n", opts)
	if _, err := tm.Execute(Row{Values: map[string]string{"a": "small.pdf", "b": "small.pdf"}}); err != nil {
		t.Errorf("two small files: %v", err)
	}
	_, err := tm.Execute(Row{Values: map[string]string{"a": "small.pdf", "b": "video.mp4"}})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Field != "b" || !strings.Contains(err.Error(), "would be 28.7 MB on the wire, more than mailing.yaml: send.max_letter_size allows (25.0 MB)") {
		t.Errorf("err = %v", err)
	}
}

func TestSecondAttachmentBlamesItsOwnField(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: {{.first}}\nAttachment: {{.second}}\n\nBody\n", testOptions())
	_, err := tm.Render(Row{Values: map[string]string{"first": "syllabus.txt", "second": "nope.pdf"}})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Field != "second" {
		t.Errorf("err = %v, want it to name field second", err)
	}
}

// TestMessageIDSurvivesTemplateEdits: a letter's identity comes from the
// campaign and its recipients (see the letter package), not the text.
func TestMessageIDSurvivesTemplateEdits(t *testing.T) {
	row := Row{Values: map[string]string{"email": "x@example.com"}}
	l1, _ := parseText(t, "From: a@example.com\nTo: {{.email}}\n\nVersion 1\n", testOptions()).Render(row)
	l2, _ := parseText(t, "From: a@example.com\nTo: {{.email}}\nSubject: fixed\n\nVersion 2\n", testOptions()).Render(row)
	if l1.MessageID != l2.MessageID {
		t.Errorf("Message-ID changed with the template: %s, %s", l1.MessageID, l2.MessageID)
	}
}

func TestBodyLineEnds(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\n\n{{.v}}", testOptions())
	l, err := tm.Render(Row{Values: map[string]string{"v": "a\rb\r\nc\nd\x00e\n.\nlong " + strings.Repeat("x", 200)}})
	if err != nil {
		t.Fatal(err)
	}
	d := decode(t, l.Data)
	if want := "a\r\nb\r\nc\r\nd\x00e\r\n.\r\nlong " + strings.Repeat("x", 200) + "\r\n"; d.texts["text/plain"] != want {
		t.Errorf("body = %q", d.texts["text/plain"])
	}
	if !bytes.Contains(l.Data, []byte("d=00e")) {
		t.Error("NUL is not quoted-printable encoded")
	}
}

func TestLetterSizeCap(t *testing.T) {
	opts := testOptions()
	opts.MaxLetter = 1000
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\n\n{{.v}}{{.v}}", opts)
	_, err := tm.Render(Row{Values: map[string]string{"v": strings.Repeat("x", 600)}})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

// FuzzHeaders renders arbitrary values into address and subject headers:
// whatever the values, a letter either fails with a *ValueError or parses
// back with exactly the headers the template has and the subject it was
// given.
func FuzzHeaders(f *testing.F) {
	f.Add("Ivan", "ivan@example.com", "Hello")
	f.Add("Иван Петров", "ivan@пример.рф", strings.Repeat("Тема ", 50))
	f.Add("a\r\nBcc: x@y.z", "b@c.d", "s")
	f.Add(`"q" <x@y.z>, `, `"a> NOTIFY=NEVER"@b.com`, "=?utf-8?q?x?=")
	f.Add("Petrov, Ivan", "\u200bivan@example.com\u00a0", "\t tabs\t")
	tm, err := testOptions().parse("fuzz.txt", []byte("From: Sender <s@example.com>\nTo: {{.name}} <{{.email}}>\nSubject: {{.subject}}\n\nbody\n"))
	if err != nil {
		f.Fatal(err)
	}
	// Other ways templates put fields in address headers, with the most
	// recipients each may have whatever the cells hold.
	others := []struct {
		src  string
		most int
	}{
		{"From: s@example.com\nTo: \"{{.name}}\" <{{.email}}>\n\nbody\n", 1},
		{"From: s@example.com\nTo: {{.email}}\nCc: {{.name}}\n\nbody\n", 2},
		{"From: s@example.com\nTo: {{.name}}, boss@example.com\n\nbody\n", 2},
		{"From: s@example.com\nTo: {{.name}}{{.email}}\n\nbody\n", 2},
		{"From: s@example.com\nBcc: {{.subject}}\nTo: <{{.email}}>\n\nbody\n", 2},
	}
	var otherTemplates []*testTemplate
	for _, o := range others {
		otm, err := testOptions().parse("fuzz.txt", []byte(o.src))
		if err != nil {
			f.Fatal(err)
		}
		otherTemplates = append(otherTemplates, otm)
	}
	f.Add("\u0600", "0@р.р", "0") // a name of a format character alone: none (found by CI's fuzzing)
	f.Fuzz(func(t *testing.T, name, email, subject string) {
		row := Row{Values: map[string]string{"name": name, "email": email, "subject": subject}}
		for i, otm := range otherTemplates {
			if l, err := otm.Render(row); err == nil && len(l.Recipients) > others[i].most {
				t.Fatalf("%q made %d recipients, at most %d: %q", others[i].src, len(l.Recipients), others[i].most, l.Recipients)
			}
		}
		l, err := tm.Render(row)
		if err != nil {
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("error is not a *ValueError: %v", err)
			}
			return
		}
		checkWire(t, l.Data)
		e, err := gomessage.Read(bytes.NewReader(l.Data))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for f := e.Header.Fields(); f.Next(); {
			keys = append(keys, f.Key())
		}
		want := []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding"}
		if strings.TrimSpace(subject) == "" {
			want = append(want[:2], want[3:]...)
		}
		if !reflect.DeepEqual(keys, want) {
			t.Fatalf("header fields = %q; want %q", keys, want)
		}
		if len(l.Recipients) != 1 {
			t.Fatalf("recipients = %q", l.Recipients)
		}
		// A plain name (no address in it) reads back as the display name.
		if utf8.ValidString(name) && !strings.ContainsAny(name, "@<>") {
			nm, err := mail.ReadMessage(bytes.NewReader(l.Data))
			if err != nil {
				t.Fatal(err)
			}
			to, err := nm.Header.AddressList("To")
			norm := func(s string) string { return strings.Join(strings.Fields(visible(s)), " ") }
			if err != nil || len(to) != 1 {
				t.Fatalf("To %q: %v %v", nm.Header.Get("To"), to, err)
			}
			want := strings.TrimSpace(visible(name))
			if unq, ok := address.Unquote(want); ok {
				want = unq // a quoted name is the quoted-string form, as from To: "{{.name}}"
			}
			if norm(to[0].Name) != norm(want) {
				t.Fatalf("To name = %q; want %q (header %q)", to[0].Name, name, nm.Header.Get("To"))
			}
		}
		if strings.TrimSpace(subject) != "" {
			got, err := new(mime.WordDecoder).DecodeHeader(strings.Join(strings.Fields(e.Header.Get("Subject")), " "))
			if err == nil && utf8.ValidString(subject) && strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(subject), " ") {
				t.Fatalf("Subject = %q; want %q", got, subject)
			}
		}
	})
}

// visible is s without what the address cleaning takes out of a name
// (address.Clean): the invisible characters spreadsheets paste, every
// Unicode format character (Cf), not only the zero-width space and the
// BOM; spaces are the caller's to trim.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// TestEveryShapeDecodesBack renders each body kind with and without
// attachments, with and without a final newline, and reads every letter
// back whole: the right parts, the text intact, the attachments
// byte for byte.
func TestEveryShapeDecodesBack(t *testing.T) {
	syllabus, err := os.ReadFile("testdata/attach/syllabus.txt")
	if err != nil {
		t.Fatal(err)
	}
	plain, html := "Hello, Ада & Co", "Hello, Ада &amp; Co"
	kinds := []struct {
		name, contentType string
		texts             map[string]string // media type of each text part -> text it contains
	}{
		{"plain", "", map[string]string{"text/plain": plain}},
		{"html", "Content-Type: text/html\n", map[string]string{"text/html": html}},
		{"markdown", "Content-Type: text/markdown\n", map[string]string{"text/plain": plain, "text/html": html}},
	}
	for _, k := range kinds {
		for _, attach := range []bool{false, true} {
			for _, end := range []string{"", "\n"} {
				name := fmt.Sprintf("%s/attachments=%v/final-newline=%v", k.name, attach, end != "")
				t.Run(name, func(t *testing.T) {
					src := "From: a@example.com\nTo: {{.email}}\nSubject: s\n" + k.contentType
					if attach {
						src += "Attachment: syllabus.txt\n"
					}
					src += "\nHello, {{.name}}" + end
					l, err := parseText(t, src, testOptions()).Render(Row{Line: 2, Values: map[string]string{"name": "Ада & Co", "email": "ada@example.com"}})
					if err != nil {
						t.Fatal(err)
					}
					d := decode(t, l.Data)
					if len(d.texts) != len(k.texts) {
						t.Errorf("text parts %v, want %d", slices.Collect(maps.Keys(d.texts)), len(k.texts))
					}
					for mt, want := range k.texts {
						if !strings.Contains(d.texts[mt], want) {
							t.Errorf("%s part = %q, want it to contain %q", mt, d.texts[mt], want)
						}
					}
					switch {
					case attach && !bytes.Equal(d.attachments["syllabus.txt"], syllabus):
						t.Errorf("attachment = %q", d.attachments["syllabus.txt"])
					case !attach && len(d.attachments) != 0:
						t.Errorf("attachments %v", d.attachments)
					}
				})
			}
		}
	}
}

// TestSources: each envelope recipient is known by the field it came
// from, or as the template's own (an instructor's copy).
func TestSources(t *testing.T) {
	tm := parseText(t, "From: a@example.com\nTo: {{.name}} <{{.email}}>\nCc: {{.parent}}, dean@example.com\nBcc: Teacher <teacher@example.com>\n\nBody\n", testOptions())
	l, err := tm.Render(Row{Values: map[string]string{"name": "Ivan", "email": "Ivan@Example.com", "parent": "Mum <mum@example.com>"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Ivan@Example.com", "mum@example.com", "dean@example.com", "teacher@example.com"}; !slices.Equal(l.Recipients, want) {
		t.Errorf("recipients %q, want %q", l.Recipients, want)
	}
	if want := []string{"email", "parent", "", ""}; !slices.Equal(l.Sources, want) {
		t.Errorf("sources %q, want %q", l.Sources, want)
	}
}

// TestAddressShapes: whatever the shape of the template's address header,
// invisible characters in the address cell are cleaned with one warning
// on that cell, a name cell's no-break spaces are no address problem, and
// an empty or broken address is blamed on the cell that holds it.
func TestAddressShapes(t *testing.T) {
	shapes := []string{"{{.email}}", "{{.name}} <{{.email}}>", `"{{.name}}" <{{.email}}>`, "<{{.email}}>", "{{.name}} <{{.email}}>, boss@example.com"}
	cleaned := []string{"ivan@exam\u200bple.com", "ivan@example.com\u00a0", "\u00a0ivan@example.com", "\ufeffivan@example.com"}
	broken := map[string]string{"": "no address (is the cell empty?)", "\u00a0": "no address (is the cell empty?)", "ivan example.com": "has no @"}
	for _, sh := range shapes {
		tm := parseText(t, "From: a@example.com\nTo: "+sh+"\nCc: {{.email}}\n\nBody\n", testOptions())
		for _, v := range cleaned {
			l, err := tm.Execute(Row{Line: 2, Values: map[string]string{"email": v, "name": "Иван\u00a0Петров"}})
			if err != nil {
				t.Errorf("%s, %q: %v", sh, v, err)
				continue
			}
			var ve *ValueError
			if len(l.Warnings) != 1 || !errors.As(l.Warnings[0], &ve) || ve.Field != "email" || !slices.Contains(l.Recipients, "ivan@example.com") {
				t.Errorf("%s, %q: warnings %v, recipients %v; want one, on email", sh, v, l.Warnings, l.Recipients)
			}
		}
		for v, want := range broken {
			_, err := tm.Execute(Row{Line: 2, Values: map[string]string{"email": v, "name": "Иван Петров"}})
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Field != "email" || !strings.Contains(err.Error(), want) {
				t.Errorf("%s, %q: err %v; want it on field email, saying %q", sh, v, err, want)
			}
		}
	}
}
