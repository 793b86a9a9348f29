package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gomessage "github.com/emersion/go-message"
)

// TestHostileInputs is one table of bad inputs across the CSV, addresses,
// header and body values, templates, attachments and the config. Each
// either stops send before anything is written out, with the exit code
// and an error that names where (file:line, field or key), or makes a
// letter that an independent reader (Go's net/mail and mime) reads back
// as safe. Letters go into a Maildir, so "nothing sent" is an empty one.
func TestHostileInputs(t *testing.T) {
	const tmpl = "From: Dept <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Hello {{.subject}}\n\nDear {{.name}},\n{{.body}}\n"
	row := func(name, email, subject, body string) string {
		var b strings.Builder
		w := csv.NewWriter(&b)
		w.Write([]string{"name", "email", "subject", "body"})
		w.Write([]string{name, email, subject, body})
		w.Flush()
		return b.String()
	}
	ok := row("Ann", "ann@example.com", "news", "text")
	type files = map[string]string
	tests := []struct {
		name   string
		csv    string // people.csv; ok when empty
		tmpl   string // letter.txt; tmpl when empty
		cfg    string // more of mailing.yaml
		extra  files  // more files
		setup  func(dir string)
		code   int    // exit code of send; 0: a letter is written
		says   string // the output must hold this (where the problem is)
		letter func(t *testing.T, m *mail.Message, p parts)
	}{
		// The CSV file itself.
		{name: "unclosed quote", csv: "name,email,subject,body\nAnn,ann@example.com,\"news,text\n", code: 4, says: "people.csv:2"},
		{name: "a row with too many fields", csv: "name,email,subject,body\nAnn,ann@example.com,news,text,extra\n", code: 4, says: "people.csv:2"},
		{name: "a row with too few fields", csv: "name,email,subject,body\nAnn,ann@example.com\n", code: 4, says: "people.csv:2"},
		{name: "a column named twice", csv: "name,email,name,body\nAnn,ann@example.com,x,y\n", code: 4, says: "people.csv:1"},
		{name: "an empty file", csv: " ", code: 4, says: "people.csv"},
		{name: "a header and no rows", csv: "name,email,subject,body\n", code: 4, says: "people.csv: no recipients: the file has a header row but no data rows"},
		{name: "a NUL byte in a cell", csv: "name,email,subject,body\nA\x00nn,ann@example.com,news,text\n", code: 4, says: "people.csv:2"},
		{name: "not UTF-8 where UTF-8 was promised", csv: "name,email,subject,body\nAnn,ann@example.com,\xff\xfe news,text\n", cfg: "recipients:\n  file: people.csv\n  encoding: utf-8\n", code: 4, says: "people.csv:2"},
		{name: "a line break in a Subject value", csv: row("Ann", "ann@example.com", "news\nBcc: evil@example.net", "text"), code: 4, says: `people.csv:2`},
		{name: "a carriage return in a name", csv: row("Ann\rBcc: evil@example.net", "ann@example.com", "news", "text"), code: 4, says: `people.csv:2`},
		{name: "a huge field", csv: row("Ann", "ann@example.com", strings.Repeat("x", 2<<20), "text"), code: 4, says: "people.csv:2"},

		// Addresses.
		{name: "an SMTP command in an address", csv: row("Ann", "a@b.c\r\nRCPT TO:<evil@example.net>", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "an ESMTP parameter in a quoted local part", csv: row("Ann", `"a> NOTIFY=NEVER"@example.com`, "news", "text"), code: 4, says: "people.csv:2"},
		{name: "a space in an address", csv: row("Ann", "ann smith@example.com", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "two addresses in one cell", csv: row("Ann", "ann@example.com, evil@example.net", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "a group", csv: row("Ann", "g: ann@example.com, evil@example.net;", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "a source route", csv: row("Ann", "<@evil.example.net:ann@example.com>", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "an empty address", csv: row("Ann", "", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "a local part over 64 characters", csv: row("Ann", strings.Repeat("a", 65)+"@example.com", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "no domain", csv: row("Ann", "ann@", "news", "text"), code: 4, says: "people.csv:2"},
		{name: "angle brackets in the cell", csv: row("Ann", "ann@example.com> <evil@example.net", "news", "text"), code: 4, says: "people.csv:2"},

		// Values that are read back safe.
		{name: "a value that looks like an encoded-word", csv: row("Ann", "ann@example.com", "=?utf-8?q?=0A?=Bcc: evil@example.net", "text"), letter: func(t *testing.T, m *mail.Message, _ parts) {
			if s := decodeWords(t, m.Header.Get("Subject")); s != "Hello =?utf-8?q?=0A?=Bcc: evil@example.net" || m.Header.Get("Bcc") != "" {
				t.Errorf("Subject read back %q, Bcc %q", s, m.Header.Get("Bcc"))
			}
		}},
		{name: "an encoded-word in a name", csv: row("=?utf-8?b?0J/RkdGC0YA=?=", "ann@example.com", "news", "text"), letter: func(t *testing.T, m *mail.Message, _ parts) {
			to, err := m.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "ann@example.com" || to[0].Name != "=?utf-8?b?0J/RkdGC0YA=?=" {
				t.Errorf("To read back %v, %v: the name as typed, not decoded", to, err)
			}
		}},
		{name: "an address and brackets in a name", csv: row("x <evil@example.net>", "ann@example.com", "news", "text"), code: 4, says: `people.csv:2:1: field "name"`},
		{name: "quotes and backslashes in a name", csv: row(`Ivan "The" \ Petrov`, "ann@example.com", "news", "text"), letter: func(t *testing.T, m *mail.Message, _ parts) {
			to, err := m.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != `Ivan "The" \ Petrov` {
				t.Errorf("To read back %v, %v", to, err)
			}
		}},
		{name: "a comma in a name", csv: row("Petrov, Ivan", "ann@example.com", "news", "text"), letter: func(t *testing.T, m *mail.Message, _ parts) {
			to, err := m.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "Petrov, Ivan" {
				t.Errorf("To read back %v, %v", to, err)
			}
		}},
		{name: "an address in a name", csv: row("evil@example.net", "ann@example.com", "news", "text"), code: 4, says: `people.csv:2:1: field "name"`},
		{name: "a lone dot line in the body", csv: row("Ann", "ann@example.com", "news", "line\n.\nafter the dot"), letter: func(t *testing.T, _ *mail.Message, p parts) {
			if !strings.Contains(p["text/plain"], ".\nafter the dot") {
				t.Errorf("body lost its end: %q", p["text/plain"])
			}
		}},
		{name: "HTML in a value of an HTML letter", csv: row("Ann", "ann@example.com", "news", `<script>alert(1)</script><img src=x onerror=alert(1)>`),
			tmpl: "From: Dept <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Hello {{.subject}}\nContent-Type: text/html\n\n<p>Dear {{.name}},</p><p>{{.body}}</p>\n",
			letter: func(t *testing.T, _ *mail.Message, p parts) {
				if h := p["text/html"]; h == "" || strings.Contains(h, "<script>") || strings.Contains(h, "<img") {
					t.Errorf("markup from a value in the HTML: %q", h)
				}
			}},
		{name: "Markdown markup and raw HTML in a value", csv: row("Ann", "ann@example.com", "news", `<script>alert(1)</script> [link](javascript:alert(1))`),
			tmpl: "From: Dept <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Hello {{.subject}}\nContent-Type: text/markdown\n\nDear {{.name}},\n\n{{.body}}\n",
			letter: func(t *testing.T, _ *mail.Message, p parts) {
				if h := p["text/html"]; h == "" || strings.Contains(h, "<script>") || strings.Contains(h, `href="javascript:`) {
					t.Errorf("markup from a value in the HTML: %q", h)
				}
			}},
		{name: "a right-to-left override in a Subject", csv: row("Ann", "ann@example.com", "invoice\u202egpj.exe", "text"), letter: func(t *testing.T, m *mail.Message, _ parts) {
			if s := decodeWords(t, m.Header.Get("Subject")); !strings.HasPrefix(s, "Hello invoice") {
				t.Errorf("Subject read back %q", s)
			}
		}},

		// The template.
		{name: "a field not in the CSV", tmpl: "From: dept@example.edu\nTo: {{.email}}\nSubject: {{.nope}}\n\nBody\n", code: 4, says: "letter.txt:3"},
		{name: "two Cc lines", tmpl: "From: dept@example.edu\nTo: {{.email}}\nCc: a@example.com\nCc: b@example.com\n\nBody\n", code: 4, says: "letter.txt:4: header Cc again (first on line 3)"},
		{name: "a Message-ID in the template", tmpl: "From: dept@example.edu\nTo: {{.email}}\nMessage-ID: <x@y>\n\nBody\n", code: 4, says: "letter.txt:3"},
		{name: "no From", tmpl: "To: {{.email}}\n\nBody\n", code: 4, says: "letter.txt: no From header"},
		{name: "a syntax error", tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n{{if .name}}never closed\n", code: 4, says: "letter.txt:5: unexpected EOF"},
		{name: "a template that is not UTF-8", tmpl: "From: dept@example.edu\nTo: {{.email}}\nSubject: \xcf\xf0\xe8\xe2\xe5\xf2\n\nBody\n", code: 4, says: "letter.txt:3"},
		{name: "a header line without a colon", tmpl: "From: dept@example.edu\nTo {{.email}}\n\nBody\n", code: 4, says: "letter.txt:2"},
		{name: "a blank line missing", tmpl: "From: dept@example.edu", code: 4, says: "letter.txt: no blank line"},
		{name: "template calls that double 40 times", tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n" + doubling(40) + "{{template \"d40\"}}\n", code: 4, says: "letter.txt:4:"},
		{name: "a template that calls itself", tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n{{define \"d\"}}{{template \"d\" .}}{{end}}{{template \"d\" .}}\n", code: 4, says: "letter.txt:4:"},
		{name: "a value a template doubles", csv: "name,email,subject,body\n" + strings.Repeat("Ann,ann@example.com,news,text\n", 40), cfg: "recipients:\n  file: people.csv\n  group_by: email\n",
			tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n{{$x := .name}}{{range .Rows}}{{$x = printf \"%s%s\" $x $x}}{{end}}\n", code: 4, says: "people.csv:2"},
		{name: "printf padding to a gigabyte", tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n{{printf \"%01000000000d\" 1}}\n", code: 4, says: "width or precision 01000000000 is over 1000"},
		{name: "range over a length", tmpl: "From: dept@example.edu\nTo: {{.email}}\n\n{{range len .body}}{{range len $.body}}{{end}}{{end}}\n", code: 4, says: "letter.txt:4:"},

		// Attachments.
		{name: "an attachment outside the folder", tmpl: tmpl + "", cfg: "", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: ../secret.txt\n\nBody\n"}, setup: func(dir string) { os.WriteFile(filepath.Join(filepath.Dir(dir), "secret.txt"), []byte("s"), 0o600) }, code: 4, says: "outside the attachments folder"},
		{name: "the process's environment, allowed outside", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: /proc/self/environ\n\nBody\n"}, cfg: "attachments_allow_outside: true\n", code: 4, says: "is a system file (under /proc)"},
		{name: "a device", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: /dev/zero\n\nBody\n"}, cfg: "attachments_allow_outside: true\n", code: 4, says: "is a system file (under /dev)"},
		{name: "a missing attachment", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: {{.body}}.pdf\n\nBody\n"}, code: 4, says: `attachment "text.pdf" not found`},
		{name: "a folder as an attachment", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: sub\n\nBody\n"}, setup: func(dir string) { os.Mkdir(filepath.Join(dir, "sub"), 0o755) }, code: 4, says: `attachment "sub" is not a regular file`},
		{name: "a group of rows for different people", csv: "grp,name,email,subject,body\nA,Ann,ann@example.com,Math 5,x\nA,Bob,bob@example.com,Phys 4,y\n",
			cfg: "recipients:\n  file: people.csv\n  group_by: grp\n", tmpl: "From: dept@example.edu\nTo: {{.name}} <{{.email}}>\n\n{{range .Rows}}{{.subject}}\n{{end}}",
			code: 4, says: "people.csv:2: the rows of one group are for different people"},
		{name: "a FIFO as the journal", cfg: "send:\n  journal: pipe.journal\n", setup: func(dir string) { mkfifo(filepath.Join(dir, "pipe.journal")) }, code: 3, says: "pipe.journal is a named pipe, not a file: send.journal must name a file"},
		{name: "a FIFO as an attachment", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: pipe\n\nBody\n"}, setup: func(dir string) { mkfifo(filepath.Join(dir, "pipe")) }, code: 4, says: `attachment "pipe" is not a regular file`},
		{name: "a link out of the folder", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: link.txt\n\nBody\n"}, setup: func(dir string) {
			os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.txt"), []byte("s"), 0o600)
			os.Symlink(filepath.Join(filepath.Dir(dir), "outside.txt"), filepath.Join(dir, "link.txt"))
		}, code: 4, says: "outside the attachments folder"},
		{name: "an attachment too big to send", extra: files{"letter.txt": "From: dept@example.edu\nTo: {{.email}}\nAttachment: video.mp4\n\nBody\n"}, setup: func(dir string) {
			f, _ := os.Create(filepath.Join(dir, "video.mp4"))
			f.Truncate(30 << 20)
			f.Close()
		}, code: 4, says: "more than mailing.yaml: send.max_letter_size allows (25.0 MB)"},

		// The config.
		{name: "a port in the host", cfg: "smtp:\n  host: smtp.example.com:25\n", code: 3, says: "smtp.host: must be a host name or address, without the port"},
		{name: "a password in the file", cfg: "smtp:\n  password: hunter2\n", code: 3, says: "passwords are not read from the config file"},
		{name: "a password in password_env", cfg: "smtp:\n  password_env: my secret pw\n", code: 3, says: "smtp.password_env: must be the name of an environment variable"},
		{name: "an unknown key", cfg: "sned:\n  rate: 10/s\n", code: 3, says: "sned"},
		{name: "IMAP in the clear", cfg: "imap:\n  host: imap.example.com\n  username: me\n  security: none\n", code: 3, says: "imap.security: must be tls (also called SSL) or starttls"},
		{name: "a negative letter size", cfg: "send:\n  max_letter_size: -5MB\n", code: 3, says: "send.max_letter_size"},
	}
	if len(tests) < 40 {
		t.Fatalf("%d cases; the matrix promises at least 40", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mailing")
			os.Mkdir(dir, 0o755)
			write := func(name, data string) { os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644) }
			write("people.csv", cmpOr(tt.csv, ok))
			write("letter.txt", cmpOr(tt.tmpl, tmpl))
			for name, data := range tt.extra {
				write(name, data)
			}
			if tt.setup != nil {
				tt.setup(dir)
			}
			cfg := "template: letter.txt\nrecipients:\n  file: people.csv\nmaildir:\n  path: out\n" + tt.cfg
			if strings.Contains(tt.cfg, "smtp:") { // the config cases name a server instead
				cfg = strings.Replace(cfg, "maildir:\n  path: out\n", "", 1)
			}
			if strings.Contains(tt.cfg, "recipients:") {
				cfg = strings.Replace(cfg, "recipients:\n  file: people.csv\n", "", 1)
			}
			write("mailing.yaml", cfg)
			var out bytes.Buffer
			code := run(context.Background(), []string{"send", "--yes", "-c", filepath.Join(dir, "mailing.yaml")}, strings.NewReader(""), &out, &out)
			letters, _ := filepath.Glob(filepath.Join(dir, "out", "new", "*"))
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, &out)
			}
			if tt.code != 0 {
				if !strings.Contains(out.String(), tt.says) {
					t.Errorf("output does not say %q:\n%s", tt.says, &out)
				}
				if len(letters) != 0 {
					t.Errorf("%d letters written out", len(letters))
				}
				return
			}
			if len(letters) != 1 {
				t.Fatalf("%d letters written out, want 1\n%s", len(letters), &out)
			}
			data, _ := os.ReadFile(letters[0])
			m, err := mail.ReadMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("the letter does not parse: %v\n%s", err, data)
			}
			if m.Header.Get("Bcc") != "" || len(m.Header["Subject"]) > 1 || len(m.Header["To"]) != 1 {
				t.Errorf("headers: %v", m.Header)
			}
			tt.letter(t, m, decodedBodies(t, data))
		})
	}
}

// parts are a letter's text parts, decoded, by media type: what its
// reader sees.
type parts map[string]string

func decodedBodies(t *testing.T, data []byte) parts {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := parts{}
	e.Walk(func(_ []int, p *gomessage.Entity, _ error) error {
		if mt, _, _ := p.Header.ContentType(); strings.HasPrefix(mt, "text/") {
			b, _ := io.ReadAll(p.Body)
			out[mt] = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
		return nil
	})
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func decodeWords(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("%q: %v", v, err)
	}
	return s
}

// doubling defines d0 … dn, each calling the one before twice, d0 printing
// nothing: {{template "dn"}} makes 2^n calls.
func doubling(n int) string {
	var b strings.Builder
	b.WriteString(`{{define "d0"}}{{end}}`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{{define "d%d"}}{{template "d%d"}}{{template "d%d"}}{{end}}`, i, i-1, i-1)
	}
	return b.String()
}
