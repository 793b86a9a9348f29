package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/oauth"
)

// FuzzConfig loads any config file (with check, which reads every key and
// file it names): whatever the file says, the passwords in the
// environment and the tokens of mailmerge login appear in no output.
func FuzzConfig(f *testing.F) {
	const smtpPW, imapPW = "Zq9-smtp-secret-Pw", "Xk7-imap-secret-Pw"
	const accessToken, refreshToken = "eyJ-access-secret-Tk", "rt-refresh-secret-Tk"
	for _, s := range []string{
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  username: me\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: smtp.example.com:25\n  password_env: MAILMERGE_SMTP_PASSWORD\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  password: x\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nimap:\n  host: imap.example.com\n  username: me\n  password_env: MAILMERGE_IMAP_PASSWORD\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  username: me\n  password_env: MAILMERGE_IMAP_PASSWORD\n  password_file: people.csv\n",
		"smtp: [\n", "\t- x", "send:\n  rate: fast\n  max_letter_size: lots\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  username: me@example.com\n  auth: oauth2\n  oauth2:\n    client_id: x\n    auth_url: http://127.0.0.1:9/auth\n    token_url: http://127.0.0.1:9/token\n    scopes: [mail]\nimap:\n  host: 127.0.0.1\n  username: me@example.com\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  provider: microsoft365\n  username: me@example.com\n  oauth2:\n    client_id: x\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  provider: gmail\n  auth: password\n  username: me@gmail.com\n  password_env: MAILMERGE_SMTP_PASSWORD\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: a@example.com\nTo: {{.email}}\n\nHello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("email\nann@example.com\n"), 0o644)
	setenv(f, map[string]string{"MAILMERGE_SMTP_PASSWORD": smtpPW, "MAILMERGE_IMAP_PASSWORD": imapPW})
	// A login kept as mailmerge login keeps it, for the first oauth2 seed.
	configHome := filepath.Join(dir, "config")
	setenv(f, map[string]string{"XDG_CONFIG_HOME": configHome, "MAILMERGE_TOKEN_STORE": "file"})
	store, err := oauth.NewFileStore(filepath.Join(configHome, "mailmerge", "tokens"))
	if err != nil {
		f.Fatal(err)
	}
	account := oauth.Client{ClientID: "x", TokenURL: "http://127.0.0.1:9/token", Username: "me@example.com"}.Account()
	if err := store.Save(account, &oauth2.Token{AccessToken: accessToken, RefreshToken: refreshToken}); err != nil {
		f.Fatal(err)
	}
	cfg := filepath.Join(dir, "mailing.yaml")
	f.Fuzz(func(t *testing.T, yaml string) {
		if strings.Contains(yaml, "secret") {
			return // a password typed into the file is the file's to show
		}
		os.WriteFile(cfg, []byte(yaml), 0o600)
		var out bytes.Buffer
		run(context.Background(), []string{"check", "-c", cfg}, strings.NewReader(""), &out, &out)
		if s := out.String(); strings.Contains(s, smtpPW) || strings.Contains(s, imapPW) || strings.Contains(s, accessToken) || strings.Contains(s, refreshToken) {
			t.Fatalf("a password or a token in the output of check with\n%s\n---\n%s", yaml, s)
		}
	})
}

// setenv sets vars for the fuzz target, as t.Setenv does for a test
// (which a fuzz target cannot call), and puts them back after.
func setenv(f *testing.F, vars map[string]string) {
	for k, v := range vars {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		f.Cleanup(func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		})
	}
}
