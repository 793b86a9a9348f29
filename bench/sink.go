//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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

// startSmtpSink starts Postfix's smtp-sink on a free loopback port.
func startSmtpSink(dir string) (addr string, pid int, stop func(), err error) {
	addr, err = freePort()
	if err != nil {
		return "", 0, nil, err
	}
	args := []string{"-h", "bench-sink", addr, "1024"}
	if os.Getuid() == 0 {
		args = append([]string{"-u", "postfix"}, args...)
	}
	cmd := exec.Command("smtp-sink", args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitListening(addr); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("smtp-sink: %w", err)
	}
	return addr, cmd.Process.Pid, stop, nil
}
