package smtp

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Client is one SMTP session. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	tp   *textproto.Conn
	// Timeout bounds every read and write but the wait for the reply to
	// the end of a message, which DataTimeout bounds (RFC 5321
	// §4.5.3.2.6: 10 minutes).
	Timeout, DataTimeout time.Duration
	// NoChunking makes the client send with DATA even where the server
	// offers CHUNKING.
	NoChunking bool

	ext   map[string]string // EHLO keywords, upper case, and their parameters
	lines []string          // the EHLO reply's lines after the first, as sent

	quitSent bool // QUIT went with the last transaction (Mail.Quit)
	// early is the transaction whose MAIL, RCPTs and DATA went with the
	// end of the one before (Send's next): their replies are still to
	// read, and the server may be waiting for its message.
	early *Mail
}

// NewClient makes a client on a connection whose greeting the caller
// reads (Greeting) or has read (after STARTTLS there is none).
func NewClient(conn net.Conn, timeout, dataTimeout time.Duration) *Client {
	dc := &deadlineConn{Conn: conn, timeout: timeout}
	return &Client{conn: conn, tp: textproto.NewConn(dc), Timeout: timeout, DataTimeout: dataTimeout}
}

// deadlineConn sets a write deadline before every write, so that a
// stalled server cannot hang a session while a long message is written.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// IOError is a failure to write a command or read a reply: the session
// cannot go on. Phase names the command.
type IOError struct {
	Phase string
	Err   error
}

func (e *IOError) Error() string { return e.Phase + ": " + e.Err.Error() }
func (e *IOError) Unwrap() error { return e.Err }

// read reads one reply within d.
func (c *Client) read(phase string, d time.Duration) (*Reply, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		var pe textproto.ProtocolError
		if errors.As(err, &pe) {
			return nil, &IOError{phase, fmt.Errorf("not an SMTP reply: %w", err)}
		}
		return nil, &IOError{phase, err}
	}
	return parseReply(code, msg), nil
}

// cmd writes a command line and reads its reply; a reply whose code is
// not want is the error (want 0: any).
func (c *Client) cmd(phase string, want int, format string, args ...any) (*Reply, error) {
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return nil, &IOError{phase, err}
	}
	r, err := c.read(phase, c.Timeout)
	if err != nil {
		return nil, err
	}
	if want != 0 && r.Code != want {
		return r, r
	}
	return r, nil
}

// Greeting reads the server's greeting within d; other than 220 is the
// error.
func (c *Client) Greeting(d time.Duration) (*Reply, error) {
	r, err := c.read(PhaseGreeting, d)
	if err != nil {
		return nil, err
	}
	if r.Code != 220 {
		return r, r
	}
	return r, nil
}

// Hello says EHLO and learns the server's extensions.
func (c *Client) Hello(name string) error {
	if err := c.tp.PrintfLine("EHLO %s", name); err != nil {
		return &IOError{PhaseEHLO, err}
	}
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		return &IOError{PhaseEHLO, err}
	}
	if code != 250 {
		return parseReply(code, msg)
	}
	c.ext, c.lines = map[string]string{}, nil
	for _, line := range strings.Split(msg, "\n")[1:] { // the first names the server
		line = remote.Text(line)
		c.lines = append(c.lines, line)
		k, v, _ := strings.Cut(line, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Extension reports whether the server offers an extension, and its
// parameter.
func (c *Client) Extension(name string) (string, bool) {
	v, ok := c.ext[strings.ToUpper(name)]
	return v, ok
}

// Extensions are the extensions as the server announced them.
func (c *Client) Extensions() []string { return slices.Clone(c.lines) }

// MaxSize is the server's message size limit (SIZE); 0 when it gives none.
func (c *Client) MaxSize() int64 {
	v, _ := c.Extension("SIZE")
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// AuthMechanisms are the SASL mechanisms the server offers.
func (c *Client) AuthMechanisms() []string {
	v, _ := c.Extension("AUTH")
	return strings.Fields(strings.ToUpper(v))
}

// StartTLS asks for TLS (RFC 3207). The caller makes the handshake on
// the connection and a new Client over it, which says EHLO again.
func (c *Client) StartTLS() error {
	_, err := c.cmd(PhaseSTARTTLS, 220, "STARTTLS")
	return err
}

// Auth authenticates with a SASL mechanism (RFC 4954). A reply other
// than 235 is the error.
func (c *Client) Auth(a sasl.Client) error {
	mech, ir, err := a.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	var sent []string // what was sent, for a server that repeats it
	if ir != nil {
		sent = append(sent, base64.StdEncoding.EncodeToString(ir), string(ir))
		line += " " + sent[0]
	}
	for {
		r, err := c.cmd(PhaseAUTH, 0, "%s", line)
		if err != nil {
			return err
		}
		if r.Code != 334 {
			r.Text = remote.Hide(r.Text, sent...)
		}
		switch r.Code {
		case 235:
			return nil
		case 334:
			challenge, err := base64.StdEncoding.DecodeString(r.Text)
			if err != nil {
				return &IOError{PhaseAUTH, fmt.Errorf("a challenge that is not base64: %w", err)}
			}
			resp, err := a.Next(challenge)
			if err != nil {
				c.cmd(PhaseAUTH, 0, "*") // cancel the exchange
				return err
			}
			line = base64.StdEncoding.EncodeToString(resp)
			sent = append(sent, line, string(resp))
		default:
			return r
		}
	}
}

// errEarly refuses a command while a transaction sent early (Early)
// waits for its Send: the server may be reading a message, of which the
// command would be a line.
var errEarly = errors.New("a transaction sent early waits for its message")

// Reset ends a failed transaction (RSET).
func (c *Client) Reset() error {
	if c.early != nil {
		c.conn.Close()
		return &IOError{PhaseRSET, errEarly}
	}
	_, err := c.cmd(PhaseRSET, 250, "RSET")
	return err
}

// Noop keeps an idle session alive, or finds that it is not.
func (c *Client) Noop() error {
	if c.early != nil {
		c.conn.Close()
		return &IOError{PhaseNOOP, errEarly}
	}
	_, err := c.cmd(PhaseNOOP, 250, "NOOP")
	return err
}

// Quit ends the session politely and closes the connection. After a
// transaction that sent QUIT already (Mail.Quit) there is nothing to do.
// With a transaction sent early (Early) and never sent on, the server
// may be waiting for its message, where QUIT would be a line of it: the
// connection is closed without a word, and the server drops the
// transaction (RFC 5321 §3.8).
func (c *Client) Quit() error {
	if c.quitSent {
		return nil
	}
	if c.early != nil {
		return c.conn.Close()
	}
	_, err := c.cmd(PhaseQUIT, 221, "QUIT")
	c.conn.Close()
	return err
}

// Close closes the connection without a word.
func (c *Client) Close() error { return c.conn.Close() }

// flush writes out what the commands of a group left in the buffer.
func (c *Client) flush(phase string) error {
	if err := c.tp.W.Flush(); err != nil {
		return &IOError{phase, err}
	}
	return nil
}

// bufferLine adds a command to the group being built.
func (c *Client) bufferLine(line string) {
	c.tp.W.WriteString(line)
	c.tp.W.WriteString("\r\n")
}

// writer is where a message's bytes go.
func (c *Client) writer() *bufio.Writer { return c.tp.W }
