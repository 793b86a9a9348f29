package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// ask asks for the sender and the server, each with a default that Enter
// takes, again after an answer that will not do.
func ask(in io.Reader, out io.Writer) (mailing.Setup, error) {
	s := mailing.DefaultSetup
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
	if s.Address, err = question("Your address, which letters come from", s.Address, mailing.CheckAddress); err != nil {
		return s, err
	}
	if s.Name, err = question("Your name, as recipients see it", s.Name, mailing.CheckName); err != nil {
		return s, err
	}
	_, domain, _ := strings.Cut(s.Address, "@")
	if s.Host, err = question("SMTP server", "smtp."+domain, mailing.CheckHost); err != nil {
		return s, err
	}
	port, err := question("Port (587: STARTTLS, 465: TLS)", "587", mailing.CheckPort)
	if err != nil {
		return s, err
	}
	s.Port, _ = strconv.Atoi(port)
	sec, err := question("Security (starttls, tls or none)", string(mailing.SecurityFor(s.Port)), mailing.CheckSecurity)
	if err != nil {
		return s, err
	}
	s.Security = smtp.Security(sec)
	s.Username, err = question("Login name at the server", s.Address, mailing.CheckUsername)
	return s, err
}
