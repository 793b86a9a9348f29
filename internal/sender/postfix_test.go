package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
	"github.com/mailmerge/mailmerge/internal/testca"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// The tests in this file run a real Postfix (and its smtp-sink) from the
// Debian package; see testpostfix.

// TestPostfixSTARTTLS sends a few hundred letters through Postfix with
// STARTTLS and checks that each arrives once, over TLS: once with BDAT
// (Postfix offers CHUNKING), once with DATA pipelined after the RCPTs.
func TestPostfixSTARTTLS(t *testing.T) {
	testpostfix.Need(t)
	serverTLS, pool := testCA(t)
	pf := testpostfix.Start(t, testpostfix.Options{TLS: serverTLS})
	port, inbox := pf.Port, pf.Inbox

	const n = 150
	for _, tt := range []struct {
		name       string
		noChunking bool
		command    string // what carries the body, in the trace
	}{
		{"BDAT", false, "C: BDAT "},
		{"DATA", true, "C: DATA"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := smtpTransport(port)
			tr.Security = smtp.StartTLS
			tr.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
			tr.Timeout = 30 * time.Second
			tr.DataTimeout = 10 * time.Minute
			tr.NoChunking = tt.noChunking
			var trace bytes.Buffer
			tr.Trace = NewTrace(&lockedBuffer{b: &trace})
			ls := letters(n)
			st, last, err := runPool(t, tr, ls, func(p *Pool) { p.Concurrency = 4; p.PerSession = 20 })
			if err != nil || st.Delivered != n || countStates(last)[journal.Delivered] != n {
				t.Fatalf("%v: %s", err, summary(st))
			}
			if r := last["key0"]; !strings.Contains(r.Text, "queued as") {
				t.Errorf("the reply has no queue id: %q", r.Text)
			}
			if got := strings.Count(trace.String(), tt.command); got != n {
				t.Errorf("the trace has %q %d times, want %d", tt.command, got, n)
			}
			// Sessions that reach 20 letters end with QUIT in the last
			// letter's flight, and Postfix takes that letter.
			if pipelined, _ := quits(trace.String()); pipelined < n/(4*20) {
				t.Errorf("%d QUITs went with a letter, want at least %d", pipelined, n/(4*20))
			}
			// With DATA, a letter's end carries the next one's envelope.
			if early, _ := envelopes(trace.String()); tt.noChunking && early == 0 || !tt.noChunking && early != 0 {
				t.Errorf("%d envelopes went with the end of the letter before", early)
			}
			checkArrived(t, inbox, ls)
		})
	}
}

// checkArrived waits for Postfix's virtual agent to deliver ls, then
// checks each arrived once, over TLS, with its dot lines intact. It
// removes the files it read, so that the next send is counted alone.
func checkArrived(t *testing.T, inbox string, ls []*testLetter) {
	t.Helper()
	want := map[string]bool{}
	for _, l := range ls {
		want[l.MessageID] = true
	}
	ids := map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		files, _ := os.ReadDir(filepath.Join(inbox, "new"))
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(inbox, "new", f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(inbox, "new", f.Name()))
			m := regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)$`).FindSubmatch(data)
			if m == nil || !want[string(m[1])] {
				t.Errorf("%s: not a letter of this send", f.Name())
				continue
			}
			ids[string(m[1])]++
			if !bytes.Contains(data, []byte("using TLSv1.3")) {
				t.Errorf("%s: no TLS in the Received header", f.Name())
			}
			if !bytes.Contains(data, []byte("\n.\n.leading dot\n")) {
				t.Errorf("%s: the dot lines did not survive", f.Name())
			}
		}
		if len(ids) >= len(ls) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, l := range ls {
		if ids[l.MessageID] != 1 {
			t.Errorf("%s arrived %d times", l.MessageID, ids[l.MessageID])
		}
	}
}

// TestSMTPSink sends a larger volume to Postfix's smtp-sink.
func TestSMTPSink(t *testing.T) {
	testpostfix.Need(t)
	port := testca.FreePort(t)
	nonce := fmt.Sprintf("sink%d", time.Now().UnixNano()%1e9)
	args := []string{"-h", nonce, fmt.Sprintf("127.0.0.1:%d", port), "256"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postfix"}, args...) // it will not run as root
	}
	sink := exec.Command("smtp-sink", args...)
	var stderr bytes.Buffer
	sink.Stderr = &stderr
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { sink.Wait(); close(exited) }()
	t.Cleanup(func() { sink.Process.Kill(); <-exited })
	select {
	case <-exited:
		t.Fatalf("smtp-sink exited: %s", stderr.String())
	case <-time.After(200 * time.Millisecond):
	}
	testpostfix.WaitBanner(t, port, nonce)
	const n = 2000
	st, last, err := runPool(t, smtpTransport(port), letters(n), func(p *Pool) { p.Concurrency = 4 })
	if err != nil || st.Delivered != n || countStates(last)[journal.Delivered] != n {
		t.Fatalf("%v: %s", err, summary(st))
	}
}

// TestPostfixCheck: Check against a real Postfix with STARTTLS and AUTH
// (Dovecot's), and the hints for the usual mistakes, each found in
// seconds.
func TestPostfixCheck(t *testing.T) {
	testpostfix.Need(t)
	serverTLS, pool := testCA(t)
	pf := testpostfix.Start(t, testpostfix.Options{TLS: serverTLS, TLSPort: true, Users: map[string]string{"me": "s3cret-pw"}})
	transport := func(port int, security smtp.Security, pass string) *SMTP {
		tr := smtpTransport(port)
		tr.Security, tr.Username, tr.Password = security, "me", pass
		tr.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
		tr.Timeout = 30 * time.Second
		return tr
	}
	for _, tt := range []struct {
		name     string
		tr       *SMTP
		kind     RunErrorKind
		hint     string
		maxSize  bool
		tlsFirst bool
	}{
		{name: "STARTTLS and AUTH", tr: transport(pf.Port, smtp.StartTLS, "s3cret-pw"), maxSize: true},
		{name: "TLS port and AUTH", tr: transport(pf.TLSPort, smtp.TLS, "s3cret-pw"), maxSize: true},
		{name: "wrong password", tr: transport(pf.Port, smtp.StartTLS, "wrong"), kind: ErrAuth, hint: "refused the username or the password"},
		{name: "starttls to the TLS port", tr: transport(pf.TLSPort, smtp.StartTLS, "s3cret-pw"), kind: ErrUnavailable, hint: "speaks TLS from the first byte and waited for it: set smtp.security: tls"},
		{name: "tls to the STARTTLS port", tr: transport(pf.Port, smtp.TLS, "s3cret-pw"), kind: ErrTLS, hint: "speaks plain SMTP first, not TLS: set smtp.security: starttls"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			info, err := tt.tr.Check(context.Background())
			t.Logf("answered in %v", time.Since(start).Round(time.Millisecond))
			var re *RunError
			switch {
			case tt.kind == 0 && err != nil:
				t.Fatalf("err = %v, hint %q", err, hintOf(err))
			case tt.kind != 0 && (!errors.As(err, &re) || re.Kind != tt.kind || !strings.Contains(re.Hint, tt.hint)):
				t.Fatalf("err = %v, hint %q; want kind %d, hint %q", err, hintOf(err), tt.kind, tt.hint)
			case tt.kind != 0:
				return
			}
			if info.User != "me" || info.TLS == nil || info.MaxSize != 10240000 || !strings.Contains(info.Greeting, "mx.mailmerge.test") ||
				!slices.Contains(info.Auth, "PLAIN") || !slices.Contains(info.Extensions, "CHUNKING") {
				t.Errorf("info %+v", info)
			}
		})
	}
}
