package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/testpostfix"
)

// writeAccountsMailing writes a mailing of n letters to pI@example.com
// into dir, sent through the accounts of the YAML list accounts.
func writeAccountsMailing(t *testing.T, dir string, n int, accounts, send string) string {
	t.Helper()
	writeLetters(t, dir, n)
	cfg := filepath.Join(dir, "accounts.yaml")
	os.WriteFile(cfg, []byte("template: letter.txt\nrecipients:\n  file: people.csv\naccounts:\n"+accounts+"send:\n"+send), 0o644)
	return cfg
}

// lastRecords reads a journal's last record of each letter, by
// Message-ID.
func lastRecords(t *testing.T, path string) map[string]journal.Record {
	t.Helper()
	last := map[string]journal.Record{}
	if err := journal.Read(path, func(r journal.Record) error {
		last[r.MessageID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return last
}

var maildirMessageID = regexp.MustCompile(`(?mi)^Message-ID: (<[^>]+>)\r?$`)

// inboxIDs counts the letters in a Maildir by Message-ID.
func inboxIDs(inbox string) map[string]int {
	seen := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(inbox, "new", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if m := maildirMessageID.FindSubmatch(b); m != nil {
			seen[string(m[1])]++
		}
	}
	return seen
}

// TestPostfixAccounts sends one mailing through two real Postfix
// instances, and stops one of them halfway: its account is paused, then
// stopped, and the other carries the rest. Every letter arrives once, at
// the server of the account the journal names; the summary counts each
// account.
func TestPostfixAccounts(t *testing.T) {
	testpostfix.Need(t)
	const n = 300
	dir := t.TempDir()
	ca := caIn(t, dir)
	a := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server})
	b := testpostfix.Start(t, testpostfix.Options{TLS: ca.Server})
	cfg := writeAccountsMailing(t, dir, n, fmt.Sprintf(
		"  - name: first\n    host: 127.0.0.1\n    port: %d\n    security: none\n    rate: 50/s\n    concurrency: 2\n"+
			"  - name: second\n    host: 127.0.0.1\n    port: %d\n    security: none\n    rate: 50/s\n    concurrency: 2\n", a.Port, b.Port),
		"  retry_delay: 50ms\n")

	// The second server goes away once it has delivered 30 letters.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if len(inboxIDs(b.Inbox)) >= 30 {
				b.Stop(t)
				return
			}
		}
	}()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"send", "--yes", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
	<-stopped
	if code != exitOK && code != exitUnknown {
		t.Fatalf("send: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "account first: ") || !regexp.MustCompile(`account second: \d+ delivered.*; stopped: `).MatchString(out) {
		t.Errorf("summary:\n%s", out)
	}
	t.Logf("%s%s", out, stderr.String())

	// What the second server took waits in its queue: let it deliver.
	b.Resume(t)
	last := lastRecords(t, filepath.Join(dir, "accounts.journal"))
	delivered := map[string]int{}
	for _, r := range last {
		if r.Final() == journal.Delivered {
			delivered[r.Account]++
		}
	}
	// The report counts each account's letters as the journal has them.
	stdout.Reset()
	run(context.Background(), []string{"report", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
	for _, name := range []string{"first", "second"} {
		if want := fmt.Sprintf("account %s: delivered %d", name, delivered[name]); !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}
	// report --out names, row by row, the account that carried it.
	rows := filepath.Join(dir, "rows.csv")
	if code := run(context.Background(), []string{"report", "-c", cfg, "--out", rows}, strings.NewReader(""), &stdout, &stderr); code != exitOK && code != exitUnknown {
		t.Fatalf("report --out: exit %d\n%s", code, stderr.String())
	}
	data, _ := os.ReadFile(rows)
	records, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff")))).ReadAll()
	if err != nil || len(records) != n+1 {
		t.Fatalf("rows.csv: %d records, %v", len(records), err)
	}
	column := map[string]int{}
	for i, name := range records[0] {
		column[name] = i
	}
	byRow := map[string]int{}
	for _, rec := range records[1:] {
		if rec[column["status"]] == "delivered" {
			byRow[rec[column["account"]]]++
		}
	}
	if byRow["first"] != delivered["first"] || byRow["second"] != delivered["second"] {
		t.Errorf("rows.csv's delivered rows by account: %v; the journal's: %v", byRow, delivered)
	}
	var atA, atB map[string]int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		atA, atB = inboxIDs(a.Inbox), inboxIDs(b.Inbox)
		if len(atA) >= delivered["first"] && len(atB) >= delivered["second"] || time.Now().After(deadline) {
			break
		}
	}
	if len(last) != n || delivered["first"]+delivered["second"] < n-4 || delivered["first"] == 0 || delivered["second"] < 30 {
		t.Errorf("journal: %d letters, delivered by account %v", len(last), delivered)
	}
	for id, r := range last {
		inA, inB := atA[id], atB[id]
		switch {
		case inA > 1 || inB > 1 || inA+inB > 1:
			t.Errorf("%s arrived %d times at first, %d at second", id, inA, inB)
		case r.Final() == journal.Delivered && r.Account == "first" && inA != 1,
			r.Final() == journal.Delivered && r.Account == "second" && inB != 1:
			t.Errorf("%s delivered through %s per the journal; arrived %d at first, %d at second", id, r.Account, inA, inB)
		case r.Final() != journal.Delivered && r.Final() != journal.Unknown:
			t.Errorf("%s ends %s", id, r.Final())
		}
	}
}

// countingOn starts a countingServer on a loopback port.
func countingOn(t *testing.T, name string) (int, *countingServer) {
	t.Helper()
	be := &countingServer{seen: map[string]int{}, to: map[string]int{}}
	return serveSMTP(t, name, be), be
}

// TestCrashResumeAccounts is TestCrashResume with two accounts: a real
// send through both is killed at random moments and run again until it
// completes. No letter reaches either server twice, nor both; each
// delivered letter is at the server of the account its record names.
func TestCrashResumeAccounts(t *testing.T) {
	const n = 300
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	bin := buildMailmerge(t)
	portA, a := countingOn(t, "a")
	portB, b := countingOn(t, "b")
	dir := t.TempDir()
	cfg := writeAccountsMailing(t, dir, n, fmt.Sprintf(
		"  - name: a\n    host: 127.0.0.1\n    port: %d\n    security: none\n    concurrency: 2\n"+
			"  - name: b\n    host: 127.0.0.1\n    port: %d\n    security: none\n    concurrency: 3\n    weight: 2\n", portA, portB),
		"  retry_delay: 10ms\n")

	kills, _ := killedSends(t, bin, cfg, nil, rng, 10, 200)
	if kills == 0 {
		t.Fatal("no run was killed; the test proves nothing")
	}
	last := lastRecords(t, filepath.Join(dir, "accounts.journal"))
	if len(last) != n {
		t.Errorf("the journal knows %d letters, want %d", len(last), n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	states, by := map[journal.State]int{}, map[string]int{}
	for id, r := range last {
		states[r.Final()]++
		inA, inB := a.seen[id], b.seen[id]
		switch r.Final() {
		case journal.Delivered:
			by[r.Account]++
			if inA+inB != 1 || r.Account == "a" && inA != 1 || r.Account == "b" && inB != 1 {
				t.Errorf("%s delivered through %q per the journal; seen %d times at a, %d at b", id, r.Account, inA, inB)
			}
		case journal.Unknown:
			if inA+inB > 1 {
				t.Errorf("%s unknown, seen %d times at a, %d at b", id, inA, inB)
			}
		default:
			t.Errorf("%s ends in state %s", id, r.Final())
		}
	}
	for id, seen := range a.seen {
		if seen+b.seen[id] > 1 {
			t.Errorf("%s reached the servers %d times", id, seen+b.seen[id])
		}
	}
	if by["a"] == 0 || by["b"] == 0 {
		t.Errorf("deliveries by account: %v; want both to carry letters", by)
	}
	t.Logf("%d kills; final states %v; by account %v", kills, states, by)
}

// TestCheckSMTPAccounts: check --smtp checks every account, goes on past
// one that cannot be used, names it, and fails.
func TestCheckSMTPAccounts(t *testing.T) {
	port, _ := countingOn(t, "a")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := writeAccountsMailing(t, t.TempDir(), 1, fmt.Sprintf(
		"  - name: down\n    host: 127.0.0.1\n    port: %d\n    security: none\n"+
			"  - name: up\n    host: 127.0.0.1\n    port: %d\n    security: none\n", closed, port), "  concurrency: 1\n")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "--smtp", "-c", cfg}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String()
	if code != exitUnavailable || !strings.Contains(out, "account down: not usable: ") || !regexp.MustCompile(`account up: 127\.0\.0\.1:\d+ \(unencrypted\): connected`).MatchString(out) {
		t.Errorf("exit %d\n%s%s", code, out, stderr.String())
	}
}
