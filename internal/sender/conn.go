package sender

import (
	"net"
	"time"
)

// deadlineConn sets a write deadline before every write. go-smtp sets
// deadlines around commands but none while the message body is written
// (it clears them after DATA), so a stalled server would hang a worker.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// greetedConn hands go-smtp a greeting it has already had. After STARTTLS
// (done here, so that the EHLO name, the handshake and its errors are
// ours) the server sends no new greeting, but go-smtp's client reads one
// before its first command.
type greetedConn struct {
	net.Conn
	greeting []byte
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if len(c.greeting) > 0 {
		n := copy(p, c.greeting)
		c.greeting = c.greeting[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
