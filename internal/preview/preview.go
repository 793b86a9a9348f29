// Package preview shows a rendered letter the way a person reads it:
// headers decoded, text parts decoded, attachments listed, on a terminal
// (Write) or as a static HTML gallery (Gallery). It reads the letter's
// bytes back with a MIME parser, so what it shows is what a mail program
// will show, not what the template meant.
package preview

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// shown are the headers shown first, in this order; others follow as
// they are in the letter.
var shown = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-Id"}

var hidden = map[string]bool{"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}

// View is a letter as its reader sees it.
type View struct {
	Line        int
	From        string   // envelope sender
	Recipients  []string // envelope recipients, the suppressed left out
	Suppressed  []string
	Headers     []Header // decoded
	Parts       []Part   // text parts, in the letter's order
	Attachments []Attachment
	Size        int // bytes of the message
}

// Header is one decoded header field.
type Header struct{ Key, Value string }

// Part is a text part: text/plain or text/html, decoded.
type Part struct{ Type, Text string }

// Attachment is an attached file, by name.
type Attachment struct {
	Name, Type string
	Size       int64
	// File is where a gallery wrote a PDF attachment beside the
	// letter's page, relative to the index; "" for others.
	File string
	data []byte
}

// Subject is the letter's decoded Subject, if it has one.
func (v *View) Subject() string {
	for _, h := range v.Headers {
		if h.Key == "Subject" {
			return h.Value
		}
	}
	return ""
}

// Part returns the text of the first part of a media type, if any.
func (v *View) Part(mediaType string) (string, bool) {
	for _, p := range v.Parts {
		if p.Type == mediaType {
			return p.Text, true
		}
	}
	return "", false
}

// Decode reads back the letter l, whose message is data.
func Decode(l *letter.Letter, data []byte) (*View, error) {
	e, err := message.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read letter back: %w", err)
	}
	v := &View{Line: l.Line, From: l.From, Recipients: slices.DeleteFunc(slices.Clone(l.Recipients), l.IsSuppressed), Suppressed: l.Suppressed, Size: len(data)}
	h := mail.Header{Header: e.Header}
	for _, k := range shown {
		if !h.Has(k) {
			continue
		}
		val, err := h.Text(k)
		if err != nil {
			val = h.Get(k)
		}
		if k == "Message-Id" {
			k = "Message-ID"
		}
		v.Headers = append(v.Headers, Header{k, val})
	}
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		if hidden[k] || slices.Contains(shown, k) {
			continue
		}
		val, err := f.Text()
		if err != nil {
			val = f.Value()
		}
		v.Headers = append(v.Headers, Header{k, val})
	}
	err = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, _, _ := part.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		disp, params, _ := part.Header.ContentDisposition()
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		if disp == "attachment" {
			v.Attachments = append(v.Attachments, Attachment{Name: params["filename"], Type: mt, Size: int64(len(body)), data: body})
			return nil
		}
		v.Parts = append(v.Parts, Part{mt, strings.ReplaceAll(string(body), "\r\n", "\n")})
		return nil
	})
	return v, err
}

// Write writes a human view of l, whose message is data, to w.
func Write(w io.Writer, l *letter.Letter, data []byte) error {
	v, err := Decode(l, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "=== letter for line %d ===\n", v.Line)
	fmt.Fprintf(w, "Envelope: MAIL FROM:<%s> RCPT TO:<%s>", v.From, strings.Join(v.Recipients, ">, <"))
	if len(v.Suppressed) > 0 {
		fmt.Fprintf(w, " (not to %s: suppressed)", strings.Join(v.Suppressed, ", "))
	}
	fmt.Fprintln(w)
	for _, h := range v.Headers {
		fmt.Fprintf(w, "%s: %s\n", h.Key, h.Value)
	}
	for _, p := range v.Parts {
		fmt.Fprintf(w, "--- %s\n%s", p.Type, p.Text)
		if !strings.HasSuffix(p.Text, "\n") {
			fmt.Fprintln(w)
		}
	}
	for _, a := range v.Attachments {
		fmt.Fprintf(w, "--- attachment: %s (%s, %s)\n", a.Name, a.Type, Size(a.Size))
	}
	return nil
}

// Size formats a number of bytes for people: 615 bytes, 2.5 kB, 1.2 MB.
func Size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
