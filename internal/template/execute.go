package template

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/message"
)

// Row is one recipient's data.
type Row struct {
	Line   int // CSV line, for the letter's record
	Values map[string]string
	// Group holds every row of a group (recipients.group_by), the first
	// being Values, for {{range .Rows}}; nil without grouping.
	Group []map[string]string
}

// data is what a template executes on: the row's values, and with
// grouping the group's rows as .Rows.
func (r Row) data(values map[string]string) any {
	if r.Group == nil {
		return values
	}
	d := make(map[string]any, len(values)+1)
	for k, v := range values {
		d[k] = v
	}
	d[RowsField] = r.Group
	return d
}

// RowsField is the field a grouped letter's rows are in: {{range .Rows}}.
const RowsField = "Rows"

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

// Execute fills in the template for one row: every header checked, the
// body rendered, every attachment found. The letter has no identity yet
// (letter.Identify) and is not encoded (message.Build).
func (t *Template) Execute(row Row) (*letter.Letter, error) {
	return t.execute(t.budget(context.Background()), row, false)
}

// ExecuteContext is Execute, given up when ctx is done: a letter is also
// given up after Options.RenderTimeout (ErrRenderTimeout).
func (t *Template) ExecuteContext(ctx context.Context, row Row) (*letter.Letter, error) {
	return t.execute(t.budget(ctx), row, false)
}

// Envelope fills in only the address headers that make the envelope
// (From, To, Cc, Bcc), checked as Execute checks them: all a letter's
// identity needs. Its letter has no body, no other fields and no
// attachments.
func (t *Template) Envelope(ctx context.Context, row Row) (*letter.Letter, error) {
	return t.execute(t.budget(ctx), row, true)
}

// Addressees renders for row the header fields that say who gets the
// letter and who answers it (To, Cc, Bcc, Reply-To), one string a mailbox:
// the header's name, the name beside the address and the address in
// lower case. The rows of a group make one letter, so they must agree on
// these (recipients.group_by).
func (t *Template) Addressees(ctx context.Context, row Row) ([]string, error) {
	b := t.budget(ctx)
	var out []string
	for _, h := range t.headers {
		switch h.name {
		case "To", "Cc", "Bcc", "Reply-To":
		default:
			continue
		}
		v, err := t.renderHeader(b, h, row, row.Values)
		if err != nil {
			return nil, err
		}
		clean, _ := address.Clean(v)
		if clean == "" {
			continue
		}
		list, err := address.ParseList(clean)
		if err != nil {
			return nil, addressError(h, row, err)
		}
		for _, a := range list {
			mb := strings.ToLower(a.Addr)
			if a.Name != "" {
				mb = a.Name + " <" + mb + ">"
			}
			out = append(out, h.name+": "+mb)
		}
	}
	return out, nil
}

func (t *Template) execute(b *budget, row Row, envelopeOnly bool) (*letter.Letter, error) {
	l := &letter.Letter{Line: row.Line, Kind: t.kind}
	var to, cc, bcc []address.Mailbox
	sources := map[string]string{} // recipient address, lower case -> the field it came from
	type attachment struct {
		path string
		h    *headerTemplate
	}
	var attachPaths []attachment
	budget := 0
	cleaned := row // its values with those of address headers' fields cleaned
	warned := map[string]bool{}
	for _, h := range t.headers {
		isEnvelope := h.name == "From" || h.name == "To" || h.name == "Cc" || h.name == "Bcc"
		if envelopeOnly && !isEnvelope {
			continue
		}
		values := row.Values
		if isAddressHeader(h.name) {
			cleaned = t.cleanFields(h, row, cleaned, l, warned)
			values = cleaned.Values
		}
		v, err := t.renderHeader(b, h, row, values)
		if err != nil {
			return nil, err
		}
		budget += len(v)
		switch h.name {
		case "From", "To", "Cc", "Bcc", "Reply-To", "Sender":
			row := cleaned
			clean, changed := address.Clean(v)
			if changed { // in the template's own text: the fields are clean
				l.Warnings = append(l.Warnings, &ValueError{Header: h.name, Err: errors.New("invisible characters or special spaces removed from the template's address text")})
			}
			if clean == "" {
				if h.name == "Cc" || h.name == "Bcc" || h.name == "Reply-To" {
					continue // an empty optional address header is left out
				}
				return nil, &ValueError{Header: h.name, Field: blamed(h), Err: errors.New("no address (is the cell empty?)")}
			}
			if err := checkAddressFields(h, row); err != nil {
				return nil, err
			}
			list, err := address.ParseList(clean)
			if err != nil {
				return nil, addressError(h, row, err)
			}
			if err := checkAddressCount(h, row, len(list)); err != nil {
				return nil, err
			}
			for _, a := range list {
				l.SMTPUTF8 = l.SMTPUTF8 || a.UTF8
				if k := strings.ToLower(a.Addr); h.name != "From" && h.name != "Reply-To" && h.name != "Sender" {
					if _, ok := sources[k]; !ok {
						sources[k] = sourceField(h, row, a.Addr)
					}
				}
			}
			switch h.name {
			case "From":
				if len(list) != 1 {
					return nil, &ValueError{Header: h.name, Err: fmt.Errorf("has %d addresses, want exactly one", len(list))}
				}
				l.From = list[0].Addr
			case "To":
				to = append(to, list...)
			case "Cc":
				cc = append(cc, list...)
			case "Bcc":
				bcc = append(bcc, list...)
				continue // envelope only
			}
			l.Fields = append(l.Fields, letter.Field{Name: h.name, Mailboxes: list})
		case "Attachment":
			if p := strings.TrimSpace(v); p != "" {
				attachPaths = append(attachPaths, attachment{p, h})
			}
		default:
			if v == "" {
				continue
			}
			if err := message.CheckValue(h.name, v); err != nil {
				return nil, &ValueError{Header: h.name, Field: firstField(h), Err: err}
			}
			l.Fields = append(l.Fields, letter.Field{Name: h.name, Value: v})
		}
	}
	if !envelopeOnly {
		fields, err := t.unsubscribeFields(b, row)
		if err != nil {
			return nil, err
		}
		l.Fields = append(l.Fields, fields...)
	}
	l.Recipients = envelope(to, cc, bcc)
	l.To = envelope(to)
	for _, r := range l.Recipients {
		l.Sources = append(l.Sources, sources[strings.ToLower(r)])
	}
	if len(l.Recipients) == 0 {
		return nil, &ValueError{Err: errors.New("no recipients: To, Cc and Bcc are all empty")}
	}
	if envelopeOnly {
		return l, nil
	}

	var wire int64 // the attachments' size on the wire: base64, lines of 76
	for _, p := range attachPaths {
		name, err := t.fileName(b, p.h, p.path, row)
		if err != nil {
			return nil, err
		}
		if p.h.page != nil {
			pg, err := t.renderPage(b, p.h.page, row)
			if err != nil {
				return nil, err
			}
			l.Attachments = append(l.Attachments, letter.Attachment{Name: name, Page: pg})
			continue
		}
		f, err := t.opts.Files.Resolve(p.path)
		if err != nil {
			return nil, &ValueError{Header: "Attachment", Field: firstField(p.h), Err: err}
		}
		l.Attachments = append(l.Attachments, letter.Attachment{Name: name, File: f})
		wire += (f.Size + 2) / 3 * 4 * 78 / 76
		if max := t.opts.MaxLetterSize; max > 0 && wire > max {
			return nil, &ValueError{Header: "Attachment", Field: firstField(p.h), Err: fmt.Errorf(
				"with its attachments the letter would be %s on the wire, more than %s allows (%s): most mail servers refuse letters that big; share the file by a link instead",
				megabytes(wire), t.opts.MaxLetterKey, megabytes(max))}
		}
	}

	var body bytes.Buffer
	body.Grow(t.bodySize + t.bodySize/4 + 256) // once, not by doubling: a letter is mostly the template's own text
	lw := &limitWriter{w: &body, n: t.opts.MaxLetter - budget, b: b}
	if err := t.body.Execute(lw, row.data(row.Values)); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, &ValueError{Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, t.opts.MaxLetter)}
		}
		if err := b.check(); err != nil {
			return nil, stopped(err)
		}
		return nil, t.execError(err, t.bodyLine, 1)
	}
	l.Body = body.Bytes()
	return l, nil
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// execError locates a failed execution in the template. A helper that
// could not use a row's value (a date that does not parse) is that row's
// problem, said at the call in the template.
func (t *source) execError(err error, line, col int) error {
	at := t.locate(err, line, col)
	var he *HelperError
	if le, ok := at.(*located.Error); ok && errors.As(err, &he) {
		le.Err = he
		return &ValueError{Err: le}
	}
	return at
}

// maxValue caps a rendered header value.
const maxValue = 16 << 10

// renderHeader executes a header template on values and checks the result
// for characters that would end the header line, blaming the CSV field of
// row (the values as the CSV gave them).
func (t *Template) renderHeader(b *budget, h *headerTemplate, row Row, values map[string]string) (string, error) {
	for _, f := range h.fields {
		// The CSV reader hands over UTF-8 only; other callers must too.
		if !utf8.ValidString(row.Values[f]) {
			return "", &ValueError{Header: h.name, Field: f, Err: errors.New("value is not valid UTF-8")}
		}
		if r, col, bad := controlChar(row.Values[f]); bad {
			return "", &ValueError{Header: h.name, Field: f, Column: col, Err: fmt.Errorf("value contains control character %U (a line break?); header values must be one line", r)}
		}
	}
	var out strings.Builder
	if err := h.tmpl.Execute(&limitWriter{w: &out, n: maxValue, b: b}, row.data(values)); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", &ValueError{Header: h.name, Err: fmt.Errorf("value over %d bytes", maxValue)}
		}
		if err := b.check(); err != nil {
			return "", stopped(err)
		}
		return "", t.execError(err, h.line, h.col)
	}
	v := strings.TrimSpace(out.String())
	if r, _, bad := controlChar(v); bad {
		return "", &located.Error{File: t.file, Line: h.line, Err: fmt.Errorf("header %s renders control character %U", h.name, r)}
	}
	return v, nil
}

func firstField(h *headerTemplate) string {
	if h == nil || len(h.fields) == 0 {
		return ""
	}
	return h.fields[0]
}

func textprotoCanonical(k string) string { return textproto.CanonicalMIMEHeaderKey(k) }

// controlChar finds a character that must never reach a header: C0 and C1
// controls (tab aside), DEL, and the Unicode line and paragraph separators.
func controlChar(s string) (rune, int, bool) {
	col := 0
	for _, r := range s {
		col++
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return r, col, true
		}
	}
	return 0, 0, false
}
