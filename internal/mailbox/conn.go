package mailbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// withDeadline runs fn within d, and stops it when ctx ends first: the
// IMAP client's commands take no context.
func withDeadline(ctx context.Context, conn *boundConn, d time.Duration, fn func() error) error {
	conn.setLimit(time.Now().Add(d))
	defer conn.setLimit(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.setLimit(time.Unix(1, 0)) })
	defer stop()
	err := fn()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var said *Error
	if errors.Is(err, os.ErrDeadlineExceeded) && !errors.As(err, &said) {
		return fmt.Errorf("the IMAP server did not answer within %v: %w", d, err)
	}
	if conn.cutOff() {
		conn.Close() // in the middle of an answer: nothing more can be read
		return fmt.Errorf("%w (a message far larger than asked for, or a server that misbehaves); stopped reading", errTooMuch)
	}
	return err
}

// boundConn keeps the deadlines the IMAP client sets itself (it waits
// 30 s for a reply, and longer for a greeting) within the one set for the
// call in progress: imap.timeout, or an interrupt. It also cuts off a
// call whose answers pass maxAnswer bytes (errTooMuch).
type boundConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time // zero: none
	left  int64     // bytes the call in progress may still read
	over  bool      // the server sent more: the connection is cut off
}

// errTooMuch ends a call whose server sent more than maxAnswer bytes.
var errTooMuch = fmt.Errorf("the server sent more than %d MB in one answer", maxAnswer>>20)

func (c *boundConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	left := c.left
	c.over = c.over || left <= 0
	c.mu.Unlock()
	if left <= 0 {
		return 0, errTooMuch
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.left -= int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *boundConn) bound(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limit.IsZero() && (t.IsZero() || t.After(c.limit)) {
		return c.limit
	}
	return t
}

func (c *boundConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.bound(t)) }
func (c *boundConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.bound(t)) }
func (c *boundConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.bound(t)) }

func (c *boundConn) cutOff() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

// setLimit sets the deadline of the call in progress (zero: none), and
// gives it maxAnswer bytes to read.
func (c *boundConn) setLimit(t time.Time) {
	c.mu.Lock()
	c.limit, c.left = t, maxAnswer
	c.mu.Unlock()
	c.Conn.SetDeadline(t)
}

func (m *Mailbox) do(ctx context.Context, fn func() error) error {
	return withDeadline(ctx, m.raw, m.s.Timeout, fn)
}
