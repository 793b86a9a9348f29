package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/testdovecot"
)

// TestShardsCLI runs shards 1/2 and 2/2 of a mailing at once, as two
// real sends to one server: every letter reaches it once, from one
// shard; while they run, a shard of a copy of the folder and a send
// without shards are refused; report then reads both journals and adds
// them up.
func TestShardsCLI(t *testing.T) {
	const n = 300
	bin, cfg, be := realSend(t, "shards", n, "  concurrency: 4\n  rate: 100/s\n")
	dir := filepath.Dir(cfg)
	dirB := t.TempDir() // a copy of the folder
	for _, name := range []string{"shards.yaml", "people.csv", "letter.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dirB, name), b, 0o644)
	}
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	run := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd, &out
	}
	exit := func(err error) int {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}

	var wg sync.WaitGroup
	outs := make([]*bytes.Buffer, 2)
	for i, shard := range []string{"1/2", "2/2"} {
		cmd, out := run("send", "--yes", "-c", cfg, "--shard", shard)
		outs[i] = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("send --shard %s: %v\n%s", shard, err, out)
			}
		})
	}
	// Once letters are going out (however slow the machine), while the
	// shards have most of theirs to send at 100 a second:
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		be.mu.Lock()
		seen := len(be.seen)
		be.mu.Unlock()
		if seen >= 10 {
			break
		}
	}
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"send", "--yes", "-c", filepath.Join(dirB, "shards.yaml"), "--shard", "2/2"}, "from another folder, with the journal " + filepath.Join(dir, "shards.shard-")},
		{[]string{"send", "--yes", "-c", cfg}, "another mailmerge send of this campaign is running, with the journal " + filepath.Join(dir, "shards.shard-")},
	} {
		cmd, out := run(tt.args...)
		if code := exit(cmd.Run()); code != exitLocked || !strings.Contains(out.String(), tt.says) {
			t.Errorf("%s while the shards run: exit %d, want %d saying %q\n%s", strings.Join(tt.args, " "), code, exitLocked, tt.says, out)
		}
	}
	wg.Wait()

	// Union every letter, intersection none.
	shardOf := map[string]string{}
	for _, shard := range []string{"1-of-2", "2-of-2"} {
		err := journal.Read(filepath.Join(dir, "shards.shard-"+shard+".journal"), func(r journal.Record) error {
			if prev, ok := shardOf[r.MessageID]; ok && prev != shard {
				t.Errorf("%s in shards %s and %s", r.MessageID, prev, shard)
			}
			shardOf[r.MessageID] = shard
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(shardOf) != n || len(be.seen) != n || len(be.to) != n {
		t.Errorf("journals know %d letters, the server saw %d Message-IDs for %d people; want %d", len(shardOf), len(be.seen), len(be.to), n)
	}
	for id, seen := range be.seen {
		if seen != 1 || shardOf[id] == "" {
			t.Errorf("%s seen %d times, sent by shard %q", id, seen, shardOf[id])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "shards.journal")); err == nil {
		t.Error("the shards made a journal of the mailing unsplit")
	}

	// The merged report adds up.
	cmd, out := run("report", "-c", cfg)
	if err := cmd.Run(); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	for _, want := range []string{"this mailing is split into shards: reading the journals shards.shard-1-of-2.journal, shards.shard-2-of-2.journal", "delivered 300, failed 0, deferred 0, unknown 0, not sent 0 (of 300)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report says:\n%s\nwant %q", out, want)
		}
	}
	t.Logf("shard 1/2: %s\nshard 2/2: %s", strings.TrimSpace(outs[0].String()), strings.TrimSpace(outs[1].String()))
}

// TestShardBounces: bounces records each delivery report about a split
// mailing's letters in the journal of the shard that sent the letter,
// from a real Dovecot's mailbox; report then counts them together.
func TestShardBounces(t *testing.T) {
	testdovecot.Need(t)
	const n = 12
	dir := t.TempDir()
	ca := caIn(t, dir)
	v := testdovecot.Start(t, testdovecot.Options{TLS: ca.Server, Users: map[string]string{"kafedra": "imap-pw"}})
	port, _ := countingOn(t, "shards")
	var rows strings.Builder
	rows.WriteString("name,email\n")
	for i := range n {
		fmt.Fprintf(&rows, "Student %d,s%d@example.com\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "class.csv"), []byte(rows.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Kafedra <kafedra@example.org>\nTo: {{.name}} <{{.email}}>\nSubject: Exam\n\nDear {{.name}}\n"), 0o644)
	cfg := filepath.Join(dir, "mailing.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`campaign: exam
template: letter.txt
recipients:
  file: class.csv
smtp:
  host: 127.0.0.1
  port: %d
  security: none
imap:
  host: 127.0.0.1
  port: %d
  username: kafedra
  ca_file: ca.pem
  server_name: localhost
`, port, v.Port)), 0o644)
	t.Setenv("MAILMERGE_IMAP_PASSWORD", "imap-pw")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	mm := func(args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(context.Background(), append(args, "-c", cfg), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	for _, shard := range []string{"1/2", "2/2"} {
		if code, out := mm("send", "--yes", "--shard", shard); code != 0 {
			t.Fatalf("send --shard %s: exit %d\n%s", shard, code, out)
		}
	}
	// A report about a letter of each shard.
	bounced := map[string]string{} // journal → address
	for _, shard := range []string{"1-of-2", "2-of-2"} {
		path := filepath.Join(dir, "exam.shard-"+shard+".journal")
		var last journal.Record
		journal.Read(path, func(r journal.Record) error { last = r; return nil })
		if last.MessageID == "" {
			t.Fatalf("%s has no letter", path)
		}
		bounced[path] = last.Rcpt[0]
		envid, _, _ := strings.Cut(strings.Trim(last.MessageID, "<>"), "@")
		v.Deliver(t, "kafedra", []byte(strings.ReplaceAll(fmt.Sprintf(`From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: kafedra@example.org
Subject: Undelivered Mail Returned to Sender
Date: %s
Message-ID: <report-%s@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your letter could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Original-Envelope-Id: %s

Final-Recipient: rfc822; %s
Original-Recipient: rfc822;%s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 No such user

--b
Content-Type: text/rfc822-headers

Message-ID: %s

--b--
`, time.Now().UTC().Format(time.RFC1123Z), shard, envid, last.Rcpt[0], last.Rcpt[0], last.MessageID), "\n", "\r\n")))
	}

	code, out := mm("bounces")
	if code != 0 || !strings.Contains(out, "bounced 2, delayed 0 recorded; 0 reports recorded before; 0 not matched") {
		t.Fatalf("bounces: exit %d\n%s", code, out)
	}
	for path, addr := range bounced {
		var got []string
		journal.Read(path, func(r journal.Record) error {
			if r.State == journal.Bounced {
				got = append(got, r.Rcpt...)
			}
			return nil
		})
		if len(got) != 1 || got[0] != addr {
			t.Errorf("%s records bounces of %v, want %s", filepath.Base(path), got, addr)
		}
	}
	if code, out := mm("bounces"); code != 0 || !strings.Contains(out, "bounced 0, delayed 0 recorded; 2 reports recorded before; 0 not matched") {
		t.Errorf("bounces again: exit %d\n%s", code, out)
	}
	if _, out := mm("report"); !strings.Contains(out, fmt.Sprintf("delivered %d, bounced 2, delayed 0, failed 0", n-2)) {
		t.Errorf("report:\n%s", out)
	}
}
