package smtp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Mail is one mail transaction: the envelope and the message.
type Mail struct {
	From string
	To   []string
	Data []byte // the message, CRLF line ends
	UTF8 bool   // an address is not ASCII: SMTPUTF8 (RFC 6531)
	// DSN (RFC 3461), used where the server offers it: EnvID names the
	// transaction in reports, Ret says what of the message they return
	// ("HDRS" or "FULL"), Notify when to report ("FAILURE", "DELAY",
	// "SUCCESS" or "NEVER"). Each recipient is given as its ORCPT.
	EnvID  string
	Ret    string
	Notify []string
	// Quit ends the session with this transaction: with PIPELINING, QUIT
	// goes in the flight that ends the message (RFC 2920 §3.1 allows it
	// as a group's last command), saving the round trip a separate QUIT
	// would take. The connection is closed after its reply.
	Quit bool
	// Next, where the server offers PIPELINING (and the message goes with
	// DATA), is asked for the session's next transaction once this one's
	// point of no return is passed; that transaction's MAIL, RCPTs and
	// DATA then go in the flight that ends this message (RFC 2920 §3.1: a
	// message's content may begin a group), saving the round trip of their
	// own flight. The next Send must be of the Mail it returned; nil sends
	// nothing early.
	Next func() *Mail
}

// DSN is what delivery status notifications to ask for: when (Notify:
// "FAILURE", "DELAY", "SUCCESS", or "NEVER") and what of the letter they
// return (Ret: "HDRS" or "FULL"). Each letter's ENVID is its key, each
// recipient's ORCPT its address, so that a report names the letter and
// the row.
type DSN struct {
	Notify []string
	Ret    string
}

// Sent holds the replies a transaction got, as far as it went: to MAIL,
// to each RCPT (in the order of Mail.To), to DATA (354; none with BDAT),
// and to the end of the message.
type Sent struct {
	Mail *Reply
	Rcpt []*Reply
	Data *Reply
	End  *Reply
	// Quit is the reply to a QUIT sent in the last flight (Mail.Quit).
	Quit *Reply
	// Chunked says the message went with BDAT.
	Chunked bool
}

// Accepted are the recipients the server took.
func (s *Sent) Accepted() []int {
	var out []int
	for i, r := range s.Rcpt {
		if r != nil && r.Code/100 == 2 {
			out = append(out, i)
		}
	}
	return out
}

// ErrAborted wraps the error of beforeEnd: the end of the message was
// not sent, and the connection is closed.
var ErrAborted = errors.New("aborted before the end of the message")

// Send runs a mail transaction. beforeEnd is called at the point of no
// return, before the end of the message is sent (the final dot, or BDAT
// LAST), with the replies so far (those to RCPT tell who was refused);
// if it fails,
// the end is never sent and the connection is closed. With CHUNKING and
// PIPELINING the whole transaction goes in one write, so beforeEnd is
// called before any reply; with PIPELINING alone the
// commands go in one write, the message in a second (with the next
// transaction's commands, Mail.Next); without either, command by command.
//
// Send returns the replies read, and an error only when the session
// cannot go on: an *IOError whose Phase is where it broke (after the
// point of no return, "EOD": the server may have the letter), or
// ErrAborted. A refusal is a reply, not an error.
func (c *Client) Send(m *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s := &Sent{Rcpt: make([]*Reply, len(m.To))}
	_, pipelining := c.Extension("PIPELINING")
	_, chunking := c.Extension("CHUNKING")
	chunking = chunking && !c.NoChunking
	data := withCRLF(m.Data)
	early := c.early != nil && c.early == m
	if c.early != nil && !early {
		// The server waits for another transaction's message: only
		// dropping the connection ends that.
		c.conn.Close()
		return s, &IOError{PhaseMAIL, errors.New("another transaction was sent early")}
	}
	c.early = nil

	if chunking && pipelining {
		// One flight: the point of no return is before it.
		if err := c.aborted(beforeEnd(s)); err != nil {
			return s, err
		}
		c.bufferEnvelope(m, len(data), false)
		c.bufferLine(fmt.Sprintf("BDAT %d LAST", len(data)))
		c.writer().Write(data)
		c.bufferQuit(m)
		// A chunk the server did not get whole it cannot have taken.
		if err := c.flush(PhaseBody); err != nil {
			return s, err
		}
		if err := c.readFlight(s, PhaseEOD, true); err != nil {
			return s, err
		}
		c.readQuit(s)
		return s, nil
	}

	switch {
	case early:
		// Its MAIL, RCPTs and DATA went with the end of the message before.
		if err := c.readFlight(s, "", true); err != nil {
			return s, err
		}
	case pipelining:
		c.bufferEnvelope(m, len(data), !chunking)
		if err := c.flush(PhaseMAIL); err != nil {
			return s, err
		}
		if err := c.readFlight(s, "", !chunking); err != nil {
			return s, err
		}
	default:
		var err error
		if s.Mail, err = c.cmd(PhaseMAIL, 0, "%s", c.mailLine(m, len(data))); err != nil {
			return s, err
		}
		if s.Mail.Code/100 != 2 {
			return s, nil
		}
		for i, rcpt := range m.To {
			if s.Rcpt[i], err = c.cmd(PhaseRCPT, 0, "%s", c.rcptLine(m, rcpt)); err != nil {
				return s, err
			}
		}
		if len(s.Accepted()) > 0 && !chunking {
			if s.Data, err = c.cmd(PhaseDATA, 0, "DATA"); err != nil {
				return s, err
			}
		}
	}

	refused := refusedOf(s)
	switch {
	case s.Mail.Code/100 != 2 || len(refused) == len(m.To):
		// Nobody to send to. A server that answered a pipelined DATA
		// with 354 anyway waits for a message: an empty one ends it.
		if s.Data != nil && s.Data.Code == 354 {
			c.bufferLine(".")
			if err := c.flush(PhaseDATA); err != nil {
				return s, err
			}
			if _, err := c.read(PhaseDATA, c.DataTimeout); err != nil {
				return s, err
			}
		}
		return s, nil
	case chunking:
		if err := c.aborted(beforeEnd(s)); err != nil {
			return s, err
		}
		s.Chunked = true
		c.bufferLine(fmt.Sprintf("BDAT %d LAST", len(data)))
		c.writer().Write(data)
		if pipelining {
			c.bufferQuit(m)
		}
		if err := c.flush(PhaseBody); err != nil {
			return s, err
		}
	case s.Data == nil || s.Data.Code != 354:
		return s, nil
	default:
		if err := writeDotStuffed(c.writer(), data); err != nil {
			return s, &IOError{PhaseBody, err}
		}
		// The next transaction is asked for before the point of no
		// return: making it (reading its attachments) must not hold back
		// the final dot of a letter whose eod is durable.
		var next *Mail
		if pipelining && m.Next != nil && !m.Quit {
			next = m.Next()
		}
		if err := c.aborted(beforeEnd(s)); err != nil {
			return s, err
		}
		body := c.writer().Buffered()
		c.bufferLine(".")
		if pipelining {
			c.bufferQuit(m)
		}
		if next != nil {
			c.bufferEnvelope(next, len(withCRLF(next.Data)), true)
			c.early = next
		}
		if err := c.flushEnd(body); err != nil {
			return s, err
		}
	}
	var err error
	if s.End, err = c.read(PhaseEOD, c.DataTimeout); err != nil {
		return s, err
	}
	c.readQuit(s)
	return s, nil
}

// withCRLF is data ending in CRLF, as a message must.
func withCRLF(data []byte) []byte {
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\r\n")) {
		return append(data[:len(data):len(data)], '\r', '\n')
	}
	return data
}

// bufferEnvelope adds a transaction's MAIL, RCPTs and, with data, DATA to
// the flight being built.
func (c *Client) bufferEnvelope(m *Mail, size int, data bool) {
	c.bufferLine(c.mailLine(m, size))
	for _, rcpt := range m.To {
		c.bufferLine(c.rcptLine(m, rcpt))
	}
	if data {
		c.bufferLine("DATA")
	}
}

// flushEnd writes the flight that ends a message, of which the first
// body bytes are the message's last. A write that fails before the final
// "." has gone whole cannot have ended the message: the failure is the
// body's, and the letter may be sent again; after it, the end's (the
// server may have the letter).
func (c *Client) flushEnd(body int) error {
	w := c.writer()
	total := w.Buffered()
	err := w.Flush()
	if err == nil {
		return nil
	}
	if written := total - w.Buffered(); written < body+len(".\r\n") {
		return &IOError{PhaseBody, err}
	}
	return &IOError{PhaseEOD, err}
}

// bufferQuit adds QUIT to the flight that ends the message when m ends
// the session.
func (c *Client) bufferQuit(m *Mail) {
	if m.Quit {
		c.bufferLine("QUIT")
		c.quitSent = true
	}
}

// readQuit reads the reply to a QUIT sent in the last flight and closes
// the connection. The letter's fate is already known: a lost or odd reply
// to QUIT changes nothing.
func (c *Client) readQuit(s *Sent) {
	if !c.quitSent {
		return
	}
	s.Quit, _ = c.read(PhaseQUIT, c.Timeout)
	c.conn.Close()
}

// readFlight reads the replies to a pipelined flight: MAIL, each RCPT,
// and DATA or the BDAT that ends it (end). A connection lost while
// reading them fails in phase lost, or in the phase of the reply that
// did not come.
func (c *Client) readFlight(s *Sent, lost string, end bool) error {
	phase := func(p string) string {
		if lost != "" {
			return lost
		}
		return p
	}
	var err error
	if s.Mail, err = c.read(phase(PhaseMAIL), c.Timeout); err != nil {
		return err
	}
	for i := range s.Rcpt {
		if s.Rcpt[i], err = c.read(phase(PhaseRCPT), c.Timeout); err != nil {
			return err
		}
	}
	if !end {
		return nil
	}
	if lost == PhaseEOD { // BDAT LAST: the reply to the end of the message
		s.Chunked = true
		s.End, err = c.read(PhaseEOD, c.DataTimeout)
		return err
	}
	s.Data, err = c.read(PhaseDATA, c.Timeout)
	return err
}

func (c *Client) aborted(err error) error {
	if err == nil {
		return nil
	}
	c.conn.Close()
	return fmt.Errorf("%w: %w", ErrAborted, err)
}

// refusedOf are the recipients refused by the replies read so far.
func refusedOf(s *Sent) []int {
	var out []int
	for i, r := range s.Rcpt {
		if r != nil && r.Code/100 != 2 {
			out = append(out, i)
		}
	}
	return out
}

// mailLine is the MAIL command of m, with the parameters the server
// takes: SIZE (RFC 1870), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461).
func (c *Client) mailLine(m *Mail, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "MAIL FROM:<%s>", m.From)
	if _, ok := c.Extension("SIZE"); ok {
		fmt.Fprintf(&b, " SIZE=%d", size)
	}
	if m.UTF8 {
		b.WriteString(" SMTPUTF8")
	}
	if _, ok := c.Extension("DSN"); ok {
		if m.Ret != "" {
			b.WriteString(" RET=" + m.Ret)
		}
		if m.EnvID != "" {
			b.WriteString(" ENVID=" + xtext(m.EnvID))
		}
	}
	return b.String()
}

// rcptLine is the RCPT command for rcpt, with NOTIFY and ORCPT (RFC 3461)
// where the server offers DSN.
func (c *Client) rcptLine(m *Mail, rcpt string) string {
	line := fmt.Sprintf("RCPT TO:<%s>", rcpt)
	if _, ok := c.Extension("DSN"); !ok {
		return line
	}
	if len(m.Notify) > 0 {
		line += " NOTIFY=" + strings.Join(m.Notify, ",")
	}
	if isASCII(rcpt) && (len(m.Notify) > 0 || m.EnvID != "") {
		line += " ORCPT=rfc822;" + xtext(rcpt)
	}
	return line
}

// xtext encodes a DSN parameter (RFC 3461 §4): "+" followed by two hex
// digits for "+", "=" and what is not printable ASCII.
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
