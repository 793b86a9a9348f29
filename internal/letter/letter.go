// Package letter defines one letter of a mailing as data: what the
// template filled in (envelope, header fields, body, attachments) before
// anything is encoded, and the letter's identity, the Key the journal
// records it under and the Message-ID it is sent with. The template
// package makes letters, the message package writes them as RFC 5322
// messages, the journal and the sender know them by Key.
package letter

import (
	"slices"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/attachment"
)

// Letter is one letter, ready to be written out.
type Letter struct {
	Line int // CSV line of the row it was made from

	// Key and MessageID are the letter's identity; Identify sets both.
	Key       Key
	MessageID string // with angle brackets
	// Fingerprint tells the row apart from others with the same
	// recipients (see Fingerprint).
	Fingerprint uint64
	// Made names what the letter was made with besides its row (the
	// campaign, the template, the suppression list), as a hash: a row
	// with the same fingerprint, made with the same, has the same
	// recipients, so its letter is known without making it again.
	Made uint64

	From       string   // envelope sender (MAIL FROM)
	Recipients []string // envelope recipients (RCPT TO): To, Cc and Bcc, each once
	// Sources names, for each of Recipients, the CSV field its address
	// came from; "" for an address the template itself names (an
	// instructor's Cc or Bcc), which every letter has.
	Sources  []string
	To       []string // the addresses of the To header alone
	SMTPUTF8 bool     // an address needs the SMTPUTF8 extension
	// Suppressed are the Recipients never to mail (recipients.suppress),
	// lower case. They stay in Recipients, which make the letter's
	// identity, but no envelope has them.
	Suppressed []string

	// Fields are the header fields the template wrote, in its order,
	// without Bcc (envelope only) and without the fields the writer adds
	// (Date, Message-ID, MIME-Version, Content-*).
	Fields      []Field
	Body        []byte // as the template rendered it
	Kind        Kind
	Attachments []Attachment

	// SendAfter is when the letter may go, not before: its row's
	// recipients.send_after (the latest of its group's rows); zero for
	// any time.
	SendAfter time.Time

	// Warnings are problems that did not stop the letter, such as
	// invisible characters removed from an address.
	Warnings []error
}

// Field is one header field. An address field (From, To, Cc, Reply-To,
// Sender) has Mailboxes; any other has Value, checked to be one line.
type Field struct {
	Name      string // canonical: "Subject", "Reply-To", "X-Course"
	Mailboxes []address.Mailbox
	Value     string
}

// Kind is what the body is written in.
type Kind int

// The kinds of body a template can have.
const (
	Plain    Kind = iota // text/plain
	HTML                 // text/html, values escaped by html/template
	Markdown             // sent as text/plain together with its HTML rendering
)

// Attachment is a file the letter attaches, or a page it attaches
// printed as PDF, under the name it has there.
type Attachment struct {
	Name string // the file name in the message
	// File is the file attached; nil for a page.
	*attachment.File
	// Page is the page to print, filled in for the letter's row
	// (Attachment: page.html; render=pdf); nil for a file.
	Page *Page
	// PDF is the page printed, once the letter is written out.
	PDF []byte
}

// Page is an HTML page a letter attaches as PDF, filled in for its row.
type Page struct {
	HTML []byte
	// Dir is the folder of the page's template, whose files (images,
	// style sheets, fonts) the page may use.
	Dir string
	// Source is the template's path as the letter's template names it,
	// for messages.
	Source string
}

// Size is the attachment's size: the file's, or the printed PDF's (0
// until it is printed).
func (a Attachment) Size() int64 {
	if a.File != nil {
		return a.File.Size
	}
	return int64(len(a.PDF))
}

// Identify gives the letter its identity: key, and the Message-ID made
// from it at the sender's domain, as RFC 5322 §3.6.4 suggests.
func (l *Letter) Identify(key Key) {
	l.Key = key
	domain := ""
	if at := strings.LastIndexByte(l.From, '@'); at >= 0 {
		domain = l.From[at+1:]
	}
	l.MessageID = l.Key.MessageID(domain)
}

// Tag gives the letter's Message-ID, and with it the ENVID it is sent
// with, the key's tag under the campaign's secret (Key.Tag):
// <key.tag@domain>. Without a secret (a mailing whose journal has none
// yet) the Message-ID stays <key@domain>.
func (l *Letter) Tag(secret []byte) {
	if len(secret) == 0 {
		return
	}
	k := l.Key.String()
	l.MessageID = strings.Replace(l.MessageID, "<"+k+"@", "<"+k+"."+l.Key.Tag(secret)+"@", 1)
}

// OriginalTo is the header a test copy names the letter's recipients in.
const OriginalTo = "X-Mailmerge-Original-To"

// Redirect returns a test copy of l for to alone: its header fields as
// they are, plus X-Mailmerge-Original-To with the envelope recipients it
// stands in for, and a Message-ID of its own, so that a test copy and the
// real letter are never taken for each other. prefix goes before its
// subject, as text (the message package encodes the whole); a letter
// without one gets it as its subject. l itself is not changed: its
// identity is the real letter's.
func (l *Letter) Redirect(to address.Mailbox, prefix string) *Letter {
	c := *l
	c.Recipients = []string{to.Addr}
	c.SMTPUTF8 = to.UTF8
	c.Fields = slices.Clone(l.Fields)
	subject := false
	for i, f := range c.Fields {
		switch f.Name {
		case "From":
			c.SMTPUTF8 = c.SMTPUTF8 || f.Mailboxes[0].UTF8 // MAIL FROM still carries it
		case "Subject":
			c.Fields[i].Value, subject = prefix+f.Value, true
		}
	}
	if !subject && strings.TrimSpace(prefix) != "" {
		c.Fields = append(c.Fields, Field{Name: "Subject", Value: strings.TrimSpace(prefix)})
	}
	c.Fields = append(c.Fields, Field{Name: OriginalTo, Value: strings.Join(l.Recipients, ", ")})
	c.MessageID = strings.Replace(l.MessageID, "@", ".test@", 1)
	return &c
}

// IsSuppressed reports whether rcpt is one of the letter's recipients never
// to mail.
func (l *Letter) IsSuppressed(rcpt string) bool {
	return slices.Contains(l.Suppressed, strings.ToLower(rcpt))
}

// Held reports whether l waits, at now, for its send time (SendAfter).
func (l *Letter) Held(now time.Time) bool { return l.SendAfter.After(now) }
