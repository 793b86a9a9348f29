package template

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/attachment"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
)

// ErrUnknownField is wrapped by the errors CheckFields returns.
var ErrUnknownField = errors.New("unknown field")

// Options configure parsing and executing.
type Options struct {
	// Files finds attachments. The default is a store for the template's
	// folder (ParseFile) or the working folder (Parse).
	Files *attachment.Store
	// MaxLetter caps the rendered text of one letter, headers and body,
	// before encoding. Default 8 MiB.
	MaxLetter int
	// ListUnsubscribe adds List-Unsubscribe (and, with a URL,
	// List-Unsubscribe-Post) to every letter (unsubscribe.go).
	ListUnsubscribe ListUnsubscribe
	// MaxLetterSize caps a letter's size on the wire with its
	// attachments (send.max_letter_size); 0 for no cap. Where refers to
	// the key in messages.
	MaxLetterSize int64
	MaxLetterKey  string
	// RenderTimeout caps the time one letter takes to fill in
	// (send.render_timeout). Default 5 s.
	RenderTimeout time.Duration
	// Now is the clock RenderTimeout is measured with; default time.Now.
	Now func() time.Time
}

// executor is what text/template and html/template have in common.
type executor interface {
	Execute(w io.Writer, data any) error
}

// Template is a parsed letter template.
type Template struct {
	source   // the letter's template file
	opts     Options
	headers  []*headerTemplate
	names    []string // every header name in the file, parsed or not
	body     executor
	bodyLine int // file line of the first body line
	bodySize int // of the body's source: the size to start a letter's buffer at
	kind     letter.Kind
	fields   []fieldRef
	unsub    *texttemplate.Template // ListUnsubscribe.URL, parsed
	sum      [sha256.Size]byte      // of the source
}

// source is a template file, for locating its problems.
type source struct {
	file string   // as the user knows it, for errors
	text []string // the file's lines, to count columns in characters
}

// Sum is the SHA-256 of the template's source: what letters were made
// with, for the journal.
func (t *Template) Sum() [sha256.Size]byte { return t.sum }

type headerTemplate struct {
	name   string // canonical
	line   int
	col    int // column where the value starts
	tmpl   *texttemplate.Template
	fields []string // fields referenced
	ats    int      // @ signs in the header's own text: addresses the template itself can supply
	// addrFields are the fields of an address header that stand where an
	// address goes (between the template's own < and >, or every field
	// when the template has none): the ones to blame for a bad address.
	addrFields []string
	// An Attachment's filename= (its own template, at its column), and
	// with render=pdf the page to print.
	filename *headerTemplate
	page     *pageTemplate
}

// fieldRef is one {{.field}} in the template, for CheckFields.
type fieldRef struct {
	name      string
	line, col int
	config    string // where in the config, for a field a config value reads
	file      string // the page template it is in (Attachment: ...; render=pdf); "" for the letter's
}

// Headers mailmerge writes itself; a template may not set them.
var reserved = map[string]string{
	"Date":                      "set by mailmerge when the letter is rendered",
	"Message-Id":                "set by mailmerge from the campaign and the recipients",
	"Mime-Version":              "set by mailmerge",
	"Content-Transfer-Encoding": "set by mailmerge (quoted-printable for text, base64 for attachments)",
}

var headerName = regexp.MustCompile(`^[!-9;-~]+$`)

// ParseFile reads and parses a template file.
func ParseFile(path string, opts Options) (*Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if opts.Files == nil {
		if opts.Files, err = attachment.NewStore(filepath.Dir(path), false); err != nil {
			return nil, fmt.Errorf("attachments folder: %w", err)
		}
	}
	return Parse(filepath.Base(path), src, opts)
}

// checkText rejects a template that is not UTF-8 text: an editor's
// "ANSI" (Windows-1251) or "Unicode" (UTF-16) would otherwise become
// letters full of U+FFFD or NULs.
func checkText(name, text string) error {
	const fix = "save the template as UTF-8"
	if strings.HasPrefix(text, "\xff\xfe") || strings.HasPrefix(text, "\xfe\xff") {
		return &located.Error{File: name, Err: errors.New("the template is UTF-16: " + fix)}
	}
	line, col := 1, 1
	for i, r := range text {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(text[i:], "\uFFFD"):
			return &located.Error{File: name, Line: line, Column: col, Err: errors.New("the template is not UTF-8 (Windows-1251?): " + fix)}
		case r == 0:
			return &located.Error{File: name, Line: line, Column: col, Err: errors.New("NUL byte in the template: " + fix)}
		case r == '\n':
			line, col = line+1, 0
		}
		col++
	}
	return nil
}

// Parse parses a template. name is used in errors.
func Parse(name string, src []byte, opts Options) (*Template, error) {
	if opts.MaxLetter <= 0 {
		opts.MaxLetter = 8 << 20
	}
	if opts.RenderTimeout <= 0 {
		opts.RenderTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Files == nil {
		var err error
		if opts.Files, err = attachment.NewStore(".", false); err != nil {
			return nil, fmt.Errorf("attachments folder: %w", err)
		}
	}
	t := &Template{source: source{file: name}, opts: opts, sum: sha256.Sum256(src)}

	text := strings.ReplaceAll(string(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))), "\r\n", "\n")
	if err := checkText(name, text); err != nil {
		return nil, err
	}
	t.text = strings.Split(text, "\n")
	head, body, ok := strings.Cut(text, "\n\n")
	if !ok {
		return nil, &located.Error{File: name, Err: errors.New("no blank line: a template is a header block, a blank line, then the body")}
	}
	var errs []error
	lines := strings.Split(head, "\n")
	seenOnce := map[string]int{} // header → its line, for those a letter may have once
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		lineNo := i + 1
		key, value, found := strings.Cut(line, ":")
		if !found || !headerName.MatchString(key) {
			errs = append(errs, &located.Error{File: name, Line: lineNo, Err: fmt.Errorf("not a header line (want \"Name: value\"): %q", clip(line))})
			continue
		}
		for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], " ") || strings.HasPrefix(lines[i+1], "\t")) {
			i++
			value += lines[i]
		}
		canon := canonical(key)
		if why, ok := reserved[canon]; ok {
			errs = append(errs, &located.Error{File: name, Line: lineNo, Err: fmt.Errorf("header %s is %s", key, why)})
			continue
		}
		col := len(key) + 2 + len(value) - len(strings.TrimLeft(value, " \t"))
		h := &headerTemplate{name: canon, line: lineNo, col: col, ats: strings.Count(value, "@")}
		if canon == "Content-Type" {
			if err := t.setKind(strings.TrimSpace(value)); err != nil {
				errs = append(errs, &located.Error{File: name, Line: lineNo, Err: err})
			}
			continue
		}
		if first, twice := seenOnce[canon]; twice {
			errs = append(errs, &located.Error{File: name, Line: lineNo, Err: fmt.Errorf("header %s again (first on line %d): a letter may have it once (RFC 5322 §3.6); put all its addresses or its text in one %s line", canon, first, canon)})
			continue
		}
		if onceOnly(canon) {
			seenOnce[canon] = lineNo
		}
		t.names = append(t.names, canon)
		src := strings.TrimSpace(value)
		if canon == "Attachment" {
			errs = append(errs, t.parseAttachment(h, src)...)
			t.headers = append(t.headers, h)
			continue
		}
		tmpl, err := texttemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(src)
		if err != nil {
			errs = append(errs, t.parseError(err, src, lineNo, col))
			continue
		}
		h.tmpl = tmpl
		refs, err := walkFields(tmpl.Tree, src, treesOf(tmpl)...)
		if err != nil {
			errs = append(errs, t.locateNode(err, lineNo, col))
		}
		for _, r := range refs {
			h.fields = append(h.fields, r.name)
			t.fields = append(t.fields, fieldRef{name: r.name, line: lineNo + r.line - 1, col: col + r.col - 1})
		}
		if isAddressHeader(canon) {
			h.addrFields = addressPositions(src, refs)
		}
		t.headers = append(t.headers, h)
	}
	t.bodyLine = len(lines) + 2
	if err := t.parseBody(body); err != nil {
		errs = append(errs, err)
	}
	if err := t.parseUnsubscribe(); err != nil {
		errs = append(errs, err)
	}
	if err := t.checkRequired(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// onceOnly reports the fields a message may have at most once (RFC 5322
// §3.6): a second Cc or Subject would reach readers as two, or as one of
// them, depending on the reader.
func onceOnly(name string) bool {
	switch name {
	case "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post":
		return true
	}
	return false
}

func isAddressHeader(name string) bool {
	switch name {
	case "From", "To", "Cc", "Bcc", "Reply-To", "Sender":
		return true
	}
	return false
}

// addressPositions lists the fields of an address header's text src that
// stand where an address goes: between the template's own < and > (the
// name before them is not an address), or, when the text has none, every
// field (the cell holds the address).
func addressPositions(src string, refs []fieldRef) []string {
	var inAngle []bool // per character of src: between a < and a > of the template's text
	angles, inAction, angle := false, false, false
	runes := []rune(src)
	for i := 0; i < len(runes); i++ {
		switch {
		case !inAction && i+1 < len(runes) && runes[i] == '{' && runes[i+1] == '{':
			inAction = true
		case inAction && i > 0 && runes[i-1] == '}' && runes[i] == '}':
			inAction = false
		case !inAction && runes[i] == '<':
			angle, angles = true, true
		case !inAction && runes[i] == '>':
			angle = false
		}
		inAngle = append(inAngle, angle)
	}
	var out []string
	for _, r := range refs {
		if (!angles || r.line == 1 && r.col-1 < len(inAngle) && inAngle[r.col-1]) && !slices.Contains(out, r.name) {
			out = append(out, r.name)
		}
	}
	return out
}

func (t *Template) setKind(v string) error {
	switch strings.ToLower(strings.TrimSpace(strings.Split(v, ";")[0])) {
	case "text/plain":
		t.kind = letter.Plain
	case "text/html":
		t.kind = letter.HTML
	case "text/markdown":
		t.kind = letter.Markdown
	default:
		return fmt.Errorf("Content-Type %q: the body can be text/plain, text/html or text/markdown", v)
	}
	return nil
}

func (t *Template) parseBody(body string) error {
	t.bodySize = len(body)
	var tree *parse.Tree
	var defined []*parse.Tree
	if t.kind == letter.HTML {
		tmpl, err := htmltemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(body)
		if err != nil {
			return t.parseError(err, body, t.bodyLine, 1)
		}
		t.body, tree = tmpl, tmpl.Tree
		for _, d := range tmpl.Templates() {
			defined = append(defined, d.Tree)
		}
	} else {
		tmpl, err := texttemplate.New("t").Option("missingkey=error").Funcs(helpers).Funcs(builtins).Parse(body)
		if err != nil {
			return t.parseError(err, body, t.bodyLine, 1)
		}
		t.body, tree = tmpl, tmpl.Tree
		defined = treesOf(tmpl)
	}
	refs, err := walkFields(tree, body, defined...)
	for _, r := range refs {
		t.fields = append(t.fields, fieldRef{name: r.name, line: t.bodyLine + r.line - 1, col: r.col})
	}
	if err != nil {
		return t.locateNode(err, t.bodyLine, 1)
	}
	return nil
}

// treesOf returns the parse trees of the templates tmpl defines.
func treesOf(tmpl *texttemplate.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, d := range tmpl.Templates() {
		out = append(out, d.Tree)
	}
	return out
}

func (t *Template) checkRequired() error {
	var from, rcpt bool
	for _, name := range t.names {
		switch name {
		case "From":
			from = true
		case "To", "Cc", "Bcc":
			rcpt = true
		}
	}
	var errs []error
	if !from {
		errs = append(errs, &located.Error{File: t.file, Err: errors.New("no From header")})
	}
	if !rcpt {
		errs = append(errs, &located.Error{File: t.file, Err: errors.New("no recipient: add a To, Cc or Bcc header")})
	}
	return errors.Join(errs...)
}

// CheckFields reports every use of a field that the CSV header lacks, so
// that no row is rendered with a field missing.
func (t *Template) CheckFields(header []string) error {
	have := map[string]bool{}
	for _, h := range header {
		have[h] = true
	}
	var errs []error
	for _, f := range t.fields {
		if have[f.name] {
			continue
		}
		msg := fmt.Errorf("%w %q: the list has %s", ErrUnknownField, f.name, strings.Join(quoteAll(slices.DeleteFunc(slices.Clone(header), func(h string) bool { return h == RowsField })), ", "))
		if f.name == RowsField {
			msg = fmt.Errorf("%w %q: {{range .Rows}} needs recipients.group_by, which makes one letter of a person's rows", ErrUnknownField, f.name)
		}
		for _, h := range header {
			if strings.EqualFold(h, f.name) {
				msg = fmt.Errorf("%w %q: did you mean %q? (field names are case-sensitive)", ErrUnknownField, f.name, h)
			}
		}
		if f.config != "" {
			errs = append(errs, fmt.Errorf("%s: %w", f.config, msg))
			continue
		}
		file := t.file
		if f.file != "" {
			file = f.file
		}
		errs = append(errs, &located.Error{File: file, Line: f.line, Column: f.col, Err: msg})
	}
	return errors.Join(errs...)
}

// Uses reports whether the template reads a field at its top level, as
// {{.name}} (or {{.Rows}} for a group's rows).
func (t *Template) Uses(field string) bool {
	return slices.ContainsFunc(t.fields, func(f fieldRef) bool { return f.name == field })
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// canonical returns the usual spelling of a header name.
func canonical(k string) string {
	switch strings.ToLower(k) {
	case "message-id":
		return "Message-Id"
	case "mime-version":
		return "Mime-Version"
	}
	return textprotoCanonical(k)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// templateErr matches the position text/template and html/template put in
// front of their messages, for templates named "t".
var templateErr = regexp.MustCompile(`(?s)^(?:html/)?template: ?t:(\d+):(?:(\d+):)?\s*(.*)$`)

// locate turns a text/template error into an *located.Error at its line in the
// template file; line and col are where the parsed text starts.
func (t *source) locate(err error, line, col int) error {
	m := templateErr.FindStringSubmatch(err.Error())
	if m == nil {
		return &located.Error{File: t.file, Line: line, Err: err}
	}
	l, _ := strconv.Atoi(m[1])
	c, _ := strconv.Atoi(m[2]) // a 0-based byte offset, when there is one
	if m[2] != "" {
		c++
		if l == 1 {
			c += col - 1
		}
		c = t.charColumn(line+l-1, c)
	}
	msg := strings.TrimPrefix(m[3], `executing "t" at `)
	return &located.Error{File: t.file, Line: line + l - 1, Column: c, Err: errors.New(msg)}
}

// parseError locates an error parsing src, which starts at line and col
// of the file, and explains a field name the parser could not read.
func (t *Template) parseError(err error, src string, line, col int) error {
	at := t.locate(err, line, col)
	le, ok := at.(*located.Error)
	if !ok {
		return at
	}
	f, ok := fieldNameFix(src, le.Err.Error())
	if !ok {
		return at
	}
	c := f.col
	if f.line == 1 {
		c += col - 1
	}
	return &located.Error{File: t.file, Line: line + f.line - 1, Column: t.charColumn(line+f.line-1, c), Err: errors.New(f.msg)}
}

// charColumn turns a column in bytes on a line of the file into one in
// characters, as editors count.
func (t *source) charColumn(line, byteCol int) int {
	if line < 1 || line > len(t.text) {
		return byteCol
	}
	text := t.text[line-1]
	return utf8.RuneCountInString(text[:min(byteCol-1, len(text))]) + 1
}

// nodeError is a problem found while walking a parse tree.
type nodeError struct {
	line, col int
	msg       string
}

func (e *nodeError) Error() string { return e.msg }

func (t *source) locateNode(err error, line, col int) error {
	var ne *nodeError
	if !errors.As(err, &ne) {
		return &located.Error{File: t.file, Line: line, Err: err}
	}
	c := ne.col
	if ne.line == 1 {
		c += col - 1
	}
	return &located.Error{File: t.file, Line: line + ne.line - 1, Column: c, Err: errors.New(ne.msg)}
}
