package sender

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// TestFaultSoak sends 1,500 letters (MAILMERGE_SOAK_LETTERS: more, for a
// deeper run) to a server that fails at random
// (seeded: the seed is logged, MAILMERGE_SOAK_SEED replays it): 421, 451,
// 452 and 550 to RCPT; 451 and 554 after the data; connections dropped
// in the middle of the body and after the end of the data, before the
// reply; stalls past the client's timeout after the data; a limit of
// messages a session. It sends again until nothing is left to send, then
// checks: every letter ends in exactly one final state, the states add up,
// the server took a letter at most once and a delivered one exactly once,
// and the journal reopened says what its records say. It runs with BDAT,
// and with DATA, where each letter's end carries the next one's envelope
// (Tx.Next).
func TestFaultSoak(t *testing.T) {
	t.Run("BDAT", func(t *testing.T) { faultSoak(t, false) })
	t.Run("DATA", func(t *testing.T) { faultSoak(t, true) })
}

func faultSoak(t *testing.T, noChunking bool) {
	seed := rand.Uint64()
	if s := os.Getenv("MAILMERGE_SOAK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("faults from seed %d (MAILMERGE_SOAK_SEED=%d replays them)", seed, seed)
	n := 1500
	if s := os.Getenv("MAILMERGE_SOAK_LETTERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("MAILMERGE_SOAK_LETTERS=%q: want a number of letters", s)
		}
	}
	t.Logf("%d letters (MAILMERGE_SOAK_LETTERS sets how many)", n)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 7))
	roll := func() int { mu.Lock(); defer mu.Unlock(); return rng.IntN(1000) }
	taken := map[string]int{} // Message-ID → times the server took the letter
	perSession := map[*gosmtp.Conn]int{}
	msgID := regexp.MustCompile(`Message-ID: (<[^>]+>)`)
	take := func(msg []byte) {
		mu.Lock()
		defer mu.Unlock()
		taken[string(msgID.FindSubmatch(msg)[1])]++
	}
	const dataTimeout = 400 * time.Millisecond
	faults := map[string]int{}
	fault := func(kind string) { mu.Lock(); faults[kind]++; mu.Unlock() }
	be := &backend{
		rcpt: func(c *gosmtp.Conn, _ string, _ int) error {
			switch r := roll(); {
			case r < 80:
				fault("451 at RCPT")
				return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			case r < 110:
				fault("452 at RCPT")
				return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
			case r < 120:
				fault("550 at RCPT")
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case r < 130:
				fault("421 at RCPT")
				return hangUp(c, "421 4.3.2 shutting down")
			}
			return nil
		},
		midData: func(*gosmtp.Conn, []string) bool {
			if roll() < 10 {
				fault("dropped in the body")
				return true
			}
			return false
		},
		data: func(c *gosmtp.Conn, msg []byte, _ int) error {
			mu.Lock()
			perSession[c]++
			k := perSession[c]
			mu.Unlock()
			if k > 25 {
				fault("421: too many in a session")
				return hangUp(c, "421 4.7.0 too many messages in one session")
			}
			switch r := roll(); {
			case r < 10:
				fault("554 after the data")
				return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "content refused"}
			case r < 120:
				fault("451 after the data")
				return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			case r < 130:
				fault("taken, then the connection lost before the reply")
				take(msg)
				c.Conn().Close()
				return fmt.Errorf("dropped")
			case r < 133:
				fault("taken after a stall past the client's timeout")
				time.Sleep(dataTimeout + 300*time.Millisecond)
				take(msg)
				return nil
			}
			take(msg)
			return nil
		},
	}
	port := startServer(t, be, nil)
	tr := smtpTransport(port)
	tr.Timeout, tr.DataTimeout = 2*time.Second, dataTimeout
	tr.NoChunking = noChunking
	var trace bytes.Buffer
	if noChunking {
		tr.Trace = NewTrace(&lockedBuffer{b: &trace})
	}
	path := filepath.Join(t.TempDir(), "soak.journal")
	ls := letters(n)
	tune := func(p *Pool) { p.Concurrency, p.PolicyStop, p.Backoff = 4, 0, time.Millisecond }

	runs := 0
	for ; runs < 30; runs++ {
		st, _, err := runPoolJournal(t, path, tr, ls, tune)
		if err != nil {
			t.Logf("run %d: %v", runs+1, err) // a run may stop (no session left); the next goes on
		}
		if st.Deferred == 0 && st.Untouched == 0 && err == nil {
			break
		}
	}
	t.Logf("%d runs; faults %v", runs+1, faults)

	last := map[string]journal.Record{}
	if err := journal.Read(path, func(r journal.Record) error { last[r.MessageID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	states := map[journal.State]int{}
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, l := range ls {
		r, ok := last[l.MessageID]
		if !ok {
			t.Errorf("%s: no record", l.MessageID)
			continue
		}
		st := r.Final()
		if len(r.Rejected) > 0 {
			st = r.Rejected[0].Final() // one recipient: its own state
		}
		states[st]++
		switch got := taken[l.MessageID]; st {
		case journal.Delivered:
			if got != 1 {
				t.Errorf("%s delivered, taken %d times", l.MessageID, got)
			}
		case journal.Unknown:
			if got > 1 {
				t.Errorf("%s unknown, taken %d times", l.MessageID, got)
			}
		case journal.Failed:
			if got != 0 {
				t.Errorf("%s failed, taken %d times", l.MessageID, got)
			}
		default:
			t.Errorf("%s ends %s", l.MessageID, st)
		}
		e := j.Lookup(l.Key, tr.Destination())
		if s, _ := e.StateOf(l.Recipients[0]); s != st {
			t.Errorf("%s: the journal reopened says %s, its records %s", l.MessageID, s, st)
		}
	}
	if states[journal.Delivered]+states[journal.Failed]+states[journal.Unknown] != n {
		t.Errorf("final states %v do not add up to %d", states, n)
	}
	for id, k := range taken {
		if k > 1 {
			t.Errorf("%s taken %d times", id, k)
		}
	}
	if runs == 0 {
		t.Error("every letter settled in the first run: the soak did not carry letters over to a later run")
	}
	t.Logf("final states %v", states)
	if early, _ := envelopes(trace.String()); noChunking && early < n/2 {
		t.Errorf("%d envelopes went with the end of the letter before, want most of %d", early, n)
	}
}
