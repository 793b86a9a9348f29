//go:build linux

package main

import (
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// startChunkingSink starts an SMTP server on loopback that offers
// PIPELINING and CHUNKING (go-smtp's server) and throws every letter away,
// as smtp-sink does.
func startChunkingSink() (*smtp.Server, string, error) {
	s := smtp.NewServer(sinkBackend{})
	s.Domain = "chunking-sink"
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	s.MaxRecipients = 1000
	s.EnableSMTPUTF8 = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go s.Serve(ln)
	return s, ln.Addr().String(), nil
}

type sinkBackend struct{}

func (sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }

type sinkSession struct{}

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
