package sender

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Trace writes the SMTP dialogue of every session, one line per command or
// reply line, with a timestamp and the session number. AUTH arguments and
// every client line answering a 334 challenge are replaced by ****, and
// message bodies by their size: a trace never holds a password or a
// letter.
type Trace struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewTrace returns a Trace writing to w.
func NewTrace(w io.Writer) *Trace { return &Trace{w: w, now: time.Now} }

func (t *Trace) printf(session int, format string, args ...any) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%s [%d] %s\n", t.now().UTC().Format("2006-01-02T15:04:05.000Z"), session, fmt.Sprintf(format, args...))
}

// Note writes an event that is not a protocol line (connect, TLS).
func (t *Trace) Note(session int, format string, args ...any) {
	t.printf(session, "* "+format, args...)
}

// tracedConn logs the lines that pass through a connection. It must sit
// above TLS, where the dialogue is plain text.
type tracedConn struct {
	net.Conn
	t       *Trace
	session int

	// secrets are hidden from the server's lines: the password, and
	// every AUTH argument and 334 answer the client sent.
	secrets []string

	mu         sync.Mutex
	in, out    []byte // partial lines
	challenged bool   // the last server reply was 334
	dataOK     bool   // the server said 354: the client sends a body
	body       int    // bytes of body seen
	tail       []byte // last bytes of the body, to find the final dot
	chunk      int    // bytes of a BDAT chunk still to come
}

func (t *Trace) wrap(c net.Conn, session int, password string) net.Conn {
	if t == nil {
		return c
	}
	return &tracedConn{Conn: c, t: t, session: session, secrets: []string{password}}
}

func (c *tracedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in = append(c.in, p[:n]...)
	for {
		i := bytes.IndexByte(c.in, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(c.in[:i]), "\r")
		c.in = c.in[i+1:]
		c.challenged = strings.HasPrefix(line, "334")
		if strings.HasPrefix(line, "354") {
			c.dataOK = true
		}
		c.t.printf(c.session, "S: %s", remote.Hide(remote.Text(line), c.secrets...))
	}
	c.mu.Unlock()
	return n, err
}

func (c *tracedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out = append(c.out, p...)
	for len(c.out) > 0 {
		if c.chunk > 0 { // a BDAT chunk: counted, not shown
			n := min(c.chunk, len(c.out))
			c.chunk -= n
			c.out = c.out[n:]
			continue
		}
		if c.dataOK {
			c.consumeBody()
			if c.dataOK {
				break
			}
			continue
		}
		i := bytes.IndexByte(c.out, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(c.out[:i]), "\r")
		c.out = c.out[i+1:]
		if shown := redact(line, c.challenged); shown != line {
			c.secrets = append(c.secrets, secretsOf(secretOf(line, c.challenged))...)
			line = shown
		}
		c.t.printf(c.session, "C: %s", line)
		c.challenged = false
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "BDAT") {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				c.chunk = n
				c.t.printf(c.session, "C: [message: %d bytes, not shown]", n)
			}
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// consumeBody counts body bytes up to the final "\r\n.\r\n" without
// keeping them, then logs the size and the dot. tail holds the last few
// bytes already counted, in case the final dot is split across writes.
func (c *tracedConn) consumeBody() {
	const end = "\r\n.\r\n"
	buf := append(append([]byte(nil), c.tail...), c.out...)
	i := bytes.Index(buf, []byte(end))
	if i < 0 {
		c.body += len(c.out)
		c.tail = append(c.tail[:0], buf[len(buf)-min(len(buf), len(end)-1):]...)
		c.out = c.out[:0]
		return
	}
	c.body += i + 2 - len(c.tail)
	c.t.printf(c.session, "C: [message: %d bytes, not shown]", c.body)
	c.t.printf(c.session, "C: .")
	c.out = append(c.out[:0], buf[i+len(end):]...)
	c.tail, c.body, c.dataOK = c.tail[:0], 0, false
}

// secretOf is what redact hid of line: the AUTH argument, or the answer
// to a challenge.
func secretOf(line string, challenged bool) string {
	if challenged {
		return strings.TrimSpace(line)
	}
	if f := strings.Fields(line); len(f) >= 3 {
		return f[2]
	}
	return ""
}

// secretsOf is a credential as it was sent (base64) and each form a
// server might repeat it in: decoded, and the password or bearer token
// in it.
func secretsOf(sent string) []string {
	out := []string{sent}
	dec, err := base64.StdEncoding.DecodeString(sent)
	if err != nil || len(dec) == 0 {
		return out
	}
	out = append(out, string(dec))
	for _, part := range strings.FieldsFunc(string(dec), func(r rune) bool { return r == 0 || r == 1 }) {
		if token, ok := strings.CutPrefix(part, "auth=Bearer "); ok {
			part = token
		} else if strings.HasPrefix(part, "user=") || strings.HasPrefix(part, "host=") || strings.HasPrefix(part, "port=") || strings.HasPrefix(part, "n,") {
			continue // names, not secrets
		}
		if len(part) >= 8 { // a short word would hide too much of the dialogue
			out = append(out, part)
		}
	}
	return out
}

// redact hides credentials: the argument of AUTH, and any client line
// that answers a 334 challenge.
func redact(line string, challenged bool) string {
	if challenged {
		return "****"
	}
	if f := strings.Fields(line); len(f) >= 1 && strings.EqualFold(f[0], "AUTH") {
		if len(f) >= 3 {
			return f[0] + " " + f[1] + " ****"
		}
	}
	return line
}
