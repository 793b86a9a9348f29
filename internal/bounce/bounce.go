// Package bounce reads the reports mail servers send back about letters
// they could not deliver, or not yet: delivery status notifications
// (RFC 3464) and the older bounces that only quote the letter in text.
package bounce

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // reports in KOI8-R, Windows-1251, ...
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Action is what a report says became of a recipient (RFC 3464 §2.3.3).
type Action string

const (
	Failed    Action = "failed"
	Delayed   Action = "delayed"
	Delivered Action = "delivered"
	Relayed   Action = "relayed"
	Expanded  Action = "expanded"
)

// Report is one report as read from a mailbox.
type Report struct {
	// MessageID is the report's own Message-ID: how a second reading of
	// the mailbox knows it.
	MessageID string
	Subject   string
	Date      time.Time
	// Standard says it is a delivery status notification (RFC 3464);
	// else it is a bounce that quotes the letter, and its recipients are
	// found in its text (Guess).
	Standard bool
	// EnvID is the Original-Envelope-Id: the ENVID the letter was sent
	// with, where the server kept it.
	EnvID string
	// Letters are the Message-IDs of the letters it returns or quotes.
	Letters []string
	// Recipients are its per-recipient fields (a standard report).
	Recipients []Recipient
	// Text is its human-readable part, for reading the recipients of a
	// bounce that is not standard.
	Text string
}

// Recipient is what a report says of one recipient.
type Recipient struct {
	Final    string // Final-Recipient: the address the server tried
	Original string // Original-Recipient: the address as the letter was sent (ORCPT)
	Action   Action
	Status   string // an enhanced status code (RFC 3463), "5.1.1"
	// Diagnostic is the remote server's reply (Diagnostic-Code), or
	// failing that the text next to the address.
	Diagnostic string
}

// ErrNotReport says a message is not a report of delivery: a reply, an
// out-of-office notice, anything else in the mailbox.
var ErrNotReport = errors.New("not a delivery report")

// maxText bounds how much of a part is read: a report is small, and what
// it returns of the letter need not be read whole.
const maxText = 256 << 10

// Parse reads a message and returns the report it is, or ErrNotReport.
func Parse(r io.Reader) (*Report, error) {
	rep, err := parse(r)
	if rep != nil {
		rep.clean()
	}
	return rep, err
}

// clean makes what a report says safe to show and to store: a report is
// anybody's text (remote.Text). Text, read only to find recipients in, is
// left as it is.
func (rep *Report) clean() {
	rep.MessageID, rep.Subject, rep.EnvID = remote.Text(rep.MessageID), remote.Text(rep.Subject), remote.Text(rep.EnvID)
	for i, l := range rep.Letters {
		rep.Letters[i] = remote.Text(l)
	}
	for i := range rep.Recipients {
		rep.Recipients[i].clean()
	}
}

func (r *Recipient) clean() {
	r.Final, r.Original, r.Status, r.Diagnostic = remote.Text(r.Final), remote.Text(r.Original), remote.Text(r.Status), remote.Text(r.Diagnostic)
}

func parse(r io.Reader) (*Report, error) {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("read the message: %w", err)
	}
	h := mail.Header{Header: e.Header}
	rep := &Report{}
	rep.MessageID, _ = h.MessageID()
	if rep.MessageID != "" {
		rep.MessageID = "<" + rep.MessageID + ">"
	}
	if rep.Subject, err = h.Subject(); err != nil {
		rep.Subject = h.Get("Subject")
	}
	rep.Date, _ = h.Date()
	mediaType, params, _ := e.Header.ContentType()
	rep.Standard = mediaType == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status")
	if mediaType == "multipart/report" && !rep.Standard {
		return nil, ErrNotReport // a read receipt (RFC 8098) or another kind of report: says nothing of delivery
	}

	err = walk(e, 0, func(mediaType string, body io.Reader) error {
		switch mediaType {
		case "message/delivery-status", "message/global-delivery-status":
			return rep.readStatus(body)
		case "text/rfc822-headers", "text/global-headers", "message/rfc822", "message/global":
			hdr, _ := textproto.ReadHeader(bufio.NewReader(io.LimitReader(body, maxText)))
			if id := strings.TrimSpace(hdr.Get("Message-Id")); id != "" {
				rep.Letters = appendNew(rep.Letters, id)
			}
		case "text/plain", "text/html":
			if rep.Text == "" {
				b, _ := io.ReadAll(io.LimitReader(body, maxText))
				rep.Text = string(b)
				if mediaType == "text/html" {
					rep.Text = htmlText(rep.Text)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rep.Standard && len(rep.Recipients) > 0 {
		return rep, nil
	}
	// A bounce of the older kind: from a mail system, quoting the letter.
	rep.Standard, rep.Recipients = false, nil
	if !fromMailSystem(h) {
		return nil, ErrNotReport
	}
	for _, m := range quotedID.FindAllStringSubmatch(rep.Text, -1) {
		rep.Letters = appendNew(rep.Letters, m[1])
	}
	if len(rep.Letters) == 0 {
		return nil, ErrNotReport
	}
	return rep, nil
}

// walk calls fn with each leaf part of e and its media type, depth first.
// A returned letter (message/rfc822) is a leaf: its headers are what a
// report's reader needs of it.
func walk(e *message.Entity, depth int, fn func(string, io.Reader) error) error {
	if depth > 10 {
		return nil
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return nil // a broken part ends the walk; what was read stands
			}
			if p == nil {
				return nil
			}
			if err := walk(p, depth+1, fn); err != nil {
				return err
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t == "" {
		t = "text/plain"
	}
	return fn(strings.ToLower(t), e.Body)
}

// readStatus reads a delivery-status part: a block of per-message fields,
// then a block per recipient (RFC 3464 §2.1).
func (rep *Report) readStatus(body io.Reader) error {
	br := bufio.NewReader(io.LimitReader(body, maxText))
	first := true
	for {
		// Blocks are separated by blank lines; a stray one is skipped.
		for {
			b, err := br.Peek(1)
			if err != nil {
				return nil
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			br.ReadByte()
		}
		h, err := textproto.ReadHeader(br)
		if err != nil && h.Len() == 0 {
			return nil
		}
		if first {
			first = false
			if v := h.Get("Original-Envelope-Id"); v != "" {
				rep.EnvID = decodeXtext(strings.TrimSpace(v))
			}
			if v := strings.TrimSpace(h.Get("X-Original-Message-Id")); v != "" { // Gmail's
				rep.Letters = appendNew(rep.Letters, v)
			}
			if h.Has("Final-Recipient") { // no per-message block: a broken report, read it anyway
				rep.addRecipient(h)
			}
		} else if h.Has("Final-Recipient") || h.Has("Original-Recipient") {
			rep.addRecipient(h)
		}
		if err != nil {
			return nil
		}
	}
}

func (rep *Report) addRecipient(h textproto.Header) {
	r := Recipient{
		Final:      address(h.Get("Final-Recipient")),
		Original:   address(h.Get("Original-Recipient")),
		Action:     Action(strings.ToLower(strings.TrimSpace(h.Get("Action")))),
		Status:     statusCode(h.Get("Status")),
		Diagnostic: diagnostic(h.Get("Diagnostic-Code")),
	}
	if r.Status == "" {
		r.Status = statusCode(r.Diagnostic)
	}
	rep.Recipients = append(rep.Recipients, r)
}

// address reads an address-type field, "rfc822; ann@example.com"; an
// ORCPT of type rfc822 is xtext (RFC 3461 §4.2).
func address(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return strings.Trim(strings.TrimSpace(v), "<>")
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if t := strings.ToLower(strings.TrimSpace(typ)); t == "rfc822" {
		addr = decodeXtext(addr)
	}
	return addr
}

// diagnostic reads a Diagnostic-Code field, "smtp; 550 5.1.1 ...", as
// the reply: unfolded, the type left out.
func diagnostic(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if typ, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(typ, " ") {
		v = strings.TrimSpace(rest)
	}
	return v
}

var (
	enhanced = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	basic    = regexp.MustCompile(`\b([45])\d\d\b`)
	// quotedID finds the Message-ID of a letter quoted in a bounce's text.
	quotedID = regexp.MustCompile(`(?im)^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)`)
)

// statusCode finds an enhanced status code in s.
func statusCode(s string) string {
	if m := enhanced.FindStringSubmatch(s); m != nil {
		return m[1] + "." + m[2] + "." + m[3]
	}
	return ""
}

// Candidate reports whether a message, by its header, may be a report:
// a delivery status notification, or from a mail system. Only those are
// read whole.
func Candidate(header []byte) bool {
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(string(header) + "\r\n")))
	if err != nil && h.Len() == 0 {
		return true // unreadable here: let Parse decide
	}
	if t, _, _ := (&message.Header{Header: h}).ContentType(); t == "multipart/report" {
		return true
	}
	return fromMailSystem(mail.Header{Header: message.Header{Header: h}})
}

// fromMailSystem reports whether a message that is not a standard report
// is a mail system's word that a letter failed: sent from the system's own
// address (MAILER-DAEMON, postmaster), not a person's (whatever the name
// beside it says: an auto-reply may sign "Mail Delivery System"), and
// neither a reply, a forward nor a notice that a letter went through.
func fromMailSystem(h mail.Header) bool {
	subject, _ := h.Subject()
	subject = strings.ToLower(strings.TrimSpace(subject))
	for _, p := range []string{"re:", "fwd:", "fw:", "aw:", "wg:", "tr:", "ответ:", "отв:", "пересл:"} {
		if strings.HasPrefix(subject, p) {
			return false
		}
	}
	if success.MatchString(subject) {
		return false
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		return false
	}
	local, _, _ := strings.Cut(strings.ToLower(from[0].Address), "@")
	switch local {
	case "mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon":
		return true
	}
	return false
}

// success finds the subjects of notices that a letter went through, in
// their known forms only ("Relay access denied" is a failure):
// "Delivery Status Notification (Success)", "(Relay)", "Delivered: …",
// "Relayed: …", "Successful Mail Delivery Report".
var success = regexp.MustCompile(`(?i)^(delivery status notification \((success|relay)\)|delivered:|relayed:|successful mail delivery report)`)

// Guess reads what a bounce that is not standard says of the recipient
// rcpt: named in its own words (not in the letter it quotes), with the
// status code and the reply after it.
func (rep *Report) Guess(rcpt string) (Recipient, bool) {
	text := rep.human()
	i := indexAddress(text, rcpt)
	if i < 0 {
		return Recipient{}, false
	}
	// The paragraph from the address on holds the reason.
	near := text[i+len(rcpt):]
	if j := paragraphEnd.FindStringIndex(near); j != nil {
		near = near[:j[0]]
	}
	if len(near) > 1000 {
		near = near[:1000]
	}
	r := Recipient{Final: rcpt, Diagnostic: remote.Text(strings.Join(strings.Fields(strings.Trim(near, " \t\r\n:>")), " "))}
	r.Status = statusCode(near)
	if r.Status == "" {
		if m := basic.FindStringSubmatch(near); m != nil {
			r.Status = m[1] + ".0.0"
		}
	}
	r.Action, r.Status = action(r.Status, rep.Subject)
	return r, true
}

// action is what a status code (or, without one, the subject) says: a
// delay, or a failure.
func action(status, subject string) (Action, string) {
	switch {
	case strings.HasPrefix(status, "4"):
		return Delayed, status
	case status == "" && delayWords.MatchString(subject):
		return Delayed, "4.0.0"
	case status == "":
		return Failed, "5.0.0"
	}
	return Failed, status
}

// quoteStart finds where a bounce's text starts quoting the letter: a
// separator line, or the first header of the letter.
var quoteStart = regexp.MustCompile(`(?im)^(?:-{2,}.*(?:copy|original|below|returned|message follows).*|[ \t]*(?:Return-Path|Received|Message-ID):.*)$`)

// human is the part of a bounce's text its mail system wrote, before the
// letter it quotes.
func (rep *Report) human() string {
	if i := quoteStart.FindStringIndex(rep.Text); i != nil {
		return rep.Text[:i[0]]
	}
	return rep.Text
}

// indexAddress finds addr in text as a whole address: not part of a
// longer one (joann@ is not ann@).
func indexAddress(text, addr string) int {
	if addr == "" {
		return -1
	}
	// Lower-cased byte for byte: strings.ToLower can change a text's
	// length (İ), and the index is into text.
	lower, a := asciiLower(text), asciiLower(addr)
	inAddr := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("._%+-@", c) >= 0
	}
	for from := 0; ; {
		i := strings.Index(lower[from:], a)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(a)
		before := i == 0 || !inAddr(lower[i-1])
		after := end == len(lower) || !inAddr(lower[end]) || lower[end] == '.' && (end+1 == len(lower) || !inAddr(lower[end+1]))
		if before && after {
			return i
		}
		from = i + 1
	}
}

var (
	paragraphEnd = regexp.MustCompile(`\r?\n[ \t]*\r?\n`)
	delayWords   = regexp.MustCompile(`(?i)delay|still being retried|warning|задерж`)
)

// decodeXtext undoes xtext (RFC 3461 §4): "+2B" is "+".
func decodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</tr>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// htmlText is the text of an HTML part, near enough to find addresses and
// codes in.
func htmlText(s string) string {
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, " ")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&nbsp;", " ", "&quot;", `"`).Replace(s)
}

// asciiLower lower-cases the ASCII letters of s, keeping every byte's
// place.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
