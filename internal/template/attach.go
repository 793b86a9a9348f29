package template

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/message"
)

// An Attachment header names a file, and may say more after it, each
// part after a semicolon, as MIME parameters go:
//
//	Attachment: files/s{{.id}}.pdf; filename="Ведомость {{.name}}.pdf"
//	Attachment: certificate.html; render=pdf; filename="Сертификат {{.name}}.pdf"
//
// filename= (a template, quoted or not) is the name the reader sees;
// render=pdf makes the file a template of a page (HTML, or Markdown),
// filled in with the row as the letter is and attached printed as PDF.
// The split is made on the template's own text, before anything is
// filled in: a cell with a semicolon in it is part of a value, never a
// parameter.

// pageTemplate is the page of an Attachment with render=pdf.
type pageTemplate struct {
	source
	body     executor
	markdown bool
	dir      string // its folder, symlinks resolved
	size     int    // of its source: the size to start a page's buffer at
}

// attachPart is one part of an Attachment header's value.
type attachPart struct {
	text string
	col  int // byte offset in the value
}

// splitAttachment splits an Attachment header's value at the semicolons
// outside the template's actions and outside quotes.
func splitAttachment(v string) []attachPart {
	var parts []attachPart
	start, inAction, inQuote := 0, false, false
	for i := 0; i < len(v); i++ {
		switch {
		case !inAction && strings.HasPrefix(v[i:], "{{"):
			inAction = true
			i++
		case inAction && strings.HasPrefix(v[i:], "}}"):
			inAction = false
			i++
		case !inAction && v[i] == '"':
			inQuote = !inQuote
		case !inAction && !inQuote && v[i] == ';':
			parts = append(parts, attachPart{v[start:i], start})
			start = i + 1
		}
	}
	return append(parts, attachPart{v[start:], start})
}

// parseAttachment parses the value of an Attachment header at line, whose
// value starts at column col: the path as h's template, and its
// parameters.
func (t *Template) parseAttachment(h *headerTemplate, value string) []error {
	parts := splitAttachment(value)
	var errs []error
	at := func(p attachPart, err error) {
		errs = append(errs, &located.Error{File: t.file, Line: h.line, Column: t.charColumn(h.line, h.col+p.col), Err: err})
	}
	var render string
	var name *attachPart
	for _, p := range parts[1:] {
		lead := len(p.text) - len(strings.TrimLeft(p.text, " \t"))
		p = attachPart{strings.TrimSpace(p.text), p.col + lead}
		key, val, ok := strings.Cut(p.text, "=")
		switch k := strings.ToLower(strings.TrimSpace(key)); {
		case !ok || k != "render" && k != "filename":
			at(p, fmt.Errorf("%q is not a parameter of Attachment: after the path come filename=\"...\" (the name the reader sees) and render=pdf (print an HTML or Markdown template as PDF), each after a ;", clip(p.text)))
		case k == "render":
			if render = strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`)); render != "pdf" {
				at(p, fmt.Errorf("render=%s: the only rendering is render=pdf", strings.TrimSpace(val)))
			}
		default:
			off := len(key) + 1 + len(val) - len(strings.TrimLeft(val, " \t"))
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val, off = val[1:len(val)-1], off+1
			}
			if strings.TrimSpace(val) == "" {
				at(p, errors.New(`filename= is empty: write the name the reader sees, as filename="Ведомость {{.name}}.pdf"`))
				continue
			}
			name = &attachPart{val, p.col + off}
		}
	}
	path := parts[0]
	lead := len(path.text) - len(strings.TrimLeft(path.text, " \t"))
	path = attachPart{strings.TrimSpace(path.text), path.col + lead}
	if name != nil {
		fh := &headerTemplate{name: "Attachment", line: h.line, col: h.col + name.col}
		if err := t.parseValue(fh, name.text); err != nil {
			errs = append(errs, err...)
		}
		h.filename = fh
	}
	if render == "pdf" {
		if strings.Contains(path.text, "{{") {
			at(path, errors.New("with render=pdf the path names one template for every letter: choose what differs inside it, with {{if}}"))
		} else if page, err := t.parsePage(path.text); err != nil {
			var le *located.Error
			if !errors.As(err, &le) { // not in the page's own file: at the header
				err = &located.Error{File: t.file, Line: h.line, Column: t.charColumn(h.line, h.col+path.col), Err: err}
			}
			errs = append(errs, err)
		} else {
			h.page = page
		}
	}
	if err := t.parseValue(h, path.text); err != nil {
		errs = append(errs, err...)
	}
	return errs
}

// parseValue parses src, the template of a header's value (or a part of
// it) at h's line and column, into h, and notes the fields it reads.
func (t *Template) parseValue(h *headerTemplate, src string) []error {
	tmpl, err := texttemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(src)
	if err != nil {
		return []error{t.locate(err, h.line, h.col)}
	}
	h.tmpl = tmpl
	refs, err := walkFields(tmpl.Tree, src, treesOf(tmpl)...)
	for _, r := range refs {
		h.fields = append(h.fields, r.name)
		t.fields = append(t.fields, fieldRef{name: r.name, line: h.line + r.line - 1, col: h.col + r.col - 1})
	}
	if err != nil {
		return []error{t.locateNode(err, h.line, h.col)}
	}
	return nil
}

// parsePage reads and parses the template of a page to print, at path
// in the attachments folder: HTML (html/template, which escapes the
// row's values) or Markdown (whose HTML leaves raw HTML out), by its
// extension. Its fields are checked against the list's as the letter's
// are, and its problems located in its own file.
func (t *Template) parsePage(path string) (*pageTemplate, error) {
	var markdown bool
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
	case ".md", ".markdown":
		markdown = true
	default:
		return nil, fmt.Errorf("render=pdf prints an HTML (.html) or Markdown (.md) template, not %q", filepath.Base(path))
	}
	f, err := t.opts.Files.Resolve(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read the page's template: %w", err)
	}
	text := strings.ReplaceAll(string(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))), "\r\n", "\n")
	if err := checkText(path, text); err != nil {
		return nil, err
	}
	p := &pageTemplate{source: source{file: filepath.ToSlash(path), text: strings.Split(text, "\n")}, markdown: markdown, dir: filepath.Dir(f.Path), size: len(text)}
	var tree *parse.Tree
	var defined []*parse.Tree
	if markdown {
		tmpl, err := texttemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(text)
		if err != nil {
			return nil, p.locate(err, 1, 1)
		}
		p.body, tree, defined = tmpl, tmpl.Tree, treesOf(tmpl)
	} else {
		tmpl, err := htmltemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(text)
		if err != nil {
			return nil, p.locate(err, 1, 1)
		}
		p.body, tree = tmpl, tmpl.Tree
		for _, d := range tmpl.Templates() {
			defined = append(defined, d.Tree)
		}
	}
	refs, err := walkFields(tree, text, defined...)
	for _, r := range refs {
		t.fields = append(t.fields, fieldRef{name: r.name, line: r.line, col: r.col, file: p.file})
	}
	if err != nil {
		return nil, p.locateNode(err, 1, 1)
	}
	return p, nil
}

// renderPage fills in the page of h for row, as a page to print.
func (t *Template) renderPage(b *budget, p *pageTemplate, row Row) (*letter.Page, error) {
	var out bytes.Buffer
	out.Grow(p.size + p.size/4 + 256)
	if err := p.body.Execute(&limitWriter{w: &out, n: t.opts.MaxLetter, b: b}, row.data(row.Values)); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, &ValueError{Header: "Attachment", Err: fmt.Errorf("%s: %w: over %d bytes", p.file, ErrTooLarge, t.opts.MaxLetter)}
		}
		if err := b.check(); err != nil {
			return nil, stopped(err)
		}
		return nil, p.execError(err, 1, 1)
	}
	html := out.Bytes()
	if p.markdown {
		var err error
		if html, err = message.MarkdownPage(html); err != nil {
			return nil, &ValueError{Header: "Attachment", Err: fmt.Errorf("%s: %w", p.file, err)}
		}
	}
	return &letter.Page{HTML: html, Dir: p.dir, Source: p.file}, nil
}

// fileName renders the name an attachment has in the letter: its
// filename= for row, or the file's own name (a page's, with .pdf). The
// characters file systems do not take in a name (/ \ : * ? " < > |) become
// _, so the reader can save it.
func (t *Template) fileName(b *budget, h *headerTemplate, path string, row Row) (string, error) {
	if h.filename == nil {
		name := filepath.Base(path)
		if h.page != nil {
			name = strings.TrimSuffix(name, filepath.Ext(name)) + ".pdf"
		}
		return name, nil
	}
	v, err := t.renderHeader(b, h.filename, row, row.Values)
	if err != nil {
		return "", err
	}
	v = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, v)
	v = strings.TrimRight(v, ". ")
	if v == "" {
		return "", &ValueError{Header: "Attachment", Field: firstField(h.filename), Err: errors.New("filename= renders empty (is the cell empty?)")}
	}
	if utf8.RuneCountInString(v) > 200 {
		return "", &ValueError{Header: "Attachment", Field: firstField(h.filename), Err: errors.New("filename= renders a name over 200 characters")}
	}
	return v, nil
}
