package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
)

func startDovecot(t *testing.T) (*testdovecot.Dovecot, *testca.CA) {
	t.Helper()
	testdovecot.Need(t)
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	return testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "s3cret-pw"}}), ca
}

func letterWithID(id string) []byte {
	return []byte(fmt.Sprintf("From: a@example.org\r\nTo: b@example.com\r\nSubject: letter %s\r\nMessage-ID: %s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHello\r\n", id, id))
}

// TestDovecot reads, moves and saves messages in a real Dovecot, over TLS
// and over STARTTLS.
func TestDovecot(t *testing.T) {
	v, ca := startDovecot(t)
	for _, id := range []string{"<one@example.org>", "<two@example.org>", "<three@example.org>"} {
		v.Deliver(t, "kafedra", letterWithID(id))
	}
	ctx := context.Background()
	for _, s := range []Server{
		{Host: "127.0.0.1", Port: v.Port, Security: TLS},
		{Host: "127.0.0.1", Port: v.StartTLSPort, Security: StartTLS},
	} {
		t.Run(string(s.Security), func(t *testing.T) {
			s.Username, s.Password, s.TLS = "kafedra", "s3cret-pw", &tls.Config{RootCAs: ca.Pool}
			m, err := Dial(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var ids []string
			var uids []imap.UID
			_, err = m.Messages(ctx, "INBOX", time.Now().Add(-24*time.Hour), nil, func(msg Message) error {
				i := strings.Index(string(msg.Data), "Message-ID: ")
				ids = append(ids, strings.TrimSpace(strings.SplitN(string(msg.Data[i+12:]), "\n", 2)[0]))
				uids = append(uids, msg.UID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.Security == StartTLS {
				// The TLS run moved one away.
				if len(ids) != 2 {
					t.Fatalf("INBOX has %v, want two left", ids)
				}
				// Examine counts a folder's messages, changes nothing, and
				// names the folders there when one is not.
				if n, err := m.Examine(ctx, "INBOX"); err != nil || n != 2 {
					t.Errorf("Examine(INBOX) = %d, %v; want 2", n, err)
				}
				if got := v.Search(t, "kafedra", "INBOX", "SEEN"); len(got) != 0 {
					t.Errorf("examining marked %v seen", got)
				}
				if _, err := m.Examine(ctx, "Nope"); err == nil || !strings.Contains(err.Error(), `has no folder "Nope" (it has `) {
					t.Errorf("Examine(Nope): %v", err)
				}
				if has, err := m.Has(ctx, "INBOX", "<two@example.org>"); err != nil || !has {
					t.Errorf("after Examine, Has(INBOX) = %v, %v", has, err)
				}
				return
			}
			if want := []string{"<one@example.org>", "<two@example.org>", "<three@example.org>"}; !slices.Equal(ids, want) {
				t.Fatalf("read %v, want %v", ids, want)
			}
			// Nothing read is marked read: the user still sees it new.
			if got := v.Search(t, "kafedra", "INBOX", "SEEN"); len(got) != 0 {
				t.Errorf("reading marked %v seen", got)
			}
			if err := m.Move(ctx, uids[:1], "Bounces"); err != nil {
				t.Fatal(err)
			}
			if got := v.Search(t, "kafedra", "Bounces", "ALL"); len(got) != 2 { // doveadm prints a GUID and a UID
				t.Errorf("Bounces holds %v, want the one moved", got)
			}
			if err := m.Append(ctx, "Sent", letterWithID("<sent@example.org>"), time.Now()); err != nil {
				t.Fatal(err)
			}
			if got := v.Search(t, "kafedra", "Sent", "SEEN", "header", "Message-ID", "<sent@example.org>"); len(got) != 2 {
				t.Errorf("Sent holds %v, want the copy, read", got)
			}
			for id, want := range map[string]bool{"<sent@example.org>": true, "<other@example.org>": false} {
				if has, err := m.Has(ctx, "Sent", id); err != nil || has != want {
					t.Errorf("Has(%s) = %v, %v; want %v", id, has, err, want)
				}
			}
		})
	}
}

// TestErrors: what users meet, said in words, with no password in them.
func TestErrors(t *testing.T) {
	v, ca := startDovecot(t)
	ctx := context.Background()
	good := Server{Host: "127.0.0.1", Port: v.Port, Security: TLS, Username: "kafedra", Password: "s3cret-pw", TLS: &tls.Config{RootCAs: ca.Pool}, Timeout: 10 * time.Second}
	t.Run("no such folder", func(t *testing.T) {
		m, err := Dial(ctx, good)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_, err = m.Messages(ctx, "Bounce", time.Now(), nil, func(Message) error { return nil })
		if err == nil || !strings.Contains(err.Error(), `has no folder "Bounce" (it has `) || !strings.Contains(err.Error(), "Bounces") {
			t.Errorf("error %v", err)
		}
	})
	tests := []struct {
		name  string
		edit  func(*Server)
		words string
		is    error
	}{
		{"TLS to the STARTTLS port", func(s *Server) { s.Port = v.StartTLSPort }, "does not speak TLS on this port: for STARTTLS", nil},
		{"untrusted certificate", func(s *Server) { s.TLS = &tls.Config{} }, "certificate this machine does not trust", nil},
		{"nobody listening", func(s *Server) { s.Port = 1 }, "could not connect to the IMAP server 127.0.0.1:1", nil},
		{"wrong password", func(s *Server) { s.Password = "wrong-pw" }, "refused the login of kafedra", ErrLogin}, // last: Dovecot slows the logins after it
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			m, err := Dial(ctx, s)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.words) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q, want one that says %q", err, tt.words)
			}
			if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "wrong-pw") {
				t.Errorf("the password is in the error: %q", err)
			}
		})
	}
}

// TestSilentServer: a server that takes the connection and says nothing is
// given up on after Server.Timeout, over TLS and STARTTLS, though the
// IMAP client would wait 30 s and more of its own.
func TestSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, sec := range []Security{TLS, StartTLS} {
		start := time.Now()
		_, err := Dial(context.Background(), Server{Host: "127.0.0.1", Port: port, Security: sec, Username: "u", Password: "p", Timeout: 500 * time.Millisecond})
		// The client's own wait is 30 s: half of it tells the two apart
		// on the slowest machine.
		if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "did not answer within 500ms") || took > 15*time.Second {
			t.Errorf("%s: %v after %v, want imap's timeout, not the client's 30 s", sec, err, took)
		}
	}
}
