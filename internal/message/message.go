// Package message writes a letter as it goes on the wire: an RFC 5322
// message with MIME (RFC 2045-2047, 2231). Header fields are encoded and
// folded to 78 characters here (go-message alone leaves a long encoded
// Subject on one line of hundreds of octets, and puts an encoded-word in
// a quoted filename, which RFC 2047 §5 forbids), text parts are UTF-8 in
// quoted-printable (base64 when mostly not ASCII, as Russian is),
// attachments base64, and a Markdown body becomes a
// multipart/alternative of the Markdown and its HTML rendering.
// go-message assembles the parts.
package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-message"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// Options make the output reproducible in tests.
type Options struct {
	Now      func() time.Time // the Date field; default time.Now
	Boundary func() string    // MIME boundaries; default random
}

// Build writes l as a message with CRLF line ends. The letter must have
// its identity (letter.Identify) and its header values must have passed
// CheckValue.
func Build(l *letter.Letter, opts Options) ([]byte, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Boundary == nil {
		opts.Boundary = randomBoundary
	}
	fields := make([][]byte, 0, len(l.Fields)+5)
	for _, f := range l.Fields {
		if len(f.Mailboxes) > 0 {
			fields = append(fields, foldField(f.Name, addressTokens(f.Mailboxes, wordBudget(f.Name))))
			continue
		}
		tokens, err := valueTokens(f.Name, f.Value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", f.Name, err)
		}
		fields = append(fields, foldField(f.Name, tokens))
	}
	fields = append(fields,
		foldField("Date", []string{opts.Now().Format(time.RFC1123Z)}),
		foldField("Message-ID", []string{l.MessageID}),
		foldField("MIME-Version", []string{"1.0"}),
	)
	b := builder{opts: opts, kind: l.Kind}
	return b.build(fields, normalizeNewlines(l.Body), l.Attachments)
}

type builder struct {
	opts Options
	kind letter.Kind
}

// build assembles the MIME message.
func (b builder) build(fields [][]byte, body []byte, attachments []letter.Attachment) ([]byte, error) {
	// Grown once: base64 makes text a third larger (Russian goes so), and
	// attachments go the same way.
	size := len(body)*7/5 + 2048
	for _, a := range attachments {
		size += int(a.Size()*4/3*78/76) + 512
	}
	var out bytes.Buffer
	out.Grow(size)

	textHeader, writeText := b.textEntity(body)
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
		if !bytes.HasSuffix(out.Bytes(), []byte("\r\n")) {
			out.WriteString("\r\n") // base64 ends its last line without one
		}
		return out.Bytes(), nil
	}

	fields = append(fields, foldField("Content-Type", paramTokens("multipart/mixed", map[string]string{"boundary": b.opts.Boundary()})))
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
		if err := writePart(mw, h, func(w io.Writer) error { return writeAttachment(w, a) }); err != nil {
			return nil, fmt.Errorf("attach %s: %w", a.Name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeAttachment writes an attachment's contents: the file's, or the
// printed page's.
func writeAttachment(w io.Writer, a letter.Attachment) error {
	if a.File != nil {
		_, err := a.WriteTo(w)
		return err
	}
	if a.PDF == nil {
		return errors.New("the page was not printed")
	}
	_, err := w.Write(a.PDF)
	return err
}

// textEntity returns the header fields and a body writer for the text of
// the letter: one part, or multipart/alternative for Markdown.
func (b builder) textEntity(body []byte) ([][]byte, func(io.Writer) error) {
	text := func(subtype string, content []byte) ([][]byte, func(io.Writer) error) {
		cte := transferEncoding(content)
		if cte == "base64" {
			// Text is encoded in its canonical form, with CRLF (RFC 2049
			// section 4); the quoted-printable writer makes CRLF itself.
			// (One copy costs less than a write a line: go-message's
			// line wrapper allocates for each.)
			content = bytes.ReplaceAll(content, []byte("\n"), []byte("\r\n"))
		}
		return [][]byte{
			foldField("Content-Type", paramTokens("text/"+subtype, map[string]string{"charset": "utf-8"})),
			foldField("Content-Transfer-Encoding", []string{cte}),
		}, func(w io.Writer) error { _, err := w.Write(content); return err }
	}
	switch b.kind {
	case letter.HTML:
		return text("html", body)
	case letter.Markdown:
		plain, writePlain := text("plain", body)
		h := [][]byte{foldField("Content-Type", paramTokens("multipart/alternative", map[string]string{"boundary": b.opts.Boundary()}))}
		return h, func(w io.Writer) error {
			mw := w.(*message.Writer)
			if err := writePart(mw, plain, writePlain); err != nil {
				return err
			}
			page, err := MarkdownPage(body)
			if err != nil {
				return err
			}
			h, writeHTML := text("html", page)
			return writePart(mw, h, writeHTML)
		}
	}
	return text("plain", body)
}

// transferEncoding picks how a text part goes: quoted-printable keeps
// mostly-ASCII text readable and small, but triples every other byte, so
// a letter in Russian (two bytes a letter, nearly all of them non-ASCII)
// goes in base64 instead: a third larger rather than three times.
func transferEncoding(text []byte) string {
	high := 0
	for _, c := range text {
		if c >= 0x80 {
			high++
		}
	}
	if high*4 > len(text) {
		return "base64"
	}
	return "quoted-printable"
}

// MarkdownPage renders Markdown as an HTML page, as a letter's HTML part
// shows it: line breaks kept, raw HTML left out.
func MarkdownPage(src []byte) ([]byte, error) {
	var page bytes.Buffer
	page.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
	if err := markdown.Convert(src, &page); err != nil {
		return nil, fmt.Errorf("render Markdown: %w", err)
	}
	page.WriteString("</body></html>\n")
	return page.Bytes(), nil
}

// markdown keeps the letter's line breaks: a signature written on two
// lines ("С уважением,⏎И. И. Петров") stays on two, as in the text part.
var markdown = goldmark.New(goldmark.WithRendererOptions(html.WithHardWraps()))

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
// The letter's body is shared (a retry, a Sent copy): it is never
// written to, and copied only when it needs a change.
func normalizeNewlines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') >= 0 {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b[:len(b):len(b)], '\n')
	}
	return b
}

func randomBoundary() string {
	var b [15]byte
	rand.Read(b[:])
	return "mm-" + hex.EncodeToString(b[:])
}
