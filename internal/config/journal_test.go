package config

import (
	"strings"
	"testing"
)

// TestJournalURL: a PostgreSQL URL is kept as it is (not made a path), and
// one with a password in it is refused without repeating it.
func TestJournalURL(t *testing.T) {
	for _, tt := range []struct {
		journal, env, want string // want: "" for valid, else a part of the error
	}{
		{"postgres://mm@db.example.org:5432/mail?sslmode=verify-full", "", ""},
		{"postgresql://mm@db.example.org/mail", "MM_DB_PW", ""},
		{"postgres://mm:hunter2@db.example.org/mail", "", "has a password in it"},
		{"postgres://mm@db.example.org/mail?password=hunter2", "", "has a password in it"},
		{"postgres://mm@db.example.org", "", "names no database"},
		{"/srv/mail/c.journal", "MM_DB_PW", "send.journal_password_env"},
		{"/srv/mail/c.journal", "", ""},
	} {
		c := &Config{Send: Send{Journal: tt.journal, JournalPasswordEnv: tt.env}}
		err := c.ValidateJournal()
		switch {
		case tt.want == "" && err != nil, tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.journal, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: the error repeats the password: %v", tt.journal, err)
		}
	}
}

// TestJournalURLResolved: Resolve makes a journal's path absolute, and
// leaves a URL as it is.
func TestJournalURLResolved(t *testing.T) {
	url := "postgres://mm@db.example.org:5432/mail?sslmode=verify-full"
	c := &Config{Campaign: "c", Send: Send{Journal: url}}
	c.Resolve()
	if c.Send.Journal != url {
		t.Errorf("journal %q after Resolve, want %q", c.Send.Journal, url)
	}
}
