package template

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/yuin/goldmark"
)

// Row is one recipient's data.
type Row struct {
	Line   int // CSV line, for the letter's record
	Values map[string]string
}

// Letter is one rendered message with its envelope.
type Letter struct {
	Line       int      // CSV line of the row
	From       string   // envelope sender (MAIL FROM)
	Recipients []string // envelope recipients (RCPT TO): To, Cc and Bcc
	To         []string // the addresses of the To header alone
	MessageID  string   // with angle brackets
	// Key identifies the letter in the journal: the Message-ID's hash of
	// the campaign and the recipients, without the domain.
	Key         string
	SMTPUTF8    bool // an address needs the SMTPUTF8 extension
	Attachments []Attachment
	// Warnings are problems that did not stop the letter, such as
	// invisible characters removed from an address. Each is a *ValueError.
	Warnings []error
	// Data is the message as it goes on the wire, with CRLF line ends.
	Data []byte
}

// Attachment describes an attached file.
type Attachment struct {
	Name string // file name in the message
	Path string // where it was read from
	Size int64
}

// ValueError is a problem with a rendered value of one row. Field names the
// CSV field the value came from, when that is known.
type ValueError struct {
	Header string
	Field  string
	Column int // character in the field value, when known
	Err    error
}

func (e *ValueError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	if e.Header != "" {
		fmt.Fprintf(&b, "header %s: ", e.Header)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ValueError) Unwrap() error { return e.Err }

// ErrTooLarge is wrapped when a letter renders larger than MaxLetter.
var ErrTooLarge = errors.New("letter too large")

// Render renders the letter for one row.
func (t *Template) Render(row Row) (*Letter, error) {
	l := &Letter{Line: row.Line}
	var fields [][]byte // raw header fields in output order
	var to, cc, bcc []address
	var domain string
	type attachment struct {
		path string
		h    *headerTemplate
	}
	var attachPaths []attachment
	budget := 0
	for _, h := range t.headers {
		v, err := t.renderHeader(h, row)
		if err != nil {
			return nil, err
		}
		budget += len(v)
		switch h.name {
		case "From", "To", "Cc", "Bcc", "Reply-To", "Sender":
			clean, changed := cleanAddressValue(v)
			if changed {
				l.Warnings = append(l.Warnings, &ValueError{Header: h.name, Field: firstField(h), Err: errors.New("invisible characters or special spaces removed from the address")})
			}
			if clean == "" {
				if h.name == "Cc" || h.name == "Bcc" || h.name == "Reply-To" {
					continue // an empty optional address header is left out
				}
				return nil, &ValueError{Header: h.name, Field: firstField(h), Err: errors.New("no address")}
			}
			if err := checkAddressFields(h, row); err != nil {
				return nil, err
			}
			list, err := parseAddressList(clean)
			if err != nil {
				return nil, addressError(h, row, err)
			}
			if err := checkAddressCount(h, row, len(list)); err != nil {
				return nil, err
			}
			for _, a := range list {
				l.SMTPUTF8 = l.SMTPUTF8 || a.UTF8
			}
			switch h.name {
			case "From":
				if len(list) != 1 {
					return nil, &ValueError{Header: h.name, Err: fmt.Errorf("has %d addresses, want exactly one", len(list))}
				}
				l.From = list[0].Addr
				domain = l.From[strings.LastIndexByte(l.From, '@')+1:]
			case "To":
				to = append(to, list...)
			case "Cc":
				cc = append(cc, list...)
			case "Bcc":
				bcc = append(bcc, list...)
				continue // envelope only
			}
			fields = append(fields, foldField(h.name, addressTokens(list, wordBudget(h.name))))
		case "Attachment":
			if p := strings.TrimSpace(v); p != "" {
				attachPaths = append(attachPaths, attachment{p, h})
			}
		default:
			if v == "" {
				continue
			}
			tokens, err := valueTokens(h.name, v)
			if err != nil {
				return nil, &ValueError{Header: h.name, Field: firstField(h), Err: err}
			}
			fields = append(fields, foldField(h.name, tokens))
		}
	}
	l.Recipients = envelope(to, cc, bcc)
	l.To = envelope(to)
	if len(l.Recipients) == 0 {
		return nil, &ValueError{Err: errors.New("no recipients: To, Cc and Bcc are all empty")}
	}

	for _, p := range attachPaths {
		a, err := t.resolveAttachment(p.path)
		if err != nil {
			return nil, &ValueError{Header: "Attachment", Field: firstField(p.h), Err: err}
		}
		l.Attachments = append(l.Attachments, a)
	}

	var body bytes.Buffer
	lw := &limitWriter{w: &body, n: t.opts.MaxLetter - budget}
	if err := t.body.Execute(lw, row.Values); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, &ValueError{Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, t.opts.MaxLetter)}
		}
		return nil, t.locate(err, t.bodyLine, 1)
	}

	if t.opts.MessageID != nil {
		l.MessageID = t.opts.MessageID(l.Recipients, domain)
	} else {
		l.MessageID = MessageID(t.opts.Campaign, l.Recipients, 0, domain)
	}
	l.Key = strings.TrimPrefix(l.MessageID[:strings.LastIndexByte(l.MessageID, '@')], "<")
	fields = append(fields,
		foldField("Date", []string{t.opts.Now().Format(time.RFC1123Z)}),
		foldField("Message-ID", []string{l.MessageID}),
		foldField("MIME-Version", []string{"1.0"}),
	)
	data, err := t.build(fields, normalizeNewlines(body.Bytes()), l.Attachments)
	if err != nil {
		return nil, &ValueError{Err: err}
	}
	l.Data = data
	return l, nil
}

// renderHeader executes a header template and checks the result for
// characters that would end the header line, blaming the CSV field.
func (t *Template) renderHeader(h *headerTemplate, row Row) (string, error) {
	for _, f := range h.fields {
		// The CSV reader hands over UTF-8 only; other callers must too.
		if !utf8.ValidString(row.Values[f]) {
			return "", &ValueError{Header: h.name, Field: f, Err: errors.New("value is not valid UTF-8")}
		}
		if r, col, bad := controlChar(row.Values[f]); bad {
			return "", &ValueError{Header: h.name, Field: f, Column: col, Err: fmt.Errorf("value contains control character %U (a line break?); header values must be one line", r)}
		}
	}
	var b strings.Builder
	if err := h.tmpl.Execute(&limitWriter{w: &b, n: maxValue}, row.Values); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", &ValueError{Header: h.name, Err: fmt.Errorf("value over %d bytes", maxValue)}
		}
		return "", t.locate(err, h.line, h.col)
	}
	v := strings.TrimSpace(b.String())
	if r, _, bad := controlChar(v); bad {
		return "", &Error{File: t.file, Line: h.line, Err: fmt.Errorf("header %s renders control character %U", h.name, r)}
	}
	return v, nil
}

// checkAddressFields stops CSV values from adding recipients: a field used
// in an address header holds either exactly one address, with nothing
// around it (no list comma, no group), or a name without any of the
// characters that delimit addresses.
func checkAddressFields(h *headerTemplate, row Row) error {
	for _, f := range h.fields {
		v, _ := cleanAddressValue(row.Values[f])
		if !strings.ContainsAny(v, "@<>") {
			continue
		}
		list, err := parseAddressList(v)
		if err != nil {
			return &ValueError{Header: h.name, Field: f, Err: err}
		}
		if len(list) != 1 {
			return &ValueError{Header: h.name, Field: f, Err: fmt.Errorf("holds %d addresses; put each address in a column of its own", len(list))}
		}
		// net/mail reads "a@b.c," and "g: a@b.c;" as one address, but
		// next to the template's text the comma starts another.
		if _, err := mail.ParseAddress(v); err != nil && !oneMailbox.MatchString(v) {
			return &ValueError{Header: h.name, Field: f, Err: fmt.Errorf("%q is not one plain address: %v", v, strings.TrimPrefix(err.Error(), "mail: "))}
		}
	}
	return nil
}

// checkAddressCount is the backstop of checkAddressFields: every address
// has an @, so a header cannot hold more addresses than the @ signs of the
// template's text plus the fields that hold one address each.
func checkAddressCount(h *headerTemplate, row Row, n int) error {
	most := h.ats + len(addressFields(h, row))
	if n > most {
		return &ValueError{Header: h.name, Field: firstField(h), Err: fmt.Errorf("renders %d addresses where the template and its fields give at most %d", n, most)}
	}
	return nil
}

// addressError blames a header that does not parse on the field that holds
// the address rather than on the name before it, and names the usual
// cause: a whole address put where the template already has <...>.
func addressError(h *headerTemplate, row Row, err error) error {
	field := firstField(h)
	if fs := addressFields(h, row); len(fs) > 0 {
		field = fs[0]
	}
	if v := row.Values[field]; strings.ContainsAny(v, "<>") {
		err = fmt.Errorf("%w (the field holds %q, a whole address, and the template adds its own <...>: use either)", err, v)
	}
	return &ValueError{Header: h.name, Field: field, Err: err}
}

// addressFields lists the fields of an address header whose values hold an
// address (an @), in template order.
func addressFields(h *headerTemplate, row Row) []string {
	var out []string
	for _, f := range h.fields {
		if strings.Contains(row.Values[f], "@") {
			out = append(out, f)
		}
	}
	return out
}

func firstField(h *headerTemplate) string {
	if h == nil || len(h.fields) == 0 {
		return ""
	}
	return h.fields[0]
}

// envelope lists each recipient address once, in header order.
func envelope(lists ...[]address) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, a := range list {
			k := strings.ToLower(a.Addr)
			if !seen[k] {
				seen[k] = true
				out = append(out, a.Addr)
			}
		}
	}
	return out
}

// MessageID returns the Message-ID of a campaign's letter to recipients: a
// hash of both, so a re-run or a resend gives the same letter the same ID
// whatever the template says. n tells apart rows with the same recipients.
func MessageID(campaign string, recipients []string, n int, domain string) string {
	rcpts := make([]string, len(recipients))
	for i, r := range recipients {
		rcpts[i] = strings.ToLower(r)
	}
	sort.Strings(rcpts)
	h := sha256.New()
	io.WriteString(h, campaign)
	for _, r := range rcpts {
		io.WriteString(h, "\x00"+r)
	}
	if n > 0 {
		io.WriteString(h, "\x00#"+strconv.Itoa(n))
	}
	id := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:20]))
	if domain == "" {
		domain = "mailmerge.invalid"
	}
	return "<" + id + "@" + domain + ">"
}

// build assembles the MIME message.
func (t *Template) build(fields [][]byte, body []byte, attachments []Attachment) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(body)*11/10 + 1024)

	textHeader, writeText := t.textEntity(body)
	if len(attachments) == 0 {
		fields = append(fields, textHeader...)
		w, err := message.CreateWriter(&out, rawHeader(fields))
		if err != nil {
			return nil, err
		}
		if err := writeText(w); err != nil {
			return nil, err
		}
		// Close writes the closing boundary (Markdown) and flushes the
		// encoder: it must run before the buffer is taken.
		if err := w.Close(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}

	fields = append(fields, foldField("Content-Type", paramTokens("multipart/mixed", map[string]string{"boundary": t.opts.Boundary()})))
	mw, err := message.CreateWriter(&out, rawHeader(fields))
	if err != nil {
		return nil, err
	}
	if err := writePart(mw, textHeader, writeText); err != nil {
		return nil, err
	}
	for _, a := range attachments {
		h := [][]byte{
			foldField("Content-Type", paramTokens(mediaType(a.Name), map[string]string{"name": a.Name})),
			foldField("Content-Disposition", paramTokens("attachment", map[string]string{"filename": a.Name})),
			foldField("Content-Transfer-Encoding", []string{"base64"}),
		}
		if err := writePart(mw, h, func(w io.Writer) error { return copyFile(w, a.Path) }); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// textEntity returns the header fields and a body writer for the text of
// the letter: one part, or multipart/alternative for Markdown.
func (t *Template) textEntity(body []byte) ([][]byte, func(io.Writer) error) {
	text := func(subtype string) [][]byte {
		return [][]byte{
			foldField("Content-Type", paramTokens("text/"+subtype, map[string]string{"charset": "utf-8"})),
			foldField("Content-Transfer-Encoding", []string{"quoted-printable"}),
		}
	}
	write := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}
	switch t.kind {
	case htmlBody:
		return text("html"), write(body)
	case markdownBody:
		h := [][]byte{foldField("Content-Type", paramTokens("multipart/alternative", map[string]string{"boundary": t.opts.Boundary()}))}
		return h, func(w io.Writer) error {
			mw := w.(*message.Writer)
			if err := writePart(mw, text("plain"), write(body)); err != nil {
				return err
			}
			var html bytes.Buffer
			html.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
			if err := goldmark.Convert(body, &html); err != nil {
				return fmt.Errorf("render Markdown: %w", err)
			}
			html.WriteString("</body></html>\n")
			return writePart(mw, text("html"), write(html.Bytes()))
		}
	}
	return text("plain"), write(body)
}

func writePart(mw *message.Writer, fields [][]byte, body func(io.Writer) error) error {
	w, err := mw.CreatePart(rawHeader(fields))
	if err != nil {
		return err
	}
	if err := body(w); err != nil {
		return err
	}
	return w.Close()
}

// rawHeader makes a go-message header of pre-folded fields. go-message
// writes fields last-added first, hence the reverse order.
func rawHeader(fields [][]byte) message.Header {
	var h message.Header
	for i := len(fields) - 1; i >= 0; i-- {
		h.AddRaw(fields[i])
	}
	return h
}

// normalizeNewlines turns CRLF and lone CR into LF and ends the text with
// one; the quoted-printable writer then emits CRLF line ends only.
func normalizeNewlines(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

func randomBoundary() string {
	var b [15]byte
	rand.Read(b[:])
	return "mm-" + hex.EncodeToString(b[:])
}

func textprotoCanonical(k string) string { return textproto.CanonicalMIMEHeaderKey(k) }

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, ErrTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}
