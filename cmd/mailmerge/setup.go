package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// setup is what init writes into the sample mailing: the sender and the
// SMTP server, asked for on a terminal.
type setup struct {
	Name, Address string
	Host          string
	Port          int
	Security      smtp.Security
	Username      string
}

var defaultSetup = setup{Name: "Me", Address: "me@example.com", Host: "smtp.example.com", Port: 587, Security: smtp.StartTLS, Username: "me@example.com"}

// FromHeader is the From line of the sample letter.
func (s setup) FromHeader() string {
	if address.Atoms(s.Name) {
		return s.Name + " <" + s.Address + ">"
	}
	return strconv.Quote(s.Name) + " <" + s.Address + ">"
}

// ask asks for the sender and the server, each with a default that Enter
// takes, again after an answer that will not do.
func ask(in io.Reader, out io.Writer) (setup, error) {
	s := defaultSetup
	r := bufio.NewReader(in)
	question := func(prompt, def string, check func(string) error) (string, error) {
		for range 5 {
			fmt.Fprintf(out, "%s [%s]: ", prompt, def)
			line, err := r.ReadString('\n')
			line = strings.TrimSpace(line)
			if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
				if errors.Is(err, io.EOF) {
					return "", errors.New("no answer: the input ended")
				}
				return "", err
			}
			if line == "" {
				line = def
			}
			if err := check(line); err != nil {
				fmt.Fprintf(out, "  %v\n", err)
				continue
			}
			return line, nil
		}
		return "", errors.New("no usable answer; run init again")
	}
	var err error
	if s.Address, err = question("Your address, which letters come from", s.Address, func(v string) error {
		if strings.Contains(v, "{{") {
			return errors.New("no {{ in an address")
		}
		return address.One(v)
	}); err != nil {
		return s, err
	}
	if s.Name, err = question("Your name, as recipients see it", s.Name, func(v string) error {
		if strings.ContainsAny(v, "<>\"@") || strings.Contains(v, "{{") {
			return errors.New("a name only: no <, >, \", @ or {{")
		}
		return nil
	}); err != nil {
		return s, err
	}
	_, domain, _ := strings.Cut(s.Address, "@")
	if s.Host, err = question("SMTP server", "smtp."+domain, hostName); err != nil {
		return s, err
	}
	port, err := question("Port (587: STARTTLS, 465: TLS)", "587", func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			return errors.New("a port is a number from 1 to 65535")
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	s.Port, _ = strconv.Atoi(port)
	def := smtp.StartTLS
	if s.Port == 465 {
		def = smtp.TLS
	}
	sec, err := question("Security (starttls, tls or none)", string(def), func(v string) error {
		var sec smtp.Security
		return sec.UnmarshalText([]byte(v))
	})
	if err != nil {
		return s, err
	}
	s.Security = smtp.Security(sec)
	s.Username, err = question("Login name at the server", s.Address, func(v string) error {
		if strings.ContainsAny(v, " \t#:") {
			return errors.New("a login name has no spaces and no # or : in it")
		}
		return nil
	})
	return s, err
}

func hostName(v string) error {
	if v == "" || strings.ContainsAny(v, " /:@#") {
		return errors.New("a host name, like smtp.example.edu")
	}
	return nil
}
