package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// JournalInDB reports whether send.journal names a PostgreSQL database
// (postgres://user@host:5432/db?sslmode=verify-full) rather than a file.
func (s Send) JournalInDB() bool {
	j := strings.ToLower(s.Journal)
	return strings.HasPrefix(j, "postgres://") || strings.HasPrefix(j, "postgresql://")
}

// ValidateJournal checks send.journal alone, as Validate does: for a
// journal named elsewhere than the config (journal export, import).
func (c *Config) ValidateJournal() error { return errors.Join(c.validateJournal()...) }

// validateJournal checks a journal in PostgreSQL: its URL names a
// database and holds no password, which is no config's to hold.
func (c *Config) validateJournal() []error {
	if c.Send.JournalInDB() && c.Send.Lease != 0 && c.Send.Lease < time.Second {
		return []error{c.KeyErr("send.lease", fmt.Errorf("must be a second or more, got %v", c.Send.Lease))}
	}
	if !c.Send.JournalInDB() {
		if c.Send.JournalPasswordEnv != "" {
			return []error{c.KeyErr("send.journal_password_env", errors.New("is for a journal in PostgreSQL (send.journal: postgres://...), and send.journal names a file"))}
		}
		return nil
	}
	u, err := url.Parse(c.Send.Journal)
	switch {
	case err != nil:
		// Not the URL itself: it may hold a password.
		return []error{c.KeyErr("send.journal", errors.New("is not a valid PostgreSQL URL: want postgres://user@host:5432/database?sslmode=verify-full"))}
	case hasPassword(u):
		return []error{c.KeyErr("send.journal", errors.New("has a password in it, and a config is no place for one: remove it from the URL and give it in the environment variable PGPASSWORD, in ~/.pgpass, or in a variable send.journal_password_env names"))}
	case strings.Trim(u.Path, "/") == "":
		return []error{c.KeyErr("send.journal", errors.New("names no database: want postgres://user@host:5432/database"))}
	case u.Query().Has("password"):
		return []error{c.KeyErr("send.journal", errors.New("has a password in it (password=), and a config is no place for one: give it in PGPASSWORD, ~/.pgpass or send.journal_password_env"))}
	}
	return nil
}

func hasPassword(u *url.URL) bool {
	_, ok := u.User.Password()
	return ok
}

// secretEnv is the set of environment variables the config names for
// its passwords: password_env of smtp, imap and each account, and
// send.journal_password_env.
func (c *Config) secretEnv() map[string]bool {
	m := map[string]bool{c.SMTP.PasswordEnv: true, c.IMAP.PasswordEnv: true, c.Send.JournalPasswordEnv: true}
	for _, a := range c.Accounts {
		m[a.PasswordEnv] = true
	}
	delete(m, "")
	return m
}
