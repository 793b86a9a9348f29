package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// TestSentCopies sends through a real Postfix with imap.save_copies: each
// letter delivered is saved once in a real Dovecot's Sent folder, marked
// read and without its Bcc. Then the two points where a run can stop
// during a save are made by hand in the journal (a copy saved but not
// recorded; one recorded as about to be saved and not saved), and the
// next send leaves each letter in the folder exactly once.
func TestSentCopies(t *testing.T) {
	testpostfix.Need(t)
	testdovecot.Need(t)
	dir := t.TempDir()
	ca := caIn(t, dir)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}})
	pf := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server})
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Kafedra <kafedra@example.org>\nTo: {{.name}} <{{.email}}>\nBcc: archive@example.com\nSubject: Экзамен\n\nУважаемый {{.name}}, экзамен в понедельник.\n"), 0o644)
	var rows strings.Builder
	rows.WriteString("name,email\n")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&rows, "Студент %d,s%d@example.com\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "class.csv"), []byte(rows.String()), 0o644)
	cfg := filepath.Join(dir, "mailing.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`campaign: exam
template: letter.txt
recipients:
  file: class.csv
smtp:
  host: 127.0.0.1
  port: %d
  ca_file: ca.pem
  server_name: localhost
imap:
  host: 127.0.0.1
  port: %d
  username: kafedra
  ca_file: ca.pem
  server_name: localhost
  sent_folder: Sent
  save_copies: true
`, pf.Port, v.Port)), 0o644)
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	// check --smtp logs in to both servers and looks at both folders.
	check := func() (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), []string{"check", "--smtp", "-c", cfg}, strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := check(); code != 0 || !regexp.MustCompile(`127\.0\.0\.1:\d+ \(IMAP, TLS\): logged in as kafedra in \d+ ms; INBOX holds \d+ messages?, Sent holds 0 messages; nothing was read or changed`).MatchString(out) {
		t.Errorf("check --smtp: exit %d\n%s", code, out)
	}
	t.Setenv("MAILMERGE_IMAP_SENT_FOLDER", "Sent Items")
	if code, out := check(); code != exitUnavailable || !strings.Contains(out, `has no folder "Sent Items"`) {
		t.Errorf("check --smtp with a folder that is not there: exit %d\n%s", code, out)
	}
	t.Setenv("MAILMERGE_IMAP_SENT_FOLDER", "Sent")
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "not-it")
	if code, out := check(); code != exitAuth || strings.Contains(out, "not-it") {
		t.Errorf("check --smtp with a wrong IMAP password: exit %d\n%s", code, out)
	}
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	send := func() string {
		t.Helper()
		var out bytes.Buffer
		if code := run(context.Background(), []string{"send", "--yes", "-c", cfg}, strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("send: exit %d\n%s", code, &out)
		}
		return out.String()
	}
	idRE := regexp.MustCompile(`(?im)^Message-ID: (<[^>]+>)`)
	sentIDs := func() map[string]int {
		ids := map[string]int{}
		for _, hdr := range v.Fetch(t, "kafedra", "hdr", "Sent", "ALL") {
			m := idRE.FindStringSubmatch(hdr)
			if m == nil || strings.Contains(hdr, "archive@example.com") || !strings.Contains(hdr, "Subject: =?utf-8?") {
				t.Errorf("a copy without its Message-ID, with the Bcc, or not as sent:\n%s", hdr)
				continue
			}
			ids[m[1]]++
		}
		return ids
	}
	once := func(when string) {
		t.Helper()
		ids := sentIDs()
		for id, n := range ids {
			if n != 1 {
				t.Errorf("%s: %s is in Sent %d times", when, id, n)
			}
		}
		if len(ids) != 5 {
			t.Errorf("%s: Sent holds %d letters, want 5", when, len(ids))
		}
	}

	if out := send(); !strings.Contains(out, "delivered 5,") || !strings.Contains(out, "saved a copy of 5 letters in Sent") {
		t.Fatalf("send:\n%s", out)
	}
	once("after the send")
	if unseen := v.Search(t, "kafedra", "Sent", "UNSEEN"); len(unseen) != 0 {
		t.Errorf("copies not marked read: %v", unseen)
	}

	// Stop points, made by hand: s2's and s3's copies saved and not
	// recorded; s4's recorded as about to be saved, and not saved.
	path := filepath.Join(dir, "exam.journal")
	data, _ := os.ReadFile(path)
	var kept []string
	var s4 string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		copied := strings.Contains(line, `"state":"copied"`)
		switch {
		case copied && (strings.Contains(line, "s2@example.com") || strings.Contains(line, "s3@example.com")):
			continue
		case strings.Contains(line, `"copy":`) && strings.Contains(line, "s4@example.com"):
			if copied {
				s4 = regexp.MustCompile(`"msgid":"(.*?)"`).FindStringSubmatch(line)[1]
				s4 = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(s4)
				continue
			}
		}
		kept = append(kept, line)
	}
	os.WriteFile(path, []byte(strings.Join(kept, "")), 0o600)
	v.Expunge(t, "kafedra", "Sent", "header", "Message-ID", s4)
	if len(sentIDs()) != 4 {
		t.Fatalf("the copy of %s was not removed", s4)
	}

	if out := send(); !strings.Contains(out, "skipped 5") || !strings.Contains(out, "saved a copy of 3 letters in Sent") {
		t.Errorf("send after the stop:\n%s", out)
	}
	once("after the send that followed the stop")
	if out := send(); strings.Contains(out, "saved a copy") {
		t.Errorf("a third send saved copies:\n%s", out)
	}
	once("after a third send")
}

// TestSentCopiesCrash kills real sends that save copies with SIGKILL at
// random moments, while letters go out and while copies are saved, then
// lets one run to its end: the Sent folder of a real Dovecot then holds a
// copy of exactly the letters delivered, each once.
func TestSentCopiesCrash(t *testing.T) {
	testdovecot.Need(t)
	const n = 200
	rng := rand.New(rand.NewPCG(crashSeed(t), 1))
	bin, cfg, _ := realSend(t, "copies", n, "  concurrency: 4\n  retry_delay: 10ms\n")
	dir := filepath.Dir(cfg)
	ca := caIn(t, dir)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}})
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "imap:\n  host: 127.0.0.1\n  port: %d\n  username: kafedra\n  ca_file: ca.pem\n  server_name: localhost\n  sent_folder: Sent\n  save_copies: true\n", v.Port)
	f.Close()

	kills, outs := killedSends(t, bin, cfg, []string{"MAILMERGE_IMAP_PASSWORD=imap-pw"}, rng, 30, 400)
	for _, out := range outs {
		if strings.Contains(out, "warning") {
			t.Errorf("a run warned: %s", out)
		}
	}
	if kills < 2 {
		t.Fatalf("%d runs killed; the test proves little", kills)
	}
	delivered := map[string]bool{}
	copying := map[string]int{}
	journal.Read(filepath.Join(dir, "copies.journal"), func(r journal.Record) error {
		if r.Copy == "" && r.State == journal.Delivered {
			delivered[r.MessageID] = true
		}
		if r.State == journal.Copying {
			copying[r.MessageID]++
		}
		return nil
	})
	interrupted := 0
	for _, k := range copying {
		if k > 1 {
			interrupted++
		}
	}
	saved := map[string]int{}
	for _, hdr := range v.Fetch(t, "kafedra", "hdr", "Sent", "ALL") {
		if m := regexp.MustCompile(`(?im)^Message-ID: (<[^>]+>)`).FindStringSubmatch(hdr); m != nil {
			saved[m[1]]++
		}
	}
	for id, k := range saved {
		if k != 1 || !delivered[id] {
			t.Errorf("%s: %d copies in Sent; delivered: %v", id, k, delivered[id])
		}
	}
	// Each kill may leave up to 4 letters (the sessions) of unknown fate.
	if len(saved) != len(delivered) || len(delivered) < n-kills*4 {
		t.Errorf("%d copies for %d letters delivered (of %d)", len(saved), len(delivered), n)
	}
	t.Logf("%d kills; %d letters delivered, %d copies; %d saves interrupted by a kill and done again", kills, len(delivered), len(saved), interrupted)
}

// TestSentLookup: a copy of a mailing's folder on another machine (its
// own journal and registry, no secret) finds in the Sent folder the
// letters the first machine sent (their Message-IDs hold the same keys)
// and sends none of them again; a letter of unknown fate found there is
// settled as delivered.
func TestSentLookup(t *testing.T) {
	testpostfix.Need(t)
	testdovecot.Need(t)
	first, second := t.TempDir(), t.TempDir()
	ca := caIn(t, first)
	os.WriteFile(filepath.Join(second, "ca.pem"), ca.PEM, 0o644)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}})
	pf := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server})
	files := map[string]string{
		"letter.txt": "From: Kafedra <kafedra@example.org>\nTo: {{.email}}\nSubject: Exam\n\nThe exam is on Monday.\n",
		"class.csv":  "email\ns1@example.com\ns2@example.com\ns3@example.com\n",
		"mailing.yaml": fmt.Sprintf("campaign: exam\ntemplate: letter.txt\nrecipients:\n  file: class.csv\nsmtp:\n  host: 127.0.0.1\n  port: %d\n  ca_file: ca.pem\n  server_name: localhost\n"+
			"imap:\n  host: 127.0.0.1\n  port: %d\n  username: kafedra\n  ca_file: ca.pem\n  server_name: localhost\n  sent_folder: Sent\n  save_copies: true\n", pf.Port, v.Port),
	}
	for _, dir := range []string{first, second} {
		for name, text := range files {
			os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
		}
	}
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	send := func(dir string) string {
		t.Helper()
		t.Setenv("XDG_STATE_HOME", filepath.Join(dir, ".state")) // another machine's
		var out bytes.Buffer
		if code := run(context.Background(), []string{"send", "--yes", "-c", filepath.Join(dir, "mailing.yaml")}, strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("send from %s: exit %d\n%s", dir, code, &out)
		}
		return out.String()
	}
	inbox := func() int {
		n := 0
		for _, sub := range []string{"new", "cur"} {
			es, _ := os.ReadDir(filepath.Join(pf.Inbox, sub))
			n += len(es)
		}
		return n
	}
	if out := send(first); !strings.Contains(out, "delivered 3,") {
		t.Fatalf("the first machine:\n%s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for inbox() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // Postfix delivers in its own time
	}
	if n := inbox(); n != 3 {
		t.Fatalf("Postfix delivered %d letters, want 3", n)
	}
	// The copy's own journal says its letter to s1 went with no reply: a
	// letter of unknown fate, which Sent settles.
	j, err := journal.Open(filepath.Join(second, "exam.journal"))
	if err != nil {
		t.Fatal(err)
	}
	key := letter.NewKey("exam", []string{"s1@example.com"}, 0)
	j.Commit(journal.Record{Key: key, Dest: journal.SMTP, Line: 2, Rcpt: []string{"s1@example.com"}, MessageID: key.MessageID("example.org"), Attempt: 1, State: journal.EOD})
	j.Close()
	out := send(second)
	if !strings.Contains(out, "found 3 letters in Sent already: recorded as delivered, not sent again (1 of them of unknown fate before)") || !strings.Contains(out, "delivered 0,") || !strings.Contains(out, "skipped 3") {
		t.Errorf("the second machine:\n%s", out)
	}
	if out := send(second); strings.Contains(out, "found") || !strings.Contains(out, "skipped 3") || strings.Contains(out, "saved a copy") {
		t.Errorf("the second machine, again:\n%s", out)
	}
	if n := len(v.Search(t, "kafedra", "Sent", "ALL")) / 2; n != 3 { // a GUID and a UID a message
		t.Errorf("Sent holds %d letters, want the first machine's 3", n)
	}
}
