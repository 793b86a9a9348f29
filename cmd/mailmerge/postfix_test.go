package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// TestPostfixCheckSMTP runs check --smtp against a real Postfix with
// STARTTLS and AUTH: the exit code for a wrong password, and the hint
// for a wrong security mode, found in seconds.
func TestPostfixCheckSMTP(t *testing.T) {
	testpostfix.Need(t)
	dir := t.TempDir()
	ca := caIn(t, dir)
	pf := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server, TLSPort: true, Users: map[string]string{"me": "s3cret-pw"}})
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.email}}\n\nHello\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("email\nann@example.com\n"), 0o644)
	config := func(port int, security string) string {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", security, port))
		os.WriteFile(path, []byte(fmt.Sprintf("template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  port: %d\n  security: %s\n  username: me\n  ca_file: ca.pem\n  server_name: localhost\n", port, security)), 0o644)
		return path
	}
	check := func(cfg string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(context.Background(), []string{"check", "--smtp", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
		t.Logf("exit %d in %v", code, time.Since(start).Round(time.Millisecond))
		return code, stdout.String(), stderr.String()
	}

	t.Setenv("MAILMERGE_SMTP_PASSWORD", "s3cret-pw")
	for _, tt := range []struct {
		port     int
		security string
	}{{pf.Port, "starttls"}, {pf.TLSPort, "tls"}} {
		code, out, errOut := check(config(tt.port, tt.security))
		if code != 0 || !strings.Contains(out, "connected and logged in as me") || !strings.Contains(out, "size limit: 10.2 MB") || !strings.Contains(out, "AUTH PLAIN LOGIN offered") {
			t.Errorf("%s: exit %d\n%s%s", tt.security, code, out, errOut)
		}
	}

	t.Setenv("MAILMERGE_SMTP_PASSWORD", "not-it")
	if code, _, errOut := check(config(pf.Port, "starttls")); code != exitAuth || !strings.HasPrefix(errOut, "mailmerge: the server refused the username or the password") || strings.Contains(errOut, "not-it") {
		t.Errorf("wrong password: exit %d\n%s", code, errOut)
	}

	t.Setenv("MAILMERGE_SMTP_PASSWORD", "s3cret-pw")
	if code, _, errOut := check(config(pf.TLSPort, "starttls")); code != exitUnavailable || !strings.Contains(errOut, "speaks TLS from the first byte and waited for it: set smtp.security: tls") {
		t.Errorf("starttls to the TLS port: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := check(config(pf.Port, "tls")); code != exitUnavailable || !strings.Contains(errOut, "speaks plain SMTP first, not TLS: set smtp.security: starttls") {
		t.Errorf("tls to the STARTTLS port: exit %d\n%s", code, errOut)
	}
}
