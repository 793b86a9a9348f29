package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/oauth"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testoauth"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// refreshCounter is a reverse proxy in front of the authorization
// server's token endpoint that counts the refreshes asked for.
type refreshCounter struct {
	n     atomic.Int32
	proxy *httputil.ReverseProxy
}

func (rc *refreshCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if q, err := url.ParseQuery(string(body)); err == nil && q.Get("grant_type") == "refresh_token" {
		rc.n.Add(1)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rc.proxy.ServeHTTP(w, r)
}

// expireAt is a TCP proxy in front of the SMTP server that ends the
// access token as its nth session comes in, before the session reaches
// the server: the token expires in the middle of a send, at a point the
// test sets, not at a time.
func expireAt(t *testing.T, upstream, nth int, revoke func()) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n == nth {
				revoke()
			}
			up, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", upstream))
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestOAuthReal sends 300 letters with auth: oauth2 through a real Postfix
// whose AUTH XOAUTH2 goes to a Dovecot that introspects the tokens of a
// real authorization server (node-oidc-provider). The access token
// expires in the middle of the send: the sessions refused renew it with
// one refresh between them, and every letter arrives once. A copy of each
// letter is saved in the Sent folder over IMAP, and bounces reads the
// delivery report of the one address nobody has, both with the same
// login. Once the login itself is revoked, send stops before the first
// letter and says to log in again. No token appears in any output, the
// trace or the journal.
func TestOAuthReal(t *testing.T) {
	testpostfix.Need(t)
	testdovecot.Need(t)
	as := testoauth.Start(t, testoauth.Options{})
	const user = "kafedra@example.org"
	dir := t.TempDir()
	ca := caIn(t, dir)
	introspect := &testdovecot.OAuth2{IntrospectionURL: as.IntrospectURL, ClientID: as.ResourceClientID, ClientSecret: as.ResourceSecret}
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, OAuth2: introspect, Owner: "postfix"})
	const letters = 300
	boxes := map[string]string{user: "kafedra/Maildir/"} // Dovecot's home for the user is base/%n
	var rows strings.Builder
	rows.WriteString("name,email\n")
	for i := range letters - 1 {
		addr := fmt.Sprintf("student%03d@example.com", i)
		boxes[addr] = "class/Maildir/"
		fmt.Fprintf(&rows, "Student %d,%s\n", i, addr)
	}
	rows.WriteString("Nobody,nobody.here@example.com\n") // taken, then bounced
	pf := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server, OAuth2: introspect, MailBase: v.Base, Mailboxes: boxes})

	conf, tok := as.Login(t, user)
	target, _ := url.Parse(as.TokenURL)
	counter := &refreshCounter{proxy: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		r.Out.URL.Path = target.Path
	}}}
	tokenProxy := &http.Server{Handler: counter}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tokenProxy.Serve(ln)
	t.Cleanup(func() { tokenProxy.Close() })
	tokenURL := fmt.Sprintf("http://%s%s", ln.Addr(), target.Path)

	// The login, as mailmerge login keeps it.
	configHome := filepath.Join(dir, "config")
	t.Setenv("XDG_CONFIG_HOME", configHome)
	t.Setenv("MAILMERGE_TOKEN_STORE", "file")
	store, err := oauth.NewFileStore(filepath.Join(configHome, "mailmerge", "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	client := oauth.Client{ClientID: conf.ClientID, TokenURL: tokenURL, Username: user}
	if err := store.Save(client.Account(), tok); err != nil {
		t.Fatal(err)
	}
	smtpPort := expireAt(t, pf.Port, 10, func() { as.Expire(t, tok.AccessToken) })

	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Kafedra <kafedra@example.org>\nTo: {{.name}} <{{.email}}>\nSubject: The course starts on Monday\n\nDear {{.name}},\nthe course starts on Monday.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "class.csv"), []byte(rows.String()), 0o644)
	cfg := filepath.Join(dir, "mailing.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`campaign: course
template: letter.txt
recipients:
  file: class.csv
smtp:
  host: 127.0.0.1
  port: %d
  security: starttls
  ca_file: ca.pem
  server_name: localhost
  username: %s
  auth: oauth2
  oauth2:
    client_id: %s
    auth_url: %s
    token_url: %s
    scopes: [SMTP.Send, IMAP.AccessAsUser.All, offline_access]
send:
  concurrency: 3
  messages_per_connection: 10
  dsn:
    notify: [failure]
imap:
  host: 127.0.0.1
  port: %d
  security: tls
  username: %s
  ca_file: ca.pem
  server_name: localhost
  sent_folder: Sent
  save_copies: true
`, smtpPort, user, conf.ClientID, as.AuthURL, tokenURL, v.Port, user)), 0o644)
	trace := filepath.Join(dir, "smtp.trace")
	checkSMTP := func() (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), []string{"check", "--smtp", "-c", cfg}, strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	mm := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(context.Background(), append(args, "-c", cfg), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	var said []string // every output, to look for tokens in

	// check --smtp logs in with the token and says whose it is.
	code, out := checkSMTP()
	if code != 0 || !regexp.MustCompile(`OAuth2: +logged in as kafedra@example\.org at 127\.0\.0\.1:\d+, scopes SMTP\.Send IMAP\.AccessAsUser\.All, the token good until \d{4}-\d\d-\d\d \d\d:\d\d`).MatchString(out) ||
		!strings.Contains(out, "(IMAP, TLS): logged in as kafedra@example.org in") {
		t.Fatalf("check --smtp: exit %d\n%s", code, out)
	}
	code, out = mm("send", "--yes", "--trace", trace)
	said = append(said, out)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("delivered %d, failed 0", letters)) || !strings.Contains(out, fmt.Sprintf("saved a copy of %d letters in Sent", letters)) {
		traced, _ := os.ReadFile(trace)
		t.Fatalf("send: exit %d\n%s\ntrace:\n%s", code, out, grepAuth(string(traced)))
	}
	if n := counter.n.Load(); n != 1 {
		t.Errorf("%d refreshes of the revoked token, want 1", n)
	}
	traced, _ := os.ReadFile(trace)
	if !strings.Contains(string(traced), "C: AUTH XOAUTH2 ****") || !strings.Contains(string(traced), "S: 535") {
		t.Errorf("the trace shows no refused XOAUTH2 login:\n%.2000s", traced)
	}
	// Every letter once: by Message-ID, in the class's mailbox.
	ids := map[string]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(ids) < letters-1 && time.Now().Before(deadline) {
		ids = messageIDs(t, filepath.Join(v.Base, "class", "Maildir"))
		time.Sleep(100 * time.Millisecond)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s arrived %d times", id, n)
		}
	}
	if len(ids) != letters-1 {
		t.Errorf("%d letters arrived, want %d", len(ids), letters-1)
	}
	// (doveadm knows no user of a token alone: the files tell.)
	if got := len(messageIDs(t, filepath.Join(v.Maildir("kafedra"), ".Sent"))); got != letters {
		t.Errorf("%d copies in Sent, want %d", got, letters)
	}

	// The bounce of nobody.here, read with the same login.
	for deadline := time.Now().Add(90 * time.Second); len(files(filepath.Join(v.Maildir("kafedra"), "new"))) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no bounce arrived in the sender's mailbox")
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, out = mm("bounces")
	said = append(said, out)
	if code != 0 || !strings.Contains(out, "bounced 1") || !strings.Contains(out, "nobody.here@example.com") {
		t.Fatalf("bounces: exit %d\n%s", code, out)
	}

	// The login revoked (a new password, an IT policy): a new row is not
	// sent, and send says what to do.
	current, err := store.Load(client.Account())
	if err != nil {
		t.Fatal(err)
	}
	as.Revoke(t, current.RefreshToken)
	os.WriteFile(filepath.Join(dir, "class.csv"), []byte(rows.String()+"Late,late@example.com\n"), 0o644)
	code, out = mm("send", "--yes")
	said = append(said, out)
	if code != exitAuth || !strings.Contains(out, "your login has expired or was revoked; run mailmerge login") {
		t.Errorf("send after the login was revoked: exit %d\n%s", code, out)
	}
	journal.Read(filepath.Join(dir, "course.journal"), func(r journal.Record) error {
		if slices.Contains(r.Rcpt, "late@example.com") {
			t.Errorf("the letter of the new row was tried with a revoked login: %s", r.State)
		}
		return nil
	})

	// No token anywhere.
	j, _ := os.ReadFile(filepath.Join(dir, "course.journal"))
	said = append(said, string(traced), string(j))
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, current.AccessToken, current.RefreshToken} {
		for _, s := range said {
			if strings.Contains(s, secret) {
				t.Fatalf("a token (%s) appears in the output, the trace or the journal", testoauth.Redact(secret))
			}
		}
	}
	var delivered int
	journal.Read(filepath.Join(dir, "course.journal"), func(r journal.Record) error {
		if r.State == journal.Delivered {
			delivered++
		}
		return nil
	})
	if delivered != letters {
		t.Errorf("the journal has %d deliveries, want %d", delivered, letters)
	}
}

// messageIDs counts the Message-IDs of the letters in a Maildir.
func messageIDs(t *testing.T, maildir string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, sub := range []string{"new", "cur"} {
		entries, _ := os.ReadDir(filepath.Join(maildir, sub))
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(maildir, sub, e.Name()))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
					ids[strings.TrimSpace(v)]++
					break
				}
			}
		}
	}
	return ids
}

// grepAuth is what a trace says of logins and refusals.
func grepAuth(trace string) string {
	var b strings.Builder
	for _, l := range strings.Split(trace, "\n") {
		if strings.Contains(l, "AUTH") || strings.Contains(l, " 535") || strings.Contains(l, " 235") || strings.Contains(l, "connect") || strings.Contains(l, "QUIT") || strings.Contains(l, " 4") && strings.Contains(l, "S: ") || strings.Contains(l, " 5") && strings.Contains(l, "S: ") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// files lists the files of a folder.
func files(dir string) []os.DirEntry {
	entries, _ := os.ReadDir(dir)
	return entries
}
