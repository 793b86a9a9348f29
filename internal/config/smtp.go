package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
)

// KeyErr returns a *KeyError about key, located where its value came from.
func (c *Config) KeyErr(key string, err error) *KeyError {
	if c.section != "" {
		key = accountKey(c.section, key)
	}
	return &KeyError{Source: c.Source(key), Key: key, Err: err}
}

// CheckTransport reports a config that names nowhere to send letters.
func (c *Config) CheckTransport() error {
	if c.SMTP.Host == "" && c.Maildir.Path == "" && len(c.Accounts) == 0 {
		return c.KeyErr("smtp.host", errors.New("no transport: set smtp.host (or accounts:), or maildir.path to write letters into a folder"))
	}
	return nil
}

// TLSConfig returns the TLS settings for the SMTP server: certificates are
// always verified, against smtp.ca_file when it is set, for the name
// smtp.server_name (default: the host).
func (c *Config) TLSConfig() (*tls.Config, error) {
	return c.tlsConfig("smtp", c.SMTP.ServerName, c.SMTP.CAFile)
}

// tlsConfig is the TLS settings of a section: certificates verified,
// against its ca_file when set, for serverName.
func (c *Config) tlsConfig(section, serverName, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, c.KeyErr(section+".ca_file", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, c.KeyErr(section+".ca_file", fmt.Errorf("no PEM certificates in %s", caFile))
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
	return c.secret("smtp", s.Username, s.PasswordEnv, s.PasswordFile, ask)
}

// IMAPPassword finds the IMAP password as Password finds the SMTP one,
// from imap.password_env or imap.password_file.
func (c *Config) IMAPPassword(ask func() (string, error)) (string, error) {
	m := c.IMAP
	return c.secret("imap", m.Username, m.PasswordEnv, m.PasswordFile, ask)
}

// secret finds the password of the section's user.
func (c *Config) secret(section, username, env, file string, ask func() (string, error)) (string, error) {
	if username == "" {
		return "", nil
	}
	if pw := os.Getenv(env); pw != "" {
		return pw, nil
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", c.KeyErr(section+".password_file", err)
		}
		pw, _, _ := strings.Cut(string(data), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", c.KeyErr(section+".password_file", fmt.Errorf("%s: the first line, the password, is empty", file))
		}
		return pw, nil
	}
	if ask != nil {
		return ask()
	}
	if !conventionalEnv.MatchString(env) {
		// Lower-case letters: a password typed into password_env by
		// mistake, say. It is not shown.
		return "", c.KeyErr(section+".password_env", fmt.Errorf("no password for %s. password_env is the name of an environment variable that holds the password, not the password: the value here does not look like a name (it is not shown, in case it is a password; if it is, take it out of this file and change it). Set password_env to a name such as MAILMERGE_%s_PASSWORD and put the password in that variable, or use %s.password_file", username, strings.ToUpper(section), section))
	}
	return "", c.KeyErr(section+".username", fmt.Errorf("no password for %s: put it in the environment variable %s (%s), or name a file that holds it in %s.password_file",
		username, env, setEnv(env, runtime.GOOS), section))
}

// setEnv says how to set the environment variable name for one session in
// the shells of the system mailmerge runs on.
func setEnv(name, goos string) string {
	if goos == "windows" {
		return fmt.Sprintf("in cmd: set %s=..., in PowerShell: $env:%s = \"...\"", name, name)
	}
	return fmt.Sprintf("export %s='...'", name)
}

var conventionalEnv = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// IMAPTLSConfig returns the TLS settings for the IMAP server, as
// TLSConfig does for the SMTP server.
func (c *Config) IMAPTLSConfig() (*tls.Config, error) {
	return c.tlsConfig("imap", c.IMAP.ServerName, c.IMAP.CAFile)
}

// LooseSecrets warns of password files others may read, as ssh warns of
// a key file: the password is still used.
func (c *Config) LooseSecrets() []error {
	if runtime.GOOS == "windows" {
		return nil // no such modes there
	}
	var out []error
	for _, k := range []struct{ key, path string }{{"smtp.password_file", c.SMTP.PasswordFile}, {"imap.password_file", c.IMAP.PasswordFile}} {
		if k.path == "" || k.key == "imap.password_file" && k.path == c.SMTP.PasswordFile {
			continue // none, or the same file said once
		}
		if fi, err := os.Stat(k.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, c.KeyErr(k.key, fmt.Errorf("%s can be read by other users of this machine (mode %#o): chmod 600 %s", k.path, fi.Mode().Perm(), k.path)))
		}
	}
	return out
}
