package main

import (
	"context"
	"math/rand/v2"
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
	srv := testpg.Start(t)
	const n = 600
	rng := rand.New(rand.NewPCG(crashSeed(t), 2))
	url := srv.NewDB(t)
	bin, cfg, be := realSend(t, "pgcrash", n, "  concurrency: 4\n  retry_delay: 10ms\n  journal: "+url+"\n  journal_password_env: MM_TEST_JOURNAL_PW\n")
	kills, outs := killedSends(t, bin, cfg, []string{"MM_TEST_JOURNAL_PW=" + testpg.Password}, rng, 50, 400)
	if kills == 0 {
		t.Fatal("no run was killed; the test proves nothing")
	}
	db := pgjournal.DB{URL: url, Password: testpg.Password, Campaign: "pgcrash"}
	states := checkOnce(t, db.Records(context.Background()), be, n)
	t.Logf("%d kills; final states %v; server saw %d messages; %d runs ended", kills, states, len(be.seen), len(outs))
}
