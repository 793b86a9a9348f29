package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// TestCrashResumePostgres is TestCrashResume with the journal in
// PostgreSQL: a real send killed with SIGKILL at random moments (from a
// logged seed), run again until it completes; every letter ends in one
// final state, and none reached the server twice. The server frees a
// killed send's lock of the campaign once it sees its connection closed.
func TestCrashResumePostgres(t *testing.T) {
	t.Parallel() // its own cluster: it runs beside the other PostgreSQL tests
	srv := testpg.Start(t)
	const n = 600
	rng := rand.New(rand.NewPCG(crashSeed(t), 2))
	url := srv.NewDB(t)
	// send.lease is left at its minute: the next run on this machine
	// takes a killed send's letters at once.
	bin, cfg, be := realSend(t, "pgcrash", n, "  concurrency: 4\n  retry_delay: 10ms\n  journal: "+url+"\n  journal_password_env: MM_TEST_JOURNAL_PW\n")
	kills, outs := killedSends(t, bin, cfg, []string{"MM_TEST_JOURNAL_PW=" + testpg.Password}, rng, 50, 400)
	if kills == 0 {
		t.Fatal("no run was killed; the test proves nothing")
	}
	db := pgjournal.DB{URL: url, Password: testpg.Password, Campaign: "pgcrash"}
	states := checkOnce(t, db.Records(context.Background()), be, n)
	t.Logf("%d kills; final states %v; server saw %d messages; %d runs ended", kills, states, len(be.seen), len(outs))
}

// TestJournalPostgresCLI: journal migrate makes the tables and says so;
// a send on PostgreSQL delivers, report reads it, a send of the campaign
// is refused while a journal import holds it alone (exit 9), and journal export
// hands the campaign to a file, from which a send finds nothing to send.
func TestJournalPostgresCLI(t *testing.T) {
	t.Parallel() // its own cluster: it runs beside the other PostgreSQL tests
	srv := testpg.Start(t)
	const n = 20
	url := srv.NewDB(t)
	bin, cfg, be := realSend(t, "pgcli", n, "  journal: "+url+"\n  journal_password_env: MM_TEST_JOURNAL_PW\n")
	env := append(os.Environ(), "MM_TEST_JOURNAL_PW="+testpg.Password, "XDG_STATE_HOME="+t.TempDir())
	mm := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("mailmerge %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return string(out)
	}
	where := fmt.Sprintf("127.0.0.1:%d/t1", srv.Port)
	if out := mm(0, "journal", "migrate", "-c", cfg); !strings.Contains(out, fmt.Sprintf("created the mailmerge tables in %s (schema %d)", where, pgjournal.Schema)) {
		t.Errorf("journal migrate said:\n%s", out)
	}
	if out := mm(0, "journal", "migrate", "-c", cfg); !strings.Contains(out, fmt.Sprintf("up to date (schema %d)", pgjournal.Schema)) {
		t.Errorf("journal migrate again said:\n%s", out)
	}
	// A password refused, and one not given, say so in plain words.
	good := env
	env = append(slices.Clone(good), "MM_TEST_JOURNAL_PW=wrong")
	if out := mm(exitAuth, "send", "--yes", "-c", cfg); !strings.Contains(out, "the journal's database (campaign \"pgcli\" in PostgreSQL "+where+") refused the password") ||
		!strings.Contains(out, "check the password in $MM_TEST_JOURNAL_PW") || strings.Contains(out, "wrong") {
		t.Errorf("a wrong password said:\n%s", out)
	}
	env = append(slices.Clone(good), "MM_TEST_JOURNAL_PW=", "PGPASSWORD=")
	if out := mm(exitAuth, "send", "--yes", "-c", cfg); !strings.Contains(out, "$MM_TEST_JOURNAL_PW, which send.journal_password_env names, is not set") {
		t.Errorf("no password said:\n%s", out)
	}
	env = good
	mm(0, "send", "--yes", "-c", cfg)
	if out := mm(0, "report", "-c", cfg); !strings.Contains(out, fmt.Sprintf("delivered %d", n)) {
		t.Errorf("report said:\n%s", out)
	}

	// journal import holds a campaign alone: no send may share it then.
	db := pgjournal.DB{URL: url, Password: testpg.Password, Campaign: "pgcli", Alone: true}
	held, err := db.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := mm(exitLocked, "send", "--yes", "-c", cfg); !strings.Contains(out, "in use by another mailmerge send") {
		t.Errorf("a second send said:\n%s", out)
	}
	held.Close()

	file := filepath.Join(filepath.Dir(cfg), "moved.journal")
	if out := mm(0, "journal", "export", file, "-c", cfg); !strings.Contains(out, fmt.Sprintf("copied %d records", 3*n)) {
		t.Errorf("journal export said:\n%s", out)
	}
	raw, _ := os.ReadFile(cfg)
	local := filepath.Join(filepath.Dir(cfg), "local.yaml")
	os.WriteFile(local, []byte("campaign: pgcli\n"+strings.Replace(string(raw), url+"\n  journal_password_env: MM_TEST_JOURNAL_PW", file, 1)), 0o644)
	mm(0, "send", "--yes", "-c", local)
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.seen) != n {
		t.Errorf("the server saw %d letters, want %d: the moved journal sent some again", len(be.seen), n)
	}
}
