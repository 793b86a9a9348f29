package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// load reads yaml as a config file of its own, as a command would.
func load(t *testing.T, yaml string) (*Config, []string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte("template: letter.txt\nrecipients:\n  file: people.csv\n"+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, pflag.NewFlagSet("test", pflag.ContinueOnError), nil, func(string) bool { return false })
}

// TestProviderFills: a provider fills the keys the file leaves out, with
// its servers, its login and its published limits; what the file sets
// stays.
func TestProviderFills(t *testing.T) {
	c, warnings, err := load(t, `smtp:
  provider: microsoft365
  username: dept@univ.example
  oauth2:
    client_id: 11111111-2222-3333-4444-555555555555
    tenant: univ.example
imap:
  username: dept@univ.example
`)
	if err != nil {
		t.Fatal(err)
	}
	s, o := c.SMTP, c.SMTP.OAuth2
	if s.Host != "smtp.office365.com" || s.Port != 587 || s.Security != smtp.StartTLS || s.Auth != OAuth || c.IMAP.Auth != OAuth {
		t.Errorf("smtp: %+v, imap auth %q", s, c.IMAP.Auth)
	}
	if c.IMAP.Host != "outlook.office365.com" || c.IMAP.Port != 993 {
		t.Errorf("imap: %s:%d", c.IMAP.Host, c.IMAP.Port)
	}
	if o.TokenURL != "https://login.microsoftonline.com/univ.example/oauth2/v2.0/token" || o.DeviceURL != "https://login.microsoftonline.com/univ.example/oauth2/v2.0/devicecode" {
		t.Errorf("endpoints: %+v", o)
	}
	if want := []string{"https://outlook.office.com/SMTP.Send", "https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"}; !slices.Equal(o.Scopes, want) {
		t.Errorf("scopes %q, want %q", o.Scopes, want)
	}
	if c.Send.Concurrency != 3 || c.Send.DailyLimit != (Quota{N: 10_000, Per: Day}) || c.Send.DailyLimitCounts != CountRecipients || c.Send.Rate != (Rate{N: 30, Per: time.Minute}) {
		t.Errorf("limits: concurrency %d, daily %v, rate %v", c.Send.Concurrency, c.Send.DailyLimit, c.Send.Rate)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}

	// Without an imap section: only the SMTP scope, and the tenant of
	// most universities.
	c, _, err = load(t, "smtp:\n  provider: microsoft365\n  username: a@b.example\n  oauth2:\n    client_id: x\n")
	if err != nil || !slices.Equal(c.SMTP.OAuth2.Scopes, []string{"https://outlook.office.com/SMTP.Send", "offline_access"}) ||
		!strings.Contains(c.SMTP.OAuth2.AuthURL, "/organizations/") || c.IMAP.Host != "" {
		t.Errorf("no imap: %+v, %v", c.SMTP.OAuth2, err)
	}

	// The user lowers a limit, and chooses a password: both stay.
	c, warnings, err = load(t, "smtp:\n  provider: yandex\n  username: a@yandex.ru\nsend:\n  daily_limit: 200\n  concurrency: 2\n")
	if err != nil || c.SMTP.Port != 465 || c.SMTP.Security != smtp.TLS || c.SMTP.Auth != Password || c.Send.DailyLimit != (Quota{N: 200, Per: Day}) || c.Send.DailyLimitCounts != CountRecipients || c.Send.Concurrency != 2 || len(warnings) > 0 {
		t.Errorf("yandex, lowered: %+v %+v %q %v", c.SMTP, c.Send, warnings, err)
	}
}

// TestProviderWarnings: settings past a provider's published limits are
// said, each at its key.
func TestProviderWarnings(t *testing.T) {
	_, warnings, err := load(t, "smtp:\n  provider: microsoft365\n  username: a@b.example\n  oauth2:\n    client_id: x\nsend:\n  concurrency: 8\n  rate: 60/min\n  daily_limit: 20000\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"send.concurrency: Microsoft 365 lets a mailbox hold 3 sessions", "send.rate: Microsoft 365 lets a mailbox send 30/min", "send.daily_limit: Microsoft 365 lets a mailbox send 10000 a day"} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning %q in %q", want, warnings)
		}
	}
}

// TestLoginErrors: an OAuth2 login that cannot work is an error at its
// key, before anything is sent.
func TestLoginErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"smtp:\n  provider: hotmail\n", "smtp.provider: unknown provider \"hotmail\": want one of gmail, google, mailru, microsoft365, yandex"},
		{"smtp:\n  provider: google\n  username: a@b.example\n", "smtp.oauth2.client_id: auth: oauth2 needs the client id"},
		{"smtp:\n  provider: google\n  oauth2:\n    client_id: x\n", "smtp.username: auth: oauth2 logs in as a user"},
		{"smtp:\n  host: mail.example\n  auth: oauth2\n  username: a@b.example\n  oauth2:\n    client_id: x\n", "smtp.oauth2: auth: oauth2 needs auth_url and token_url"},
		{"smtp:\n  host: mail.example\n  auth: oauth2\n  username: a@b.example\n  oauth2:\n    client_id: x\n    auth_url: http://idp.example/a\n    token_url: https://idp.example/t\n    scopes: [mail]\n", "smtp.oauth2.auth_url: want an https:// URL"},
		{"smtp:\n  host: mail.example\n  auth: token\n", "smtp.auth: want password or oauth2"},
	} {
		_, _, err := load(t, tt.yaml)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
	// A test server on this machine may speak plain http.
	if _, _, err := load(t, "smtp:\n  host: 127.0.0.1\n  security: none\n  auth: oauth2\n  username: a@b.example\n  oauth2:\n    client_id: x\n    auth_url: http://127.0.0.1:4444/oauth2/auth\n    token_url: http://127.0.0.1:4444/oauth2/token\n    scopes: [mail]\n"); err != nil && strings.Contains(err.Error(), "oauth2") {
		t.Errorf("loopback endpoints: %v", err)
	}
}
