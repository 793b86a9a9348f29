// Package mailbox reads and writes the sender's mailbox over IMAP
// (RFC 9051, RFC 3501): the delivery reports that come back after a
// send, and copies of the letters sent, for the Sent folder.
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailmerge/mailmerge/internal/remote"
)

// Security is how the connection to the IMAP server is protected. There
// is no plain-text mode: IMAP always carries a password.
type Security string

const (
	TLS      Security = "tls"      // TLS from the first byte (port 993)
	StartTLS Security = "starttls" // plain text, then STARTTLS before the login (port 143)
)

// Server says where the mailbox is and how to log in.
type Server struct {
	Host     string
	Port     int
	Security Security
	Username string
	Password string
	TLS      *tls.Config // ServerName defaults to Host
	// Timeout bounds connecting and each command.
	Timeout time.Duration
}

func (s Server) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Describe names the server for messages: where, and how it is reached.
func (s Server) Describe() string {
	return fmt.Sprintf("IMAP server %s (%s) as %s", s.addr(), s.Security, s.Username)
}

// Mailbox is a logged-in session.
type Mailbox struct {
	s        Server
	c        *imapclient.Client
	raw      *boundConn // under TLS: where deadlines are set
	selected string
}

// Error is an IMAP failure, said for people first: Words is what went
// wrong and what to do, Err the detail.
type Error struct {
	Words string
	Err   error
}

// Error says the words, then the detail: the server's text, made safe
// to show (remote.Text).
func (e *Error) Error() string { return e.Words + ": " + remote.Text(e.Err.Error()) }
func (e *Error) Unwrap() error { return e.Err }

// ErrLogin is wrapped by the error of a login the server refused.
var ErrLogin = errors.New("login refused")

// Dial connects to the server and logs in.
func Dial(ctx context.Context, s Server) (*Mailbox, error) {
	if s.Timeout == 0 {
		s.Timeout = time.Minute
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.Host
	}
	d := &net.Dialer{Timeout: s.Timeout}
	tcp, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, &Error{dialWords(s, err), err}
	}
	conn := &boundConn{Conn: tcp, left: maxAnswer}
	opts := &imapclient.Options{TLSConfig: cfg}
	var c *imapclient.Client
	err = withDeadline(ctx, conn, s.Timeout, func() error {
		switch s.Security {
		case StartTLS:
			c, err = imapclient.NewStartTLS(conn, opts)
			if err != nil {
				return tlsError(s, err)
			}
		default:
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return tlsError(s, err)
			}
			c = imapclient.New(tc, opts)
		}
		if err := c.WaitGreeting(); err != nil {
			return &Error{fmt.Sprintf("the IMAP server %s did not greet", s.addr()), err}
		}
		if err := c.Login(s.Username, s.Password).Wait(); err != nil {
			return &Error{fmt.Sprintf("the IMAP server %s refused the login of %s: check imap.username and the password", s.addr(), s.Username), fmt.Errorf("%w: %s", ErrLogin, remote.Hide(err.Error(), s.Password))} // a server may repeat it
		}
		return nil
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		conn.Close()
		return nil, err
	}
	return &Mailbox{s: s, c: c, raw: conn}, nil
}

// dialWords says what a failed connection usually means.
func dialWords(s Server, err error) string {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Sprintf("could not connect to the IMAP server %s: there is no server called %s (check imap.host)", s.addr(), s.Host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("could not connect to the IMAP server %s: nothing answers there (check imap.host and imap.port: 993 for tls, 143 for starttls)", s.addr())
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("could not connect to the IMAP server %s: no answer within %v (a firewall, or a wrong imap.host or imap.port)", s.addr(), s.Timeout)
	}
	return fmt.Sprintf("could not connect to the IMAP server %s", s.addr())
}

// tlsError says what a failed TLS start usually means.
func tlsError(s Server, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "i/o timeout") {
		// go-imap does not always wrap the network's error.
		return &Error{fmt.Sprintf("the IMAP server %s did not answer within %v (check imap.host and imap.port)", s.addr(), s.Timeout), err}
	}
	var rec tls.RecordHeaderError
	var cert *tls.CertificateVerificationError
	switch {
	case errors.As(err, &rec):
		return &Error{fmt.Sprintf("the IMAP server %s does not speak TLS on this port: for STARTTLS (usually port 143) set imap.security: starttls", s.addr()), err}
	case errors.As(err, &cert):
		return &Error{fmt.Sprintf("the IMAP server %s has a certificate this machine does not trust (set imap.ca_file to its CA)", s.addr()), err}
	case s.Security == StartTLS:
		return &Error{fmt.Sprintf("STARTTLS with the IMAP server %s failed: if it speaks TLS from the start (usually port 993) set imap.security: tls", s.addr()), err}
	}
	return &Error{fmt.Sprintf("TLS with the IMAP server %s failed", s.addr()), err}
}

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

// Close logs out, waiting a few seconds at most for the server to say
// goodbye.
func (m *Mailbox) Close() error {
	withDeadline(context.Background(), m.raw, 5*time.Second, func() error { return m.c.Logout().Wait() })
	return m.c.Close()
}

// selectFolder opens folder, saying which folders there are when it does
// not exist.
func (m *Mailbox) selectFolder(ctx context.Context, folder string) error {
	if m.selected == folder {
		return nil
	}
	err := m.do(ctx, func() error {
		_, err := m.c.Select(folder, nil).Wait()
		return err
	})
	if err != nil {
		return m.folderError(ctx, folder, err)
	}
	m.selected = folder
	return nil
}

func (m *Mailbox) folderError(ctx context.Context, folder string, err error) error {
	var names []string
	m.do(ctx, func() error {
		list, _ := m.c.List("", "*", nil).Collect()
		for _, l := range list {
			names = append(names, remote.Text(l.Mailbox))
		}
		return nil
	})
	words := fmt.Sprintf("the IMAP server %s has no folder %q", m.s.addr(), folder)
	if len(names) > 0 {
		words += " (it has " + strings.Join(names, ", ") + ")"
	}
	return &Error{words, err}
}

// Message is a message of a folder: its UID, and its bytes.
type Message struct {
	UID  imap.UID
	Data []byte
}

// What one reading of a folder may cost, whatever the server holds or
// sends: a header batch, a body batch, the messages looked at.
const (
	batch         = 50       // headers one FETCH asks for
	bodyBatch     = 10       // bodies one FETCH asks for
	maxHeader     = 64 << 10 // bytes of a header read (a report's is a few kB)
	maxBody       = 1 << 20  // bytes of a message read (reports are small: RET=HDRS)
	maxCandidates = 50_000   // the newest messages looked at in one reading
	// maxAnswer caps the bytes of one answer of the server's: a server
	// that ignores the sizes asked for (or streams one literal for ever)
	// is cut off there.
	maxAnswer = 32 << 20
)

// Messages calls fn with each message of folder that arrived on or after
// the day of since (IMAP searches by day), oldest first, whose header
// want accepts (nil: all): the others' bodies are never fetched. Reading
// leaves the messages unread (BODY.PEEK). Of each message it reads the
// first maxHeader bytes of the header and maxBody of the whole; of a
// folder with more than maxCandidates messages since then, the newest:
// skipped says how many older ones were left out.
func (m *Mailbox) Messages(ctx context.Context, folder string, since time.Time, want func(header []byte) bool, fn func(Message) error) (skipped int, err error) {
	if err := m.selectFolder(ctx, folder); err != nil {
		return 0, err
	}
	var uids []imap.UID
	err = m.do(ctx, func() error {
		data, err := m.c.UIDSearch(&imap.SearchCriteria{Since: since}, nil).Wait()
		if err != nil {
			return err
		}
		uids = data.AllUIDs()
		return nil
	})
	if err != nil {
		return 0, &Error{fmt.Sprintf("searching %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	if len(uids) > maxCandidates {
		slices.Sort(uids)
		skipped, uids = len(uids)-maxCandidates, uids[len(uids)-maxCandidates:]
	}
	for len(uids) > 0 {
		n := min(batch, len(uids))
		chosen := uids[:n]
		uids = uids[n:]
		if want != nil {
			headers, err := m.fetch(ctx, folder, chosen, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true, Partial: &imap.SectionPartial{Size: maxHeader}})
			if err != nil {
				return skipped, err
			}
			chosen = nil
			for _, h := range headers {
				if want(h.Data) {
					chosen = append(chosen, h.UID)
				}
			}
		}
		for len(chosen) > 0 {
			k := min(bodyBatch, len(chosen))
			msgs, err := m.fetch(ctx, folder, chosen[:k], &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Size: maxBody}})
			if err != nil {
				return skipped, err
			}
			chosen = chosen[k:]
			for _, msg := range msgs {
				if err := fn(msg); err != nil {
					return skipped, err
				}
			}
		}
	}
	return skipped, nil
}

// lookupBatch is how many keys one SEARCH looks for.
const lookupBatch = 20

// FindMessageIDs looks in folder for the messages whose Message-ID holds
// each of keys, and returns by key the Message-IDs found (the caller
// tells which are its letter's: letter.Key.Names). Providers that file
// each submitted letter in Sent (Gmail, Microsoft 365), and
// imap.save_copies, make this the record of what was sent from any
// machine.
func (m *Mailbox) FindMessageIDs(ctx context.Context, folder string, keys []string) (map[string][]string, error) {
	found := map[string][]string{}
	if len(keys) == 0 {
		return found, nil
	}
	if err := m.selectFolder(ctx, folder); err != nil {
		return nil, err
	}
	for len(keys) > 0 {
		some := keys[:min(lookupBatch, len(keys))]
		keys = keys[len(some):]
		var criteria imap.SearchCriteria
		for i := len(some) - 1; i >= 0; i-- {
			one := imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: some[i]}}}
			if i == len(some)-1 {
				criteria = one
				continue
			}
			criteria = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{one, criteria}}}
		}
		var uids []imap.UID
		err := m.do(ctx, func() error {
			data, err := m.c.UIDSearch(&criteria, nil).Wait()
			if err != nil {
				return err
			}
			uids = data.AllUIDs()
			return nil
		})
		if err != nil {
			return nil, &Error{fmt.Sprintf("searching %q on the IMAP server %s failed", folder, m.s.addr()), err}
		}
		for len(uids) > 0 {
			chosen := uids[:min(batch, len(uids))]
			uids = uids[len(chosen):]
			headers, err := m.fetch(ctx, folder, chosen, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true, Partial: &imap.SectionPartial{Size: maxHeader}})
			if err != nil {
				return nil, err
			}
			for _, h := range headers {
				id := messageID(h.Data)
				for _, k := range some {
					if id != "" && strings.Contains(strings.ToLower(id), strings.ToLower(k)) {
						found[k] = append(found[k], remote.Text(id))
					}
				}
			}
		}
	}
	return found, nil
}

// messageID is the Message-ID a header block names, with its brackets.
func messageID(header []byte) string {
	for _, line := range strings.Split(string(header), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Message-ID") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// fetch reads one section of the messages with uids.
func (m *Mailbox) fetch(ctx context.Context, folder string, uids []imap.UID, section *imap.FetchItemBodySection) ([]Message, error) {
	var msgs []*imapclient.FetchMessageBuffer
	err := m.do(ctx, func() error {
		var err error
		msgs, err = m.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		return err
	})
	if err != nil {
		return nil, &Error{fmt.Sprintf("reading %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	out := make([]Message, 0, len(msgs))
	for _, msg := range msgs {
		var data []byte
		for _, b := range msg.BodySection {
			data = b.Bytes
		}
		out = append(out, Message{UID: msg.UID, Data: data})
	}
	return out, nil
}

// Move moves the messages with uids from the folder Messages last read
// into folder (MOVE, RFC 6851).
func (m *Mailbox) Move(ctx context.Context, uids []imap.UID, folder string) error {
	if len(uids) == 0 {
		return nil
	}
	if !m.c.Caps().Has(imap.CapMove) {
		// Without MOVE a move is a copy and an EXPUNGE, which would also
		// remove the user's own messages marked for deletion.
		return &Error{fmt.Sprintf("the IMAP server %s cannot move messages (no MOVE): leave out --move-to", m.s.addr()), errors.New("MOVE not offered")}
	}
	err := m.do(ctx, func() error {
		_, err := m.c.Move(imap.UIDSetNum(uids...), folder).Wait()
		return err
	})
	var ie *imap.Error
	switch {
	case errors.As(err, &ie) && (ie.Code == imap.ResponseCodeTryCreate || ie.Code == imap.ResponseCodeNonExistent):
		return m.folderError(ctx, folder, err)
	case err != nil:
		return &Error{fmt.Sprintf("moving messages to %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	return nil
}

// Append adds a message to folder, marked as read.
func (m *Mailbox) Append(ctx context.Context, folder string, data []byte, date time.Time) error {
	err := m.do(ctx, func() error {
		cmd := m.c.Append(folder, int64(len(data)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: date})
		if _, err := cmd.Write(data); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		_, err := cmd.Wait()
		return err
	})
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate {
			return m.folderError(ctx, folder, err)
		}
		return &Error{fmt.Sprintf("saving a copy in %q on the IMAP server %s failed", folder, m.s.addr()), err}
	}
	return nil
}

// Examine opens folder read-only (EXAMINE) and says how many messages
// it holds: that it is there, changing nothing (not even \Recent).
func (m *Mailbox) Examine(ctx context.Context, folder string) (uint32, error) {
	var n uint32
	err := m.do(ctx, func() error {
		data, err := m.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return err
		}
		n = data.NumMessages
		return nil
	})
	m.selected = "" // examined, not selected: the next command selects anew
	if err != nil {
		return 0, m.folderError(ctx, folder, err)
	}
	return n, nil
}

// Has reports whether folder holds a message with the Message-ID id.
func (m *Mailbox) Has(ctx context.Context, folder, id string) (bool, error) {
	if err := m.selectFolder(ctx, folder); err != nil {
		return false, err
	}
	var found bool
	err := m.do(ctx, func() error {
		data, err := m.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
		if err != nil {
			return err
		}
		found = len(data.AllUIDs()) > 0
		return nil
	})
	return found, err
}
