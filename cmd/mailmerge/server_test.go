package main

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/testca"
)

// scriptServer is the SMTP server the CLI scripts send to. It accepts
// every letter and writes it to a folder, except for recipients whose
// local part starts with:
//
//	fail-   550 5.1.1 at RCPT
//	hostile- 550 5.1.1 at RCPT, with terminal escape sequences in its text
//	later-  451 4.3.0 at RCPT
//	once-   451 4.3.0 at RCPT the first time, accepted after
//	lost-   the connection drops after the final dot (no reply)
//	quota-  Microsoft 365's daily quota reply (554 5.2.0) after the final
//	        dot the first time, accepted after
//
// With a TLS config it offers STARTTLS and requires AUTH PLAIN as
// scriptUser with scriptPassword before MAIL.
type scriptServer struct {
	dir  string
	n    atomic.Int64
	auth bool
	once sync.Map // once- addresses refused already
}

const (
	scriptUser     = "me@example.com"
	scriptPassword = "s3cret-Pw"
)

func startScriptServer(dir string, tlsConfig *tls.Config) (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	be := &scriptServer{dir: dir, auth: tlsConfig != nil}
	s := smtp.NewServer(be)
	s.TLSConfig = tlsConfig
	s.Domain = "mx.script.test"
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	go s.Serve(ln)
	return ln.Addr().(*net.TCPAddr).Port, func() { s.Close() }, nil
}

func (b *scriptServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &scriptSession{b: b, c: c}, nil
}

type scriptSession struct {
	b      *scriptServer
	c      *smtp.Conn
	rcpts  []string
	authed bool
}

func (s *scriptSession) Mail(string, *smtp.MailOptions) error {
	if s.b.auth && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}

func (s *scriptSession) AuthMechanisms() []string {
	if !s.b.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *scriptSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != scriptUser || pass != scriptPassword {
			// As some servers do: the refusal repeats what it was sent,
			// which mailmerge must never show, log or trace.
			blob := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid: " + pass + " (" + blob + ")"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *scriptSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "fail-"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	case strings.HasPrefix(to, "hostile-"):
		// A reply written to act on a terminal: set the window's title,
		// clear the screen, reverse what follows.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user \x1b]0;owned\x07\x1b[2J\x1b[31m\u202etxt.exe \u009b1m"}
	case strings.HasPrefix(to, "later-"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	case strings.HasPrefix(to, "once-"):
		if _, again := s.b.once.LoadOrStore(to, true); !again {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *scriptSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, rc := range s.rcpts {
		if strings.HasPrefix(rc, "lost-") {
			s.c.Conn().Close()
			return errors.New("dropped")
		}
		if !strings.HasPrefix(rc, "quota-") {
			continue
		}
		if _, again := s.b.once.LoadOrStore(rc, true); !again {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 2, 0},
				Message: "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."}
		}
	}
	n := s.b.n.Add(1)
	name := filepath.Join(s.b.dir, fmt.Sprintf("%03d-%s.eml", n, strings.Join(s.rcpts, ",")))
	return os.WriteFile(name, data, 0o644)
}

// scriptCA writes a CA certificate to caFile and returns a server config
// for loopback signed by it.
func scriptCA(caFile string) (*tls.Config, error) {
	ca, err := testca.New()
	if err != nil {
		return nil, err
	}
	return ca.Server, os.WriteFile(caFile, ca.PEM, 0o644)
}

func (s *scriptSession) Reset()        { s.rcpts = nil }
func (s *scriptSession) Logout() error { return nil }
