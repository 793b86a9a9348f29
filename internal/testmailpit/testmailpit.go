// Package testmailpit runs a throwaway Mailpit (github.com/axllent/mailpit)
// on loopback for tests that want a second real SMTP server, with
// STARTTLS and AUTH, whose HTTP API gives back each message as it
// arrived, decoded by another program than ours. .ci/run installs it
// (go install github.com/axllent/mailpit@v1.33.1).
package testmailpit

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testenv"
)

// Need returns the path of the mailpit program, or skips t where it is
// not installed (see testenv.Missing).
func Need(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(string(bytes.TrimSpace(out)), "bin", "mailpit")
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "mailpit", "go install github.com/axllent/mailpit@v1.33.1")
	}
	return p
}

// Mailpit is a running instance.
type Mailpit struct {
	SMTPPort int
	api      string
}

// Start runs Mailpit with STARTTLS required and AUTH for users, until the
// test ends.
func Start(t testing.TB, serverTLS *tls.Config, users map[string]string) *Mailpit {
	t.Helper()
	bin := Need(t)
	d := t.TempDir()
	testca.WriteServerFiles(t, d, serverTLS)
	var passwd bytes.Buffer
	for u, pw := range users {
		sum := sha1.Sum([]byte(pw))
		fmt.Fprintf(&passwd, "%s:{SHA}%s\n", u, base64.StdEncoding.EncodeToString(sum[:]))
	}
	os.WriteFile(filepath.Join(d, "passwd"), passwd.Bytes(), 0o600)
	m := &Mailpit{SMTPPort: testca.FreePort(t)}
	httpPort := testca.FreePort(t)
	m.api = fmt.Sprintf("http://127.0.0.1:%d/api/v1", httpPort)
	cmd := exec.Command(bin,
		"--smtp", fmt.Sprintf("127.0.0.1:%d", m.SMTPPort), "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--database", filepath.Join(d, "mailpit.db"), "--max", "0",
		"--smtp-tls-cert", filepath.Join(d, "cert.pem"), "--smtp-tls-key", filepath.Join(d, "key.pem"),
		"--smtp-require-starttls", "--smtp-auth-file", filepath.Join(d, "passwd"),
		"--smtp-disable-rdns", "--disable-version-check", "--quiet")
	log, _ := os.Create(filepath.Join(d, "log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(m.api + "/info"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("mailpit did not start:\n%s", out)
		}
	}
}

// Get decodes the JSON of an API path ("/messages?limit=500") into v.
func (m *Mailpit) Get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// Address is an address as Mailpit's API gives it.
type Address struct{ Name, Address string }

// Message is a message as Mailpit's API gives it, decoded by Mailpit.
type Message struct {
	ID, MessageID, Subject, Text, HTML, Username string
	From                                         *Address
	To                                           []*Address
	Attachments                                  []struct {
		FileName, ContentType string
		Checksums             struct{ SHA256 string }
	}
}

// Messages lists every message Mailpit holds, fetched one by one.
func (m *Mailpit) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	m.Get(t, "/messages?limit=100000", &list)
	var out []Message
	for _, s := range list.Messages {
		var msg Message
		m.Get(t, "/message/"+s.ID, &msg)
		out = append(out, msg)
	}
	return out
}
