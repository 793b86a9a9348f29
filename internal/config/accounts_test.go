package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/smtp"
)

// TestAccountsFill: each account of accounts: takes its provider's
// settings, then the defaults of smtp: and the limits of send:, and a
// password variable named after it; Senders lists them, and the config
// of one (ForAccount) has its server in smtp: and its limits in send:.
func TestAccountsFill(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "relay.pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := load(t, `send:
  rate: 10/min
  concurrency: 2
accounts:
  - name: yandex
    provider: yandex
    username: kafedra@yandex.ru
  - name: relay-2
    host: smtp.university.example
    port: 465
    username: kafedra
    password_file: `+pw+`
    daily_limit: 5000/24h
    concurrency: 6
    weight: 3
`)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Senders()
	if len(got) != 2 {
		t.Fatalf("Senders: %d accounts", len(got))
	}
	y, r := got[0], got[1]
	if y.Host != "smtp.yandex.ru" || y.Port != 465 || y.Security != smtp.TLS || y.PasswordEnv != "MAILMERGE_YANDEX_PASSWORD" ||
		y.DailyLimit != (Quota{N: 500, Per: Day}) || !y.CountsRecipients() || y.Rate != (Rate{N: 10, Per: time.Minute}) || y.Concurrency != 2 || y.Weight != 1 {
		t.Errorf("yandex: %+v", y)
	}
	if r.Security != smtp.TLS || r.PasswordEnv != "" || r.DataTimeout != 10*time.Minute || r.DailyLimit != (Quota{N: 5000, Per: 24 * time.Hour}) ||
		r.CountsRecipients() || r.Concurrency != 6 || r.Weight != 3 {
		t.Errorf("relay-2: %+v", r)
	}
	ac := c.ForAccount(r)
	if ac.SMTP.Host != "smtp.university.example" || ac.Send.Concurrency != 6 || ac.Send.DailyLimit.N != 5000 {
		t.Errorf("ForAccount: smtp %+v, send %+v", ac.SMTP, ac.Send)
	}
	if ke := ac.KeyErr("smtp.username", os.ErrInvalid); ke.Key != "accounts.relay-2.username" || !strings.HasSuffix(ke.Source, ":14") {
		t.Errorf("KeyErr: %s at %s; want accounts.relay-2.username at line 14", ke.Key, ke.Source)
	}
}

// TestAccountsErrors: every problem of accounts: names the account's key
// and its line.
func TestAccountsErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"smtp:\n  host: a.example\naccounts:\n  - name: b\n    host: b.example\n", "m.yaml:5: smtp.host: set either smtp: or accounts:"},
		{"accounts:\n  - name: b\n    host: b.example\n  - name: B\n    host: c.example\n", `m.yaml:7: accounts.B.name: two accounts are named "B"`},
		{"accounts:\n  - name: 1st\n    host: b.example\n", `m.yaml:5: accounts.1st.name: want a name`},
		{"accounts:\n  - host: b.example\n", `m.yaml:5: accounts.0.name: required`},
		{"accounts:\n  - name: b\n    port: 25\n", "m.yaml:5: accounts.b.host: required"},
		{"accounts:\n  - name: b\n    host: b.example\n    port: 99999\n", "m.yaml:7: accounts.b.port: must be between 1 and 65535"},
		{"accounts:\n  - name: b\n    host: b.example\n    port: many\n", "m.yaml:7: accounts.0.port: want a whole number"},
		{"accounts:\n  - name: b\n    host: b.example\n    weight: 0\n    concurrency: 500\n", "m.yaml:8: accounts.b.concurrency: must be between 1 and 100"},
		{"accounts:\n  - name: b\n    host: b.example\n    security: none\n", "m.yaml:7: accounts.b.security: none sends mail"},
		{"accounts:\n  - name: b\n    provider: microsoft365\n    username: x@y.example\n", "accounts.b.oauth2.client_id: auth: oauth2 needs the client id"},
		{"accounts:\n  - name: b\n    host: b.example\n    pasword: x\n", "accounts.0.pasword"},
	}
	for _, tt := range tests {
		_, _, err := load(t, tt.yaml)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\nerr = %v\nwant %q", tt.yaml, err, tt.want)
		}
	}
}

// TestAccountsWarnings: an account set past its provider's published
// limits is warned of by its own key.
func TestAccountsWarnings(t *testing.T) {
	_, warnings, err := load(t, "accounts:\n  - name: ya\n    provider: yandex\n    username: k@yandex.ru\n    daily_limit: 900\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "accounts.ya.daily_limit: Yandex Mail lets a mailbox send 500 a day") {
		t.Errorf("warnings: %q", warnings)
	}
}
