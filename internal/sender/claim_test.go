package sender

import (
	"context"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// TestPoolClaims: a run on a journal in PostgreSQL that another process
// shares sends the letters it can take, waits for those the other
// holds, and lets each in once the other settles it (skipped, delivered
// elsewhere) or gives it up (sent here); one the other tried and left
// deferred, while it still holds it, it leaves for a later run rather
// than wait for it. The server sees each letter once.
func TestPoolClaims(t *testing.T) {
	srv := testpg.Start(t)
	be := &backend{}
	port := startServer(t, be, nil)
	db := pgjournal.DB{URL: srv.NewDB(t), Password: testpg.Password, Campaign: "claims", Lease: time.Minute}
	ctx := context.Background()
	other, err := db.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	j, err := db.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	ls := letters(20)
	var keys []letter.Key
	for _, l := range ls[:10] {
		keys = append(keys, l.Key)
	}
	if held, err := other.Claim(ctx, keys, nil); err != nil || len(held) != 10 || !held[9] {
		t.Fatalf("the other process's claim: %v, %v", held, err)
	}

	waited := 0
	p := &Pool{Transport: smtpTransport(port), Journal: j, Claims: j, ClaimPoll: 20 * time.Millisecond,
		Concurrency: 2, MaxAttempts: 1, PerSession: 100, Backoff: time.Millisecond, OpenTries: 1,
		OnWait: func(n int) { waited = n }}
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := run(t, p, ctx, ctx, ls)
		done <- result{st, err}
	}()

	// The other sends four of the letters it holds, leaves the fifth
	// deferred and holds it still, and ends: the five others are this
	// run's to send.
	for i, l := range ls[:5] {
		r := journal.Record{Key: l.Key, Dest: p.destination(), Line: l.Line, Rcpt: l.Recipients, MessageID: l.MessageID, Attempt: 1}
		states := []journal.State{journal.Attempt, journal.EOD, journal.Delivered}
		if i == 4 {
			states = []journal.State{journal.Attempt, journal.Deferred}
		}
		for _, s := range states {
			r.State = s
			if err := other.Commit(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	other.Release(keys[5:]) // given back at once; 4 it holds still

	var res result
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the run did not end once the other process had settled, given up or deferred every letter")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	st := res.st
	if waited < 1 || waited > 10 {
		t.Errorf("OnWait told of %d letters others hold, want 1 to 10", waited)
	}
	if st.Delivered != 15 || st.Skipped[journal.Delivered] != 4 || st.Elsewhere != 4 || st.Untouched != 1 {
		t.Errorf("delivered %d, skipped %v, elsewhere %d, untouched %d; want 15 delivered here, 4 by the other, 1 left deferred",
			st.Delivered, st.Skipped, st.Elsewhere, st.Untouched)
	}
	seen := map[string]int{}
	for _, m := range be.messages() {
		seen[m.rcpts[0]]++
	}
	for _, l := range ls {
		want := 1
		if l.Line-2 < 4 {
			want = 0 // the other process's
		}
		if l.Line-2 == 4 {
			want = 0 // deferred by the other: tried again later, not now
		}
		if seen[l.Recipients[0]] != want {
			t.Errorf("%s reached the server %d times, want %d", l.Recipients[0], seen[l.Recipients[0]], want)
		}
	}
}
