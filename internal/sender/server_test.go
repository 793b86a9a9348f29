package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/smtp"
	"github.com/mailmerge/mailmerge/internal/testca"
)

// backend is a scriptable go-smtp backend. Hooks return the error to
// reply with, and may act on the connection (hang up, stall).
type backend struct {
	mu       sync.Mutex
	received []received
	sessions int
	conns    []*gosmtp.Conn // every session's connection, for dropAll
	rcpts    map[string]int // RCPT commands per address
	auths    int

	user, pass string   // AUTH is offered when set
	token      string   // the OAuth2 access token XOAUTH2 and OAUTHBEARER take
	mechs      []string // offered mechanisms; default PLAIN
	authErr    error    // when set, the reply to every AUTH, whatever the password
	mail       func(c *gosmtp.Conn, from string) error
	rcpt       func(c *gosmtp.Conn, to string, n int) error // n: RCPTs for to so far, from 1
	data       func(c *gosmtp.Conn, msg []byte, n int) error
	midData    func(c *gosmtp.Conn, rcpts []string) bool // true: read a little of the body and drop the connection
	dataCount  int
	server     func(*gosmtp.Server) // server options (DSN, SIZE, timeouts)
}

// dropAll closes every session's connection, as a server does with idle
// ones.
func (b *backend) dropAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Conn().Close() // the net.Conn: go-smtp's own Close races with its server
	}
}

type received struct {
	from  string
	rcpts []string
	data  []byte
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	if b.user != "" {
		return &authSession{session{b: b, c: c}}, nil
	}
	return &session{b: b, c: c}, nil
}

type session struct {
	b     *backend
	c     *gosmtp.Conn
	from  string
	rcpts []string
}

type authSession struct{ session }

func (s *authSession) AuthMechanisms() []string {
	if s.b.mechs != nil {
		return s.b.mechs
	}
	return []string{sasl.Plain}
}

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		s.b.mu.Lock()
		s.b.auths++
		s.b.mu.Unlock()
		if s.b.authErr != nil {
			return s.b.authErr
		}
		want := s.b.pass
		if mech == "XOAUTH2" || mech == sasl.OAuthBearer {
			want = s.b.token
		}
		if user != s.b.user || pass != want {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	if mech == sasl.OAuthBearer {
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if check(o.Username, o.Token) != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		}), nil
	}
	if mech == "XOAUTH2" {
		return &xoauth2Server{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

// xoauth2Server is the server side of XOAUTH2 as Microsoft 365 speaks
// it: a refused token is a 535 at once, without a challenge.
type xoauth2Server struct {
	check func(user, token string) error
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	user, token := "", ""
	for _, f := range strings.Split(string(response), "\x01") {
		if v, ok := strings.CutPrefix(f, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(f, "auth=Bearer "); ok {
			token = v
		}
	}
	return nil, true, x.check(user, token)
}

// loginServer is the server side of AUTH LOGIN as go-sasl's client speaks
// it: the username as the initial response, then "Password:".
type loginServer struct {
	check func(user, pass string) error
	user  []byte
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if l.user == nil {
		if response == nil {
			return []byte("Username:"), false, nil
		}
		l.user = response
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(string(l.user), string(response))
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.b.mail != nil {
		if err := s.b.mail(s.c, from); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.b.mu.Lock()
	if s.b.rcpts == nil {
		s.b.rcpts = map[string]int{}
	}
	s.b.rcpts[to]++
	n := s.b.rcpts[to]
	s.b.mu.Unlock()
	if s.b.rcpt != nil {
		if err := s.b.rcpt(s.c, to, n); err != nil {
			return err
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.b.midData != nil && s.b.midData(s.c, s.rcpts) {
		io.ReadFull(r, make([]byte, 1024))
		s.c.Conn().(*net.TCPConn).SetLinger(0) // a reset, not a clean close
		return hangUp(s.c, "")
	}
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	s.b.dataCount++
	n := s.b.dataCount
	s.b.mu.Unlock()
	if s.b.data != nil {
		if err := s.b.data(s.c, msg, n); err != nil {
			return err
		}
	}
	s.b.mu.Lock()
	s.b.received = append(s.b.received, received{s.from, s.rcpts, msg})
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.rcpts = "", nil }
func (s *session) Logout() error { return nil }

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.received...)
}

// hangUp makes the server answer line and drop the connection, as a real
// server does with 421 (go-smtp's server would keep it open).
func hangUp(c *gosmtp.Conn, line string) error {
	if line != "" {
		fmt.Fprintf(c.Conn(), "%s\r\n", line)
	}
	c.Conn().Close()
	return errors.New("hung up")
}

// startServer runs be on 127.0.0.1 and returns its port. tlsConfig, if
// set, makes it offer STARTTLS.
func startServer(t *testing.T, be *backend, tlsConfig *tls.Config) int {
	t.Helper()
	return startServerOn(t, be, tlsConfig, false)
}

// startServerOn is startServer; implicit makes it speak TLS from the
// first byte (port 465 style) instead of offering STARTTLS.
func startServerOn(t *testing.T, be *backend, tlsConfig *tls.Config, implicit bool) int {
	t.Helper()
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if implicit {
		ln = tls.NewListener(ln, tlsConfig)
		tlsConfig = nil
	}
	s := gosmtp.NewServer(be)
	s.Domain = "mx.test"
	s.TLSConfig = tlsConfig
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	if be.server != nil {
		be.server(s)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		// go-smtp's Server.Close races with a session still reading a
		// BDAT chunk (it sets the chunk's pipe without the session's
		// lock): end the sessions by their connections first, and let
		// them finish before the server is closed.
		be.dropAll()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s.Shutdown(ctx) != nil {
			s.Close()
		}
	})
	return port
}

// testCA makes a CA and a certificate for loopback signed by it: a
// server config, and the pool a client must trust.
func testCA(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	return ca.Server, ca.Pool
}

// wire is a TCP proxy that records what the client sends.
type wire struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *wire) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func startProxy(t *testing.T, port int) (int, *wire) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, io.TeeReader(c, w)); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, w
}

// testLetter is a letter with the bytes Build gives for it.
type testLetter struct {
	*letter.Letter
	Data []byte
}

// letters makes n small letters, one recipient each, whose bodies have a
// line with a lone dot and one starting with a dot. Letter i has the
// Message-ID <keyi@example.org>; keyName gives "keyi" back.
func letters(n int) []*testLetter {
	var out []*testLetter
	for i := range n {
		rcpt := fmt.Sprintf("user%d@example.com", i)
		name := fmt.Sprintf("key%d", i)
		id := "<" + name + "@example.org>"
		data := fmt.Sprintf("From: s@example.org\r\nTo: %s\r\nMessage-ID: %s\r\nSubject: test %d\r\n\r\nline one\r\n.\r\n.leading dot\r\n", rcpt, id, i)
		l := &letter.Letter{Line: i + 2, Key: letter.NewKey("test", []string{name}, 0), From: "s@example.org", Recipients: []string{rcpt}, To: []string{rcpt}, MessageID: id}
		out = append(out, &testLetter{l, []byte(data)})
	}
	return out
}

// keyName names a journal record's letter as letters does: "key0".
func keyName(r journal.Record) string {
	return strings.TrimSuffix(strings.TrimPrefix(r.MessageID, "<"), "@example.org>")
}

// run sends ls through p, whose Build gives each letter's Data unless
// the test set one, and
// checks that the stats count every letter exactly once.
func run(t testing.TB, p *Pool, ctx, hard context.Context, ls []*testLetter) (Stats, error) {
	t.Helper()
	data := map[*letter.Letter]*testLetter{}
	for _, l := range ls {
		data[l.Letter] = l
	}
	if p.Build == nil {
		p.Build = func(_ context.Context, l *letter.Letter) ([]byte, error) { return data[l].Data, nil }
	}
	st, err := p.Run(ctx, hard, func(yield func(*letter.Letter) bool) error {
		for _, l := range ls {
			if !yield(l.Letter) {
				break
			}
		}
		return nil
	})
	if skipped := st.Done() - st.Sent(); st.Letters != len(ls) || st.Sent()+skipped+st.Untouched != len(ls) {
		t.Errorf("%d letters, counted %d: %s, skipped %v", len(ls), st.Sent()+skipped+st.Untouched, summary(st), st.Skipped)
	}
	return st, err
}

// smtpTransport is a transport to a test server on port. The wait after
// the final dot is long: an 8 MB letter read with -race on a loaded
// machine takes seconds; tests of a stall after the dot set their own.
func smtpTransport(port int) *SMTP {
	return &SMTP{Host: "127.0.0.1", Port: port, Security: smtp.Plain, Helo: "client.test",
		DialTimeout: 5 * time.Second, Timeout: 5 * time.Second, DataTimeout: 30 * time.Second, NoChunking: overDATA}
}

// overDATA makes smtpTransport send with DATA where go-smtp's server
// offers CHUNKING too, so that each letter's end carries the next one's
// envelope (TestOverDATA).
var overDATA bool

// runPool sends ls through tr with a fresh journal and returns the stats,
// the error and the journal's last record per key.
func runPool(t *testing.T, tr Transport, ls []*testLetter, tune func(*Pool)) (Stats, map[string]journal.Record, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.journal")
	return runPoolJournal(t, path, tr, ls, tune)
}

func runPoolJournal(t *testing.T, path string, tr Transport, ls []*testLetter, tune func(*Pool)) (Stats, map[string]journal.Record, error) {
	t.Helper()
	return runPoolAt(t, context.Background(), path, tr, ls, tune)
}

// runPoolCtx is runPool with a dispatch context.
func runPoolCtx(t *testing.T, ctx context.Context, tr Transport, ls []*testLetter, tune func(*Pool)) (Stats, map[string]journal.Record, error) {
	t.Helper()
	return runPoolAt(t, ctx, filepath.Join(t.TempDir(), "test.journal"), tr, ls, tune)
}

func runPoolAt(t *testing.T, ctx context.Context, path string, tr Transport, ls []*testLetter, tune func(*Pool)) (Stats, map[string]journal.Record, error) {
	t.Helper()
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pool{Transport: tr, Journal: j, Concurrency: 2, MaxAttempts: 3, PerSession: 100, Backoff: 5 * time.Millisecond, OpenTries: 2, PolicyStop: 5}
	if tune != nil {
		tune(p)
	}
	st, runErr := run(t, p, ctx, context.Background(), ls)
	j.Close()
	last := map[string]journal.Record{}
	if err := journal.Read(path, func(r journal.Record) error { last[keyName(r)] = r; return nil }); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return st, last, runErr
}

func countStates(last map[string]journal.Record) map[journal.State]int {
	m := map[journal.State]int{}
	for _, r := range last {
		m[r.Final()]++
	}
	return m
}

func summary(st Stats) string {
	return fmt.Sprintf("delivered %d, failed %d, deferred %d, unknown %d, untouched %d", st.Delivered, st.Failed, st.Deferred, st.Unknown, st.Untouched)
}
