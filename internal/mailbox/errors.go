package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/mailmerge/mailmerge/internal/remote"
)

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
