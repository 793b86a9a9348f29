package template

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestAttachmentFileName: filename= names an attachment as the reader
// sees it, filled in with the row; a mail reader (go-message, net/mail)
// reads the Cyrillic name back from its RFC 2231 encoding. Characters no
// file system takes become _, and a name that renders empty is the
// row's problem.
func TestAttachmentFileName(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s17.pdf"), []byte("%PDF-1.4 grades"), 0o644)
	tests := []struct {
		header, name, want, err string
	}{
		{`files/s{{.id}}.pdf; filename="Ведомость {{.name}}.pdf"`, "Иванов Иван", "Ведомость Иванов Иван.pdf", ""},
		{`files/s{{.id}}.pdf;filename=Ведомость {{.name}}.pdf`, "Ёлкина", "Ведомость Ёлкина.pdf", ""},
		{`files/s{{.id}}.pdf; FILENAME="{{index . "name"}}.pdf"`, "Петров; Пётр", "Петров; Пётр.pdf", ""},
		{`files/s{{.id}}.pdf; filename="{{.name}}.pdf"`, `10/11 "A": Смирнов?`, "10_11 _A__ Смирнов_.pdf", ""},
		{`files/s{{.id}}.pdf`, "Иванов", "s17.pdf", ""},
		{`files/s{{.id}}.pdf; filename="{{.name}}"`, "", "", `field "name": header Attachment: filename= renders empty (is the cell empty?)`},
		{`files/s{{.id}}.pdf; filename="{{.name}}.pdf"`, "a\nBcc: x@example.com", "", `field "name": header Attachment: value contains control character U+000A (a line break?); header values must be one line`},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			os.MkdirAll(filepath.Join(dir, "files"), 0o755)
			os.Rename(filepath.Join(dir, "s17.pdf"), filepath.Join(dir, "files", "s17.pdf"))
			opts := testOptions()
			opts.AttachmentsDir = dir
			tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: "+tt.header+"\n\nBody\n", opts)
			l, err := tm.Render(Row{Values: map[string]string{"id": "17", "name": tt.name}})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, l.Data) // net/mail and go-message read it
			if got := d.attachments[tt.want]; string(got) != "%PDF-1.4 grades" {
				t.Errorf("attachments %v; want one named %q", keys(d.attachments), tt.want)
			}
		})
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAttachmentParameters: what an Attachment header may say after its
// path, and where each mistake is.
func TestAttachmentParameters(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.html"), []byte("<p>{{.name}}</p>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.html"), []byte("<h1>Сертификат</h1>\n<p>\n  Выдан {{.name}\n</p>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "field.html"), []byte("<h1>Сертификат</h1>\n<p>{{.Name}}</p>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loop.md"), []byte("# Итог\n\n{{range 100000000}}x{{end}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cert.docx"), []byte("x"), 0o644)
	tests := []struct {
		header string
		errs   []string
	}{
		{"cert.html; render=pdf", nil},
		{`cert.html; render="PDF"; filename="Сертификат {{.name}}.pdf"`, nil},
		{"cert.html; render=png", []string{"letter.txt:3:24: render=png: the only rendering is render=pdf"}},
		{"cert.html; inline", []string{`letter.txt:3:24: "inline" is not a parameter of Attachment: after the path come filename="..." (the name the reader sees) and render=pdf (print an HTML or Markdown template as PDF), each after a ;`}},
		{"cert.html; filename=", []string{`letter.txt:3:24: filename= is empty: write the name the reader sees, as filename="Ведомость {{.name}}.pdf"`}},
		{"cert.html; filename=\"{{.nmae}}.pdf\"", nil}, // a field the list lacks: CheckFields says it
		{"cert.html; filename=\"{{.name}.pdf\"", []string{`letter.txt:3:`}},
		{"{{.course}}.html; render=pdf", []string{"letter.txt:3:13: with render=pdf the path names one template for every letter: choose what differs inside it, with {{if}}"}},
		{"cert.docx; render=pdf", []string{`letter.txt:3:13: render=pdf prints an HTML (.html) or Markdown (.md) template, not "cert.docx"`}},
		{"missing.html; render=pdf", []string{`letter.txt:3:13: attachment "missing.html" not found (looked in ` + dir + ")"}},
		{"bad.html; render=pdf", []string{"bad.html:3: bad character U+007D '}'"}},
		{"loop.md; render=pdf", []string{"loop.md:3:9: range over a number is not allowed in a letter"}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			opts := testOptions()
			opts.AttachmentsDir = dir
			_, err := opts.parse("letter.txt", []byte("From: a@example.com\nTo: x@example.com\nAttachment: "+tt.header+"\n\nBody\n"))
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(tt.errs) == 1 && strings.HasSuffix(tt.errs[0], ":") { // the place only
				if len(got) != 1 || !strings.HasPrefix(got[0], tt.errs[0]) {
					t.Errorf("errors:\n got %q\nwant one at %q", got, tt.errs[0])
				}
				return
			}
			if !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.errs)
			}
		})
	}

	// The page's fields are checked against the list's, in the page's file.
	opts := testOptions()
	opts.AttachmentsDir = dir
	tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: field.html; render=pdf; filename=\"{{.nmae}}.pdf\"\n\nBody\n", opts)
	err := tm.CheckFields([]string{"name", "email"})
	want := []string{
		`letter.txt:3:49: unknown field "nmae": the list has "name", "email"`,
		`field.html:2:6: unknown field "Name": did you mean "name"? (field names are case-sensitive)`,
	}
	if err == nil || !reflect.DeepEqual(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("CheckFields:\n got %v\nwant %q", err, want)
	}
}

// TestPageIsFilledIn: a page to print is filled in with the row, HTML
// escaping its values (html/template) or, in Markdown, leaving raw HTML
// out; its folder is the template's, for its images.
func TestPageIsFilledIn(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "certs"), 0o755)
	os.WriteFile(filepath.Join(dir, "certs", "cert.html"), []byte(`<h1>Сертификат</h1><p title="{{.name}}">{{.name}}</p>`), 0o644)
	os.WriteFile(filepath.Join(dir, "certs", "cert.md"), []byte("# Сертификат\n\n**{{.name}}**\n"), 0o644)
	opts := testOptions()
	opts.AttachmentsDir = dir
	row := Row{Values: map[string]string{"name": `Пётр <script>alert(1)</script> & "Ко"`}}
	tests := []struct {
		header, name string
		want         []string
		not          []string
	}{
		{"certs/cert.html; render=pdf", "cert.pdf",
			[]string{`<p title="Пётр &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Ко&#34;">Пётр &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Ко&#34;</p>`}, []string{"<script>"}},
		{`certs/cert.md; render=pdf; filename="Сертификат.pdf"`, "Сертификат.pdf",
			[]string{`<meta charset="utf-8">`, "<h1>Сертификат</h1>", "<strong>Пётр", "&amp;"}, []string{"<script>"}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			tm := parseText(t, "From: a@example.com\nTo: x@example.com\nAttachment: "+tt.header+"\n\nBody\n", opts)
			l, err := tm.Execute(row)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Attachments) != 1 || l.Attachments[0].Page == nil || l.Attachments[0].File != nil {
				t.Fatalf("attachments = %+v", l.Attachments)
			}
			a := l.Attachments[0]
			real, _ := filepath.EvalSymlinks(filepath.Join(dir, "certs"))
			if a.Name != tt.name || a.Page.Dir != real {
				t.Errorf("name %q, folder %q; want %q, %q", a.Name, a.Page.Dir, tt.name, real)
			}
			html := string(a.Page.HTML)
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("page lacks %q:\n%s", w, html)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(html, n) {
					t.Errorf("page has %q:\n%s", n, html)
				}
			}
		})
	}
}

// TestSplitAttachment: semicolons inside actions and quotes are no
// separators.
func TestSplitAttachment(t *testing.T) {
	got := splitAttachment(`a{{index . "x;y"}}.pdf; filename="b;c {{.n}}"; render=pdf`)
	var texts []string
	for _, p := range got {
		texts = append(texts, p.text)
	}
	want := []string{`a{{index . "x;y"}}.pdf`, ` filename="b;c {{.n}}"`, ` render=pdf`}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("got %q\nwant %q", texts, want)
	}
}
