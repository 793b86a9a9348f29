package smtp

import (
	"bytes"
	"errors"
	"fmt"
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
	// goes in the group that ends the message (RFC 2920 §3.1 allows it
	// as a group's last command), saving the round trip a separate QUIT
	// would take. The connection is closed after its reply.
	Quit bool
}

// Sent holds the replies a transaction got, as far as it went: to MAIL,
// to each RCPT (in the order of Mail.To), to DATA (354; none with BDAT),
// and to the end of the message.
type Sent struct {
	Mail *Reply
	Rcpt []*Reply
	Data *Reply
	End  *Reply
	// Quit is the reply to a QUIT sent in the last group (Mail.Quit).
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

// Send runs mail transaction m and returns the replies it got.
// beforeEnd is called at the point of no return, before the end of the
// message is sent (the final dot, or BDAT LAST), with the replies so far
// (those to RCPT tell who was refused); if it fails, the end is never
// sent and the connection is closed.
//
// next, if not nil, is the transaction the caller sends after m. Where
// Send takes it (TakesNext), next's MAIL, RCPTs and DATA go in the group
// that ends m's message (RFC 2920 §3.1: a group may begin with a
// message), saving the round trip of a group of their own; Early then
// reports next, and the next Send must be of it. When m ends the session
// (Mail.Quit), or m's message is not sent, next is not sent either.
//
// How the transaction goes depends on what the server offers: with
// PIPELINING and CHUNKING it is one group, and beforeEnd is called
// before any reply; with PIPELINING alone, the commands are one group
// and the message another; with CHUNKING alone, command by command and
// the message in one chunk; with neither, command by command.
//
// Send returns an error only when the session cannot go on: an *IOError
// whose Phase is where it broke (after the point of no return, PhaseEOD:
// the server may have the letter, unless the replies read before the
// break refused it: PhaseMAIL or PhaseRCPT), or ErrAborted. A refusal is a reply,
// not an error.
func (c *Client) Send(m, next *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	if c.early != nil {
		return c.sendEarly(m, next, beforeEnd)
	}
	switch pipelining, chunking := c.pipelining(), c.chunking(); {
	case pipelining && chunking:
		return c.sendOneGroup(m, beforeEnd)
	case pipelining:
		return c.sendPipelined(m, next, beforeEnd)
	case chunking:
		return c.sendChunked(m, beforeEnd)
	default:
		return c.sendStepwise(m, beforeEnd)
	}
}

// TakesNext reports whether Send sends the envelope of the transaction
// after (its next) with the end of a message: the server offers
// PIPELINING, and messages go with DATA. With CHUNKING as well, a whole
// transaction is one group already.
func (c *Client) TakesNext() bool { return c.pipelining() && !c.chunking() }

// Early is the transaction whose MAIL, RCPTs and DATA went with the end
// of the message before (Send's next), their replies still to read; nil
// when there is none. Until it is sent the server may be reading its
// message, of which any other command would be a line: Reset and Noop
// fail, and Quit closes the connection without a word.
func (c *Client) Early() *Mail { return c.early }

func (c *Client) pipelining() bool {
	_, ok := c.Extension("PIPELINING")
	return ok
}

func (c *Client) chunking() bool {
	_, ok := c.Extension("CHUNKING")
	return ok && !c.NoChunking
}

// sendStepwise runs a transaction as RFC 5321 §3.3 has it, each command
// after the reply to the one before: MAIL, each RCPT, DATA, then the
// message and its final ".".
func (c *Client) sendStepwise(m *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s, data := newSent(m), withCRLF(m.Data)
	if err := c.envelopeStepwise(s, m, len(data)); err != nil || !hasRecipients(s, m) {
		return s, err
	}
	var err error
	if s.Data, err = c.cmd(PhaseDATA, 0, "DATA"); err != nil || s.Data.Code != 354 {
		return s, err
	}
	body, err := c.bufferMessage(s, data, beforeEnd)
	if err != nil {
		return s, err
	}
	if err := c.flushEnd(body); err != nil {
		return s, err
	}
	return s, c.readEnd(s)
}

// sendChunked runs a transaction where the server offers CHUNKING (RFC
// 3030) but not PIPELINING: MAIL and each RCPT after the reply to the
// one before, then the message as one chunk, BDAT LAST.
func (c *Client) sendChunked(m *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s, data := newSent(m), withCRLF(m.Data)
	if err := c.envelopeStepwise(s, m, len(data)); err != nil || !hasRecipients(s, m) {
		return s, err
	}
	if err := c.aborted(beforeEnd(s)); err != nil {
		return s, err
	}
	s.Chunked = true
	c.bufferChunk(data)
	if err := c.flush(PhaseBody); err != nil {
		return s, err
	}
	return s, c.readEnd(s)
}

// sendOneGroup runs a transaction as one group of commands (RFC 2920
// §3.1 with RFC 3030 §4): MAIL, each RCPT, BDAT LAST with the message,
// and QUIT when it ends the session, in one write, the replies read
// after. The point of no return is before the group, so beforeEnd hears
// no reply.
func (c *Client) sendOneGroup(m *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s, data := newSent(m), withCRLF(m.Data)
	if err := c.aborted(beforeEnd(s)); err != nil {
		return s, err
	}
	c.bufferEnvelope(m, len(data), false)
	c.bufferChunk(data)
	c.bufferQuit(m)
	// A chunk the server did not get whole it cannot have taken.
	if err := c.flush(PhaseBody); err != nil {
		return s, err
	}
	// The end went with the rest: a reply that does not come leaves the
	// letter's fate unknown, unless the replies that came refused it.
	if err := c.readEnvelope(s, PhaseEOD); err != nil {
		return s, refusedThenLost(s, m, err)
	}
	s.Chunked = true
	if err := c.readEnd(s); err != nil {
		return s, refusedThenLost(s, m, err)
	}
	c.readQuit(s)
	return s, nil
}

// sendPipelined runs a transaction in two groups of commands (RFC 2920):
// MAIL, each RCPT and DATA; then the message, its final "." and QUIT when
// it ends the session, or next's MAIL, RCPTs and DATA, since RFC 2920
// §3.1 lets a group begin with a message.
func (c *Client) sendPipelined(m, next *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s, data := newSent(m), withCRLF(m.Data)
	c.bufferEnvelope(m, len(data), true)
	if err := c.flush(PhaseMAIL); err != nil {
		return s, err
	}
	if err := c.readEnvelope(s, ""); err != nil {
		return s, err
	}
	var err error
	if s.Data, err = c.read(PhaseDATA, c.Timeout); err != nil {
		return s, err
	}
	return s, c.endPipelined(s, m, next, data, beforeEnd)
}

// sendEarly runs the transaction whose MAIL, RCPTs and DATA went in the
// group that ended the message before (Early): their replies are read,
// and it goes on as sendPipelined does. Only that transaction may be
// sent now: the server may be waiting for its message.
func (c *Client) sendEarly(m, next *Mail, beforeEnd func(*Sent) error) (*Sent, error) {
	s, early := newSent(m), c.early
	c.early = nil
	if early != m {
		// Only dropping the connection ends the message the server
		// waits for.
		c.conn.Close()
		return s, &IOError{PhaseMAIL, errors.New("another transaction was sent early")}
	}
	if err := c.readEnvelope(s, ""); err != nil {
		return s, err
	}
	var err error
	if s.Data, err = c.read(PhaseDATA, c.Timeout); err != nil {
		return s, err
	}
	return s, c.endPipelined(s, m, next, withCRLF(m.Data), beforeEnd)
}

// endPipelined sends the message of a pipelined transaction whose DATA
// was answered, with QUIT or next's envelope in the same group, and
// reads the reply to its end. Where the server took no recipient there
// is no message; but a server that answered DATA with 354 anyway waits
// for one, and an empty one ends it.
func (c *Client) endPipelined(s *Sent, m, next *Mail, data []byte, beforeEnd func(*Sent) error) error {
	switch {
	case !hasRecipients(s, m):
		if s.Data.Code != 354 {
			return nil
		}
		c.bufferLine(".")
		if err := c.flush(PhaseDATA); err != nil {
			return err
		}
		_, err := c.read(PhaseDATA, c.DataTimeout)
		return err
	case s.Data.Code != 354:
		return nil
	}
	body, err := c.bufferMessage(s, data, beforeEnd)
	if err != nil {
		return err
	}
	c.bufferQuit(m)
	if next != nil && !m.Quit {
		c.bufferEnvelope(next, len(withCRLF(next.Data)), true)
		c.early = next
	}
	if err := c.flushEnd(body); err != nil {
		return err
	}
	if err := c.readEnd(s); err != nil {
		return err
	}
	c.readQuit(s)
	return nil
}

// refusedThenLost is err, a connection lost while the replies to a
// group that held the end of m's message were read, in the phase it
// belongs to: the server that refused MAIL, or every RCPT, cannot have
// taken the message, whatever came after (a 421 and a hang-up, say), and
// the letter may be sent again; otherwise the end's (PhaseEOD).
func refusedThenLost(s *Sent, m *Mail, err error) error {
	var ioe *IOError
	switch {
	case !errors.As(err, &ioe) || s.Mail == nil:
	case s.Mail.Code/100 != 2:
		ioe.Phase = PhaseMAIL
	case len(refusedOf(s)) == len(m.To):
		ioe.Phase = PhaseRCPT
	}
	return err
}

// newSent is where the replies to m go.
func newSent(m *Mail) *Sent { return &Sent{Rcpt: make([]*Reply, len(m.To))} }

// hasRecipients reports whether the replies so far leave someone to send
// m to: MAIL taken, and not every RCPT refused.
func hasRecipients(s *Sent, m *Mail) bool {
	return s.Mail.Code/100 == 2 && len(refusedOf(s)) < len(m.To)
}

// envelopeStepwise sends MAIL, and each RCPT if MAIL is taken, each
// after the reply to the one before.
func (c *Client) envelopeStepwise(s *Sent, m *Mail, size int) error {
	var err error
	if s.Mail, err = c.cmd(PhaseMAIL, 0, "%s", c.mailLine(m, size)); err != nil || s.Mail.Code/100 != 2 {
		return err
	}
	for i, rcpt := range m.To {
		if s.Rcpt[i], err = c.cmd(PhaseRCPT, 0, "%s", c.rcptLine(m, rcpt)); err != nil {
			return err
		}
	}
	return nil
}

// bufferMessage adds a message for DATA to the group being built,
// dot-stuffed (RFC 5321 §4.5.2), and once beforeEnd lets it, the final
// "." that ends it. It returns how many bytes of the group come before
// the ".", for flushEnd.
func (c *Client) bufferMessage(s *Sent, data []byte, beforeEnd func(*Sent) error) (int, error) {
	if err := writeDotStuffed(c.writer(), data); err != nil {
		return 0, &IOError{PhaseBody, err}
	}
	if err := c.aborted(beforeEnd(s)); err != nil {
		return 0, err
	}
	body := c.writer().Buffered()
	c.bufferLine(".")
	return body, nil
}

// bufferChunk adds a message as the one and last chunk (RFC 3030 §2) to
// the group being built.
func (c *Client) bufferChunk(data []byte) {
	c.bufferLine(fmt.Sprintf("BDAT %d LAST", len(data)))
	c.writer().Write(data)
}

// readEnd reads the reply to the end of the message, which may take the
// server a while (DataTimeout).
func (c *Client) readEnd(s *Sent) error {
	var err error
	s.End, err = c.read(PhaseEOD, c.DataTimeout)
	return err
}

// withCRLF is data ending in CRLF, as a message must.
func withCRLF(data []byte) []byte {
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\r\n")) {
		return append(data[:len(data):len(data)], '\r', '\n')
	}
	return data
}

// bufferEnvelope adds a transaction's MAIL, RCPTs and, with data, DATA to
// the group being built.
func (c *Client) bufferEnvelope(m *Mail, size int, data bool) {
	c.bufferLine(c.mailLine(m, size))
	for _, rcpt := range m.To {
		c.bufferLine(c.rcptLine(m, rcpt))
	}
	if data {
		c.bufferLine("DATA")
	}
}

// flushEnd writes the group that ends a message, of which the first
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

// bufferQuit adds QUIT to the group that ends the message when m ends
// the session.
func (c *Client) bufferQuit(m *Mail) {
	if m.Quit {
		c.bufferLine("QUIT")
		c.quitSent = true
	}
}

// readQuit reads the reply to a QUIT sent in the last group and closes
// the connection. The letter's fate is already known: a lost or odd reply
// to QUIT changes nothing.
func (c *Client) readQuit(s *Sent) {
	if !c.quitSent {
		return
	}
	s.Quit, _ = c.read(PhaseQUIT, c.Timeout)
	c.conn.Close()
}

// readEnvelope reads the replies to MAIL and each RCPT of a group. A
// connection lost while reading them fails in phase lost, or where lost
// is "", in the phase of the reply that did not come.
func (c *Client) readEnvelope(s *Sent, lost string) error {
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
	return nil
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
