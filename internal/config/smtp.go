package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mailmerge/mailmerge/internal/sender"
)

// KeyErr returns a *KeyError about key, located where its value came from.
func (c *Config) KeyErr(key string, err error) *KeyError {
	return &KeyError{Source: c.Source(key), Key: key, Err: err}
}

// CheckTransport reports a config that names nowhere to send letters.
func (c *Config) CheckTransport() error {
	if c.SMTP.Host == "" && c.Maildir.Path == "" {
		return c.KeyErr("smtp.host", errors.New("no transport: set smtp.host, or maildir.path to write letters into a folder"))
	}
	return nil
}

// Destination names where letters go, as the journal records it
// (sender.Transport.Destination).
func (c *Config) Destination() string {
	if c.Maildir.Path != "" {
		return (&sender.Maildir{Path: c.Maildir.Path}).Destination()
	}
	return (&sender.SMTP{Host: c.SMTP.Host, Port: c.SMTP.Port}).Destination()
}

// TLSConfig returns the TLS settings for the SMTP server: certificates are
// always verified, against smtp.ca_file when it is set, for the name
// smtp.server_name (default: the host).
func (c *Config) TLSConfig() (*tls.Config, error) {
	s := c.SMTP
	cfg := &tls.Config{ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
	if s.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, c.KeyErr("smtp.ca_file", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, c.KeyErr("smtp.ca_file", fmt.Errorf("no PEM certificates in %s", s.CAFile))
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Password finds the SMTP password: in the environment variable that
// smtp.password_env names, on the first line of smtp.password_file, or
// from ask (a prompt on a terminal; nil where there is none). Without
// smtp.username there is no password.
func (c *Config) Password(ask func() (string, error)) (string, error) {
	s := c.SMTP
	if s.Username == "" {
		return "", nil
	}
	if pw := os.Getenv(s.PasswordEnv); pw != "" {
		return pw, nil
	}
	if s.PasswordFile != "" {
		data, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", c.KeyErr("smtp.password_file", err)
		}
		pw, _, _ := strings.Cut(string(data), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", c.KeyErr("smtp.password_file", fmt.Errorf("%s: the first line, the password, is empty", s.PasswordFile))
		}
		return pw, nil
	}
	if ask != nil {
		return ask()
	}
	return "", c.KeyErr("smtp.username", fmt.Errorf("no password for %s: set $%s or smtp.password_file", s.Username, s.PasswordEnv))
}
