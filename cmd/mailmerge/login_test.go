package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testoauth"
)

// lockedBuffer is a command's output, read by the test while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits for re to match what the command wrote, and returns the
// first submatch.
func (b *lockedBuffer) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the command did not write %v; it wrote:\n%s", re, b.String())
	return ""
}

// TestLoginReal runs mailmerge login by both flows against a real
// authorization server (node-oidc-provider), the test playing the user,
// then logout: the tokens land in a file of the user's alone, and no
// output shows them.
func TestLoginReal(t *testing.T) {
	s := testoauth.Start(t, testoauth.Options{})
	const user = "dept@univ.example"
	dir := t.TempDir()
	config := filepath.Join(dir, "mailmerge.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`smtp:
  host: 127.0.0.1
  username: %s
  auth: oauth2
  oauth2:
    client_id: %s
    auth_url: %s
    token_url: %s
    device_url: %s
    scopes: [SMTP.Send, IMAP.AccessAsUser.All, offline_access]
`, user, s.Client(t), s.AuthURL, s.TokenURL, s.DeviceURL)), 0o600)
	configHome := filepath.Join(dir, "config")
	t.Setenv("XDG_CONFIG_HOME", configHome)
	t.Setenv("MAILMERGE_TOKEN_STORE", "file")
	// No browser is started: the test is the browser.
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	tokens := filepath.Join(configHome, "mailmerge", "tokens")

	login := func(play func(stderr *lockedBuffer), args ...string) (code int, stdout, stderr string) {
		t.Helper()
		var out, errOut lockedBuffer
		done := make(chan int, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() { done <- run(ctx, append(args, "-c", config), strings.NewReader(""), &out, &errOut) }()
		play(&errOut)
		code = <-done
		return code, out.String(), errOut.String()
	}
	var outputs []string
	check := func(t *testing.T, code int, stdout, stderr string) {
		t.Helper()
		outputs = append(outputs, stdout, stderr)
		if code != 0 || !strings.Contains(stdout, "logged in as "+user+" at 127.0.0.1:") || !strings.Contains(stdout, "scopes: SMTP.Send IMAP.AccessAsUser.All") || !strings.Contains(stdout, "the access token is good until") {
			t.Fatalf("login: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		entries, err := os.ReadDir(tokens)
		if err != nil || len(entries) != 1 {
			t.Fatalf("token folder: %v, %v", entries, err)
		}
		info, _ := entries[0].Info()
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("token file of mode %04o", info.Mode().Perm())
		}
	}

	t.Run("device", func(t *testing.T) {
		code, stdout, stderr := login(func(stderr *lockedBuffer) {
			code := stderr.waitFor(t, regexp.MustCompile(`open \S+ on any device and enter the code (\S+)\n`))
			s.ApproveDevice(t, user, code)
		}, "login", "--device")
		check(t, code, stdout, stderr)
	})

	t.Run("browser", func(t *testing.T) {
		code, stdout, stderr := login(func(stderr *lockedBuffer) {
			url := stderr.waitFor(t, regexp.MustCompile(`If it does not open, open this address:\n  (\S+)\n`))
			s.ApproveAuthCode(t, user, url)
		}, "login")
		check(t, code, stdout, stderr)
	})

	t.Run("declined", func(t *testing.T) {
		code, stdout, stderr := login(func(stderr *lockedBuffer) {
			s.DenyAuthCode(t, stderr.waitFor(t, regexp.MustCompile(`open this address:\n  (\S+)\n`)))
		}, "login")
		if code != exitAuth || !strings.Contains(stderr, "the login was declined or cancelled (access_denied)") || !strings.Contains(stderr, "hint: run mailmerge login again") || stdout != "" {
			t.Fatalf("declined login: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	// No output shows a token.
	entries, _ := os.ReadDir(tokens)
	data, err := os.ReadFile(filepath.Join(tokens, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range regexp.MustCompile(`"[ar]":"([^"]+)"`).FindAllStringSubmatch(string(data), -1) {
		for _, o := range outputs {
			if strings.Contains(o, field[1]) {
				t.Fatal("an output shows a token")
			}
		}
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"logout", "-c", config}, strings.NewReader(""), &out, &errOut); code != 0 || out.String() != "logged out: the tokens of "+user+" at "+strings.TrimPrefix(s.Issuer, "http://")+" are forgotten\n" {
		t.Fatalf("logout: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if entries, _ := os.ReadDir(tokens); len(entries) != 0 {
		t.Fatalf("after logout the token folder holds %v", entries)
	}
	out.Reset()
	if code := run(context.Background(), []string{"logout", "-c", config}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "not logged in as "+user) {
		t.Fatalf("logout again: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
