package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfig loads any config file (with check, which reads every key and
// file it names): whatever the file says, the passwords in the
// environment appear in no output.
func FuzzConfig(f *testing.F) {
	const smtpPW, imapPW = "Zq9-smtp-secret-Pw", "Xk7-imap-secret-Pw"
	for _, s := range []string{
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  username: me\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: smtp.example.com:25\n  password_env: MAILMERGE_SMTP_PASSWORD\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  password: x\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nimap:\n  host: imap.example.com\n  username: me\n  password_env: MAILMERGE_IMAP_PASSWORD\n",
		"template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  username: me\n  password_env: MAILMERGE_IMAP_PASSWORD\n  password_file: people.csv\n",
		"smtp: [\n", "\t- x", "send:\n  rate: fast\n  max_letter_size: lots\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: a@example.com\nTo: {{.email}}\n\nHello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("email\nann@example.com\n"), 0o644)
	for k, v := range map[string]string{"MAILMERGE_SMTP_PASSWORD": smtpPW, "MAILMERGE_IMAP_PASSWORD": imapPW} {
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
	cfg := filepath.Join(dir, "mailing.yaml")
	f.Fuzz(func(t *testing.T, yaml string) {
		if strings.Contains(yaml, "secret") {
			return // a password typed into the file is the file's to show
		}
		os.WriteFile(cfg, []byte(yaml), 0o600)
		var out bytes.Buffer
		run(context.Background(), []string{"check", "-c", cfg}, strings.NewReader(""), &out, &out)
		if s := out.String(); strings.Contains(s, smtpPW) || strings.Contains(s, imapPW) {
			t.Fatalf("a password in the output of check with\n%s\n---\n%s", yaml, s)
		}
	})
}
