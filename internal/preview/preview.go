// Package preview shows a rendered letter the way a person reads it:
// headers decoded, text parts decoded, attachments listed. It reads the
// letter's bytes back with a MIME parser, so what it shows is what a mail
// program will show, not what the template meant.
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

// shown are the headers printed first, in this order; others follow as
// they are in the letter.
var shown = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-Id"}

var hidden = map[string]bool{"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}

// Write writes a human view of l, whose message is data, to w.
func Write(w io.Writer, l *letter.Letter, data []byte) error {
	e, err := message.Read(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("read letter back: %w", err)
	}
	h := mail.Header{Header: e.Header}
	fmt.Fprintf(w, "=== letter for CSV line %d ===\n", l.Line)
	rcpts := slices.DeleteFunc(slices.Clone(l.Recipients), l.IsSuppressed)
	fmt.Fprintf(w, "Envelope: MAIL FROM:<%s> RCPT TO:<%s>", l.From, strings.Join(rcpts, ">, <"))
	if len(l.Suppressed) > 0 {
		fmt.Fprintf(w, " (not to %s: suppressed)", strings.Join(l.Suppressed, ", "))
	}
	fmt.Fprintln(w)
	for _, k := range shown {
		if !h.Has(k) {
			continue
		}
		v, err := h.Text(k)
		if err != nil {
			v = h.Get(k)
		}
		if k == "Message-Id" {
			k = "Message-ID"
		}
		fmt.Fprintf(w, "%s: %s\n", k, v)
	}
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		if hidden[k] || slices.Contains(shown, k) {
			continue
		}
		v, err := f.Text()
		if err != nil {
			v = f.Value()
		}
		fmt.Fprintf(w, "%s: %s\n", k, v)
	}

	return e.Walk(func(path []int, part *message.Entity, err error) error {
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
			fmt.Fprintf(w, "--- attachment: %s (%s, %s)\n", params["filename"], mt, Size(int64(len(body))))
			return nil
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		fmt.Fprintf(w, "--- %s\n%s", mt, text)
		if !strings.HasSuffix(text, "\n") {
			fmt.Fprintln(w)
		}
		return nil
	})
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
