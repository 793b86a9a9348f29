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

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// TestRealBounce sends through a real Postfix that takes a letter for an
// address that does not exist and then bounces it: the delivery report
// Postfix writes lands in the sender's mailbox in a real Dovecot, and
// mailmerge bounces reads it over IMAP, matches it to the row and records
// it. report, --failed-csv and send then treat the row as bounced;
// reading again records nothing twice; --move-to moves the report.
func TestRealBounce(t *testing.T) {
	testpostfix.Need(t)
	testdovecot.Need(t)
	dir := t.TempDir()
	ca := caIn(t, dir)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}, Owner: "postfix"})
	pf := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server, MailBase: v.Base, Mailboxes: map[string]string{
		"kafedra@example.org": "kafedra/Maildir/",
		"ann@example.com":     "ann/Maildir/",
		"bob@example.com":     "bob/Maildir/",
	}})
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Kafedra <kafedra@example.org>\nTo: {{.name}} <{{.email}}>\nSubject: The course starts on Monday\n\nDear {{.name}},\nthe course starts on Monday.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "class.csv"), []byte("name,email\nAnn,ann@example.com\nNobody,nobody.here@example.com\nBob,bob@example.com\n"), 0o644)
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
send:
  dsn:
    notify: [failure, delay]
    ret: headers
imap:
  host: 127.0.0.1
  port: %d
  security: tls
  username: kafedra
  ca_file: ca.pem
  server_name: localhost
`, pf.Port, v.Port)), 0o644)
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	mm := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(context.Background(), append(args, "-c", cfg), strings.NewReader(""), &out, &out)
		return code, out.String()
	}

	if code, out := mm("send", "--yes"); code != 0 || !strings.Contains(out, "delivered 3, failed 0") {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	// Postfix took all three, and bounces the one it has no mailbox for.
	deadline := time.Now().Add(90 * time.Second)
	for len(v.Search(t, "kafedra", "INBOX", "ALL")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no bounce arrived in the sender's mailbox")
		}
		time.Sleep(200 * time.Millisecond)
	}

	code, out := mm("bounces")
	if code != 0 || !strings.Contains(out, "class.csv:3: bounced nobody.here@example.com: the recipient's mail server sent it back: the address does not exist (no such mailbox) (5.1.1 ") ||
		!strings.Contains(out, "bounced 1, delayed 0 recorded; 0 reports recorded before; 0 not matched") {
		t.Fatalf("bounces: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "imap-pw") {
		t.Errorf("the password is in the output:\n%s", out)
	}
	// The report Postfix wrote carries the letter's identity (ENVID) and
	// the address as sent (ORCPT), which the letter was sent with.
	reports, _ := filepath.Glob(filepath.Join(v.Maildir("kafedra"), "*", "*"))
	var bounceText []byte
	for _, f := range reports {
		if b, err := os.ReadFile(f); err == nil {
			bounceText = append(bounceText, b...)
		}
	}
	if !bytes.Contains(bounceText, []byte("Original-Envelope-Id: ")) || !bytes.Contains(bounceText, []byte("Original-Recipient: rfc822;nobody.here@example.com")) {
		t.Errorf("the report has no ENVID or ORCPT:\n%s", bounceText)
	}
	journalBytes, _ := os.ReadFile(filepath.Join(dir, "course.journal"))
	if !bytes.Contains(journalBytes, []byte(`"state":"bounced","enhanced":"5.1.1"`)) {
		t.Errorf("journal:\n%s", journalBytes)
	}

	if code, out := mm("bounces"); code != 0 || !strings.Contains(out, "bounced 0, delayed 0 recorded; 1 report recorded before") {
		t.Errorf("bounces again: exit %d\n%s", code, out)
	}

	csv := filepath.Join(dir, "fix.csv")
	code, out = mm("report", "--failed-csv", csv)
	if !strings.Contains(out, "delivered 2, bounced 1, delayed 0, failed 0") || !strings.Contains(out, "class.csv:3: bounced nobody.here@example.com: the recipient's mail server sent it back") {
		t.Errorf("report: exit %d\n%s", code, out)
	}
	fix, _ := os.ReadFile(csv)
	// Postfix's own words carry no SMTP code.
	if lines := strings.Split(strings.TrimSpace(string(fix)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "Nobody,nobody.here@example.com,bounced,,") {
		t.Errorf("--failed-csv:\n%s", fix)
	}

	// A bounced letter is not sent again, like a refused one.
	if code, out := mm("send", "--yes"); code != exitSomeFailed || !strings.Contains(out, "delivered 0, failed 0, deferred 0, unknown 0, skipped 3") || !strings.Contains(out, "1 bounced: the recipient's server sent it back") {
		t.Errorf("send again: exit %d\n%s", code, out)
	}

	t.Setenv("MAILMERGE_IMAP_PASSWORD", "not-the-imap-pw")
	if code, out := mm("bounces"); code != exitAuth || !strings.Contains(out, "refused the login of kafedra: check imap.username and the password") || strings.Contains(out, "not-the-imap-pw") {
		t.Errorf("bounces with a wrong password: exit %d\n%s", code, out)
	}
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	if code, out := mm("bounces", "--move-to", "Bounces"); code != 0 || !strings.Contains(out, "1 report moved") {
		t.Errorf("bounces --move-to: exit %d\n%s", code, out)
	}
	if n := len(v.Search(t, "kafedra", "INBOX", "ALL")); n != 0 {
		t.Errorf("INBOX still holds %d messages", n/2)
	}
	if n := len(v.Search(t, "kafedra", "Bounces", "ALL")); n != 2 {
		t.Errorf("Bounces holds %d messages, want the report", n/2)
	}

	// A report whose words are written to act on a terminal (set the
	// title, clear the screen, reverse the text): bounces and report show
	// them as escapes, and the journal keeps them so.
	var annID string
	journal.Read(filepath.Join(dir, "course.journal"), func(r journal.Record) error {
		if len(r.Rcpt) == 1 && r.Rcpt[0] == "ann@example.com" && r.MessageID != "" {
			annID = r.MessageID
		}
		return nil
	})
	envid, _, _ := strings.Cut(strings.Trim(annID, "<>"), "@")
	hostile := strings.ReplaceAll(fmt.Sprintf(`From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: kafedra@example.org
Subject: Undelivered Mail Returned to Sender
Date: %s
Message-ID: <hostile-report@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your letter could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Original-Envelope-Id: %s

Final-Recipient: rfc822; ann@example.com
Original-Recipient: rfc822;ann@example.com
Action: failed
Status: 5.2.1
Diagnostic-Code: smtp; 550 5.2.1 Mailbox disabled `+"\x1b]0;owned\x07\x1b[2J\u202e"+`

--b
Content-Type: text/rfc822-headers

Message-ID: %s

--b--
`, time.Now().UTC().Format(time.RFC1123Z), envid, annID), "\n", "\r\n")
	v.Deliver(t, "kafedra", []byte(hostile))
	code, out = mm("bounces")
	if code != 0 || !strings.Contains(out, `class.csv:2: bounced ann@example.com`) || !strings.Contains(out, `Mailbox disabled \x1b]0;owned\x07\x1b[2J\u202e`) || strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("bounces of a hostile report: exit %d\n%q", code, out)
	}
	code, out = mm("report")
	if !strings.Contains(out, `Mailbox disabled \x1b]0;owned`) || strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("report after a hostile report: exit %d\n%q", code, out)
	}
}
