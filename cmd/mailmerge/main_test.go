package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/testca"
)

func TestMain(m *testing.M) {
	// Under -race, a program sleeps a second at exit (GORACE's
	// atexit_sleep_ms, for late reports): the scripts run mailmerge some
	// 150 times, which made most of this package's two minutes. Races are
	// still reported and still fail the run.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=10"))
	}
	// The registry of mailings (journal.Register) is the user's: the tests
	// keep one of their own, each script its own too (Setup). (This binary
	// also runs as the scripts' mailmerge, which keeps the script's.)
	var state string
	if strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe") != "mailmerge" {
		var err error
		if state, err = os.MkdirTemp("", "mailmerge-state"); err != nil {
			panic(err)
		}
		os.Setenv("XDG_STATE_HOME", state)
	}
	testscript.Main(removing{m, state}, map[string]func(){
		"mailmerge": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// removing runs the tests, then removes dir.
type removing struct {
	m   *testing.M
	dir string
}

func (r removing) Run() int {
	defer os.RemoveAll(r.dir)
	return r.m.Run()
}

// TestScripts runs the end-to-end CLI tests in testdata/script. Scripts
// see the repository as $REPO and its examples folder as $EXAMPLES, and
// an SMTP server of their own on 127.0.0.1:$SMTP_PORT (see scriptServer),
// and one on $AUTH_PORT that wants STARTTLS and AUTH.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// An SMTP server for this script; what it accepts lands in
			// $WORK/received.
			received := filepath.Join(env.WorkDir, "received")
			if err := os.Mkdir(received, 0o755); err != nil {
				return err
			}
			port, stop, err := startScriptServer(received, nil)
			if err != nil {
				return err
			}
			env.Defer(stop)
			env.Setenv("SMTP_PORT", strconv.Itoa(port))
			// And one that wants STARTTLS (a CA of the script's own, in
			// $CA_FILE) and AUTH; what it accepts lands in $WORK/authed.
			authed := filepath.Join(env.WorkDir, "authed")
			if err := os.Mkdir(authed, 0o755); err != nil {
				return err
			}
			caFile := filepath.Join(env.WorkDir, "ca.pem")
			tlsConfig, err := scriptCA(caFile)
			if err != nil {
				return err
			}
			port, stop, err = startScriptServer(authed, tlsConfig)
			if err != nil {
				return err
			}
			env.Defer(stop)
			env.Setenv("AUTH_PORT", strconv.Itoa(port))
			env.Setenv("CA_FILE", caFile)
			env.Setenv("EXAMPLES", examples)
			env.Setenv("REPO", filepath.Dir(examples))
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			// The scripts must not pick up a developer's settings.
			env.Setenv("MAILMERGE_CONFIG", "")
			env.Setenv("MAILMERGE_SMTP_PASSWORD", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":    cmdExitCode,
			"deliveries":  cmdDeliveries,
			"lockjournal": cmdLockJournal,
			"lockmailing": cmdLockMailing,
			"mode":        cmdMode,
		},
	})
}

// cmdExitCode runs a command and checks its exit code exactly:
//
//	exitcode 4 mailmerge check
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdLockJournal holds a journal's lock until the script ends, as a send
// running elsewhere would:
//
//	lockjournal mailmerge.journal
func cmdLockJournal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lockjournal FILE")
	}
	j, err := journal.Open(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("lockjournal: %v", err)
	}
	ts.Defer(func() { j.Close() })
}

// cmdDeliveries checks a journal's deliveries: LETTERS letters, each
// delivered once, and never more than N in any window of DURATION (a
// window starting at each delivery is the fullest):
//
//	deliveries mailmerge.journal 12 5/10s
func cmdDeliveries(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: deliveries JOURNAL LETTERS N/DURATION")
	}
	letters, err := strconv.Atoi(args[1])
	ts.Check(err)
	q, err := config.ParseQuota(args[2])
	ts.Check(err)
	var times []time.Time
	perKey := map[letter.Key]int{}
	ts.Check(journal.Read(ts.MkAbs(args[0]), func(r journal.Record) error {
		if r.State == journal.Delivered {
			times = append(times, r.Time)
			perKey[r.Key]++
		}
		return nil
	}))
	if len(perKey) != letters || len(times) != letters {
		ts.Fatalf("%d deliveries of %d letters, want %d letters delivered once each", len(times), len(perKey), letters)
	}
	slices.SortFunc(times, time.Time.Compare)
	for i, start := range times {
		n := 0
		for _, at := range times[i:] {
			if at.Before(start.Add(q.Per)) {
				n++
			}
		}
		if n > q.N {
			ts.Fatalf("%d deliveries in the %s from %s: over %s", n, q.Window(), start.Format("15:04:05.000"), q)
		}
	}
	ts.Logf("%d deliveries from %s to %s", len(times), times[0].Format("15:04:05.000"), times[len(times)-1].Format("15:04:05.000"))
}

// cmdLockMailing holds the lock of a campaign's name in the script's
// registry of mailings until the script ends, as a send from another
// folder would:
//
//	lockmailing course other/course.journal
func cmdLockMailing(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: lockmailing CAMPAIGN JOURNAL")
	}
	r, err := journal.Register(filepath.Join(ts.Getenv("XDG_STATE_HOME"), "mailmerge"), args[0], ts.MkAbs(args[1]))
	if err != nil {
		ts.Fatalf("lockmailing: %v", err)
	}
	ts.Defer(r.Release)
}

// cmdMode checks the permission bits of files: files with personal data
// are for their owner alone.
//
//	mode 0600 eml/0002-ivan@example.com.eml
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: mode PERM FILE...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil {
		ts.Fatalf("mode: %v", err)
	}
	for _, name := range args[1:] {
		fi, err := os.Stat(ts.MkAbs(name))
		ts.Check(err)
		if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
			ts.Fatalf("%s has mode %#o, want %s%#o", name, got, map[bool]string{true: "not ", false: ""}[neg], want)
		}
	}
}

// caIn makes a throwaway CA for a test's servers and writes its
// certificate to dir/ca.pem, for the config's ca_file.
func caIn(t *testing.T, dir string) *testca.CA {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}
