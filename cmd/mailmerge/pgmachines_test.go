package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/pgjournal"
	"github.com/mailmerge/mailmerge/internal/testpg"
)

// faultyServer is a countingServer that misbehaves, by the person a
// letter goes to (pN@example.com): it refuses some for good at RCPT
// (550), defers the first try of some after their data (451), and takes
// the first try of some and drops the connection before it answers:
// the sender cannot know their fate.
type faultyServer struct {
	countingServer
	tries map[string]int // data received, by Message-ID
}

func newFaultyServer() *faultyServer {
	return &faultyServer{countingServer: countingServer{seen: map[string]int{}, to: map[string]int{}}, tries: map[string]int{}}
}

func (s *faultyServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &faultySession{s: s, c: c}, nil
}

type faultySession struct {
	s *faultyServer
	c *smtp.Conn
	n int // the person's number
}

func (f *faultySession) Mail(string, *smtp.MailOptions) error { return nil }
func (f *faultySession) Reset()                               {}
func (f *faultySession) Logout() error                        { return nil }

func (f *faultySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	fmt.Sscanf(to, "p%d@", &f.n)
	if f.n%97 == 0 {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	return nil
}

func (f *faultySession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := messageID.FindSubmatch(data)
	if m == nil {
		return fmt.Errorf("no Message-ID")
	}
	id := string(m[1])
	f.s.mu.Lock()
	f.s.tries[id]++
	first := f.s.tries[id] == 1
	f.s.mu.Unlock()
	switch {
	case first && f.n%53 == 1:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case first && f.n%211 == 2:
		f.s.count(id, data) // the server has it,
		f.c.Conn().Close()  // and the sender never hears
		return nil
	}
	f.s.count(id, data)
	return nil
}

// count counts a letter the server took, as countingServer does, without
// its pause: twenty thousand letters, and each run killed within 3.3 s
// of its start, need none.
func (s *faultyServer) count(id string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[id]++
	if to := toHeader.FindSubmatch(data); to != nil {
		s.to[string(to[1])]++
	}
}

// TestMachinesPostgres: three sends of one campaign of 20,000 letters,
// as three machines would run them, on one journal in PostgreSQL,
// against a faultyServer; each is killed with SIGKILL at random moments
// (from a logged seed) and started again, then runs to its end. No
// letter reaches the server twice; every letter ends in one final
// state, the states adding up to the list; a letter refused for good
// never reached the server, and was one the server refuses (or, killed
// mid-letter, unknown). Then the same with a daily limit of the
// account the three share: together they send no more than it.
func TestMachinesPostgres(t *testing.T) {
	t.Parallel() // its own cluster: it runs beside the other PostgreSQL tests
	srv := testpg.Start(t)
	seed := crashSeed(t)
	const n = 20000
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		be := newFaultyServer()
		states, runs, outs := sendOnMachines(t, srv, be, "machines", n, "", rand.New(rand.NewPCG(seed, 3)))
		if got := states[journal.Delivered] + states[journal.Failed] + states[journal.Unknown]; got != n {
			t.Errorf("final states %v add up to %d, want %d", states, got, n)
		}
		if !strings.Contains(strings.Join(outs, ""), "delivered meanwhile by another machine sending this mailing") {
			t.Errorf("no last run said it left letters to the others:\n%s", strings.Join(outs, "\n"))
		}
		t.Logf("final states %v; %d runs", states, runs)
	})
	t.Run("daily_limit", func(t *testing.T) {
		t.Parallel()
		const limit = 12000
		be := newFaultyServer()
		states, runs, _ := sendOnMachines(t, srv, be, "quota", n, fmt.Sprintf("  daily_limit: %d/24h\n", limit), rand.New(rand.NewPCG(seed, 4)))
		tried := states[journal.Delivered] + states[journal.Failed] + states[journal.Unknown]
		if tried > limit {
			t.Errorf("%d letters sent, over the shared daily limit of %d", tried, limit)
		}
		if be.mu.Lock(); len(be.seen) > limit {
			t.Errorf("the server saw %d letters, over the daily limit of %d", len(be.seen), limit)
		}
		be.mu.Unlock()
		if tried < limit*9/10 {
			t.Errorf("only %d letters sent of a daily limit of %d: the grants lost to kills are not so many", tried, limit)
		}
		if left := states[""] + states[journal.Deferred]; tried+left != n {
			t.Errorf("%d sent and %d left, want %d in all", tried, left, n)
		}
		t.Logf("final states %v; %d runs", states, runs)
	})
}

// sendOnMachines runs three sends of an n-letter campaign named name,
// with the send: section's extra keys, on a new database of srv, to a
// server of be; each is killed three times at random moments and then
// runs to its end. It checks that no letter reached the server twice,
// and returns the letters by final state ("" for none sent) and how
// many runs there were, and the output of each one's last run. With extra keys (a daily limit), a letter may be
// left deferred: its retry found no room.
func sendOnMachines(t *testing.T, srv *testpg.Server, be *faultyServer, name string, n int, extra string, rng *rand.Rand) (states map[journal.State]int, runs int, lastRuns []string) {
	limited := extra != ""
	url := srv.NewDB(t)
	bin, cfg := realSendTo(t, name, n, "  concurrency: 4\n  retry_delay: 10ms\n  lease: 2s\n"+extra+
		"  journal: "+url+"\n  journal_password_env: MM_TEST_JOURNAL_PW\n", be)
	// The tables first, so that three first runs do not race to make
	// them (they would wait in turn, which is correct but slow).
	db := pgjournal.DB{URL: url, Password: testpg.Password, Campaign: name}
	if _, _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const machines, kills = 3, 3
	delays := make([][]time.Duration, machines)
	for m := range delays {
		for range kills {
			delays[m] = append(delays[m], time.Duration(300+rng.IntN(3000))*time.Millisecond)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for m := range machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for run := 0; run <= len(delays[m]); run++ {
				cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
				cmd.Env = append(os.Environ(), "MM_TEST_JOURNAL_PW="+testpg.Password)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				runs++
				mu.Unlock()
				start := time.Now()
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				var err error
				if run < len(delays[m]) {
					select {
					case err = <-done:
					case <-time.After(delays[m][run]):
						cmd.Process.Signal(syscall.SIGKILL)
						<-done
						continue
					}
				} else {
					select {
					case err = <-done:
					case <-time.After(3 * time.Minute):
						// Stuck: its goroutines go to its output, below.
						cmd.Process.Signal(syscall.SIGQUIT)
						err = <-done
						t.Errorf("machine %d's last run did not end in 3 minutes", m+1)
					}
				}
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Error(err)
					return
				}
				switch code {
				case exitOK, exitSomeFailed, exitRerun, exitUnknown:
				default:
					t.Errorf("machine %d, run %d: exit %d\n%s", m+1, run, code, out.String())
					return
				}
				if run == len(delays[m]) {
					mu.Lock()
					lastRuns = append(lastRuns, out.String())
					mu.Unlock()
					t.Logf("machine %d's last run: exit %d after %v: %s", m+1, code, time.Since(start).Round(time.Millisecond), lastLine(out.String()))
				}
			}
		}()
	}
	wg.Wait()
	last := map[string]journal.Record{}
	if err := db.Records(context.Background())(func(r journal.Record) error {
		if r.State != journal.Attempt {
			last[r.MessageID] = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	states = map[journal.State]int{}
	be.mu.Lock()
	defer be.mu.Unlock()
	for id, r := range last {
		final := r.Final()
		seen := be.seen[id]
		var who int
		fmt.Sscanf(r.Rcpt[0], "p%d@", &who)
		refused := who%97 == 0 // by the server, at RCPT
		switch {
		case refused && final == journal.Delivered:
			t.Errorf("%s delivered per the journal, and the server refuses its recipient", id)
		case !refused && final == journal.Failed:
			t.Errorf("%s refused per the journal, and the server takes its recipient", id)
		}
		switch {
		case final == journal.Delivered && seen != 1:
			t.Errorf("%s delivered per the journal, seen %d times by the server", id, seen)
		case final == journal.Failed && seen != 0:
			t.Errorf("%s refused for good per the journal, seen %d times", id, seen)
		case final == journal.Unknown && seen > 1:
			t.Errorf("%s unknown, seen %d times", id, seen)
		case final == journal.Deferred && (!limited || seen != 0):
			t.Errorf("%s deferred, seen %d times", id, seen)
		case final != journal.Delivered && final != journal.Failed && final != journal.Unknown && final != journal.Deferred:
			t.Errorf("%s ends in state %s", id, final)
		}
		states[final]++
	}
	for id, seen := range be.seen {
		if seen > 1 {
			t.Errorf("%s reached the server %d times", id, seen)
		}
		if _, ok := last[id]; !ok {
			t.Errorf("%s reached the server and the journal has no outcome of it", id)
		}
	}
	states[""] = n - len(last)
	return states, runs, lastRuns
}

// lastLine is the summary line of a send's output: its counts.
func lastLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "delivered ") {
			return line
		}
	}
	return "(no summary)"
}
