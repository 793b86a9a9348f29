package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// countingServer accepts every letter and counts each Message-ID.
type countingServer struct {
	mu   sync.Mutex
	seen map[string]int
	to   map[string]int // letters by their To: a copy's letters have Message-IDs of their own
}

var messageID = regexp.MustCompile(`(?m)^Message-ID: (<[^>]+>)\r$`)

func (b *countingServer) NewSession(*smtp.Conn) (smtp.Session, error) { return b, nil }
func (b *countingServer) Mail(string, *smtp.MailOptions) error        { return nil }
func (b *countingServer) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (b *countingServer) Reset()                                      {}
func (b *countingServer) Logout() error                               { return nil }
func (b *countingServer) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Millisecond) // a server's work; gives the kills room to land mid-run
	m := messageID.FindSubmatch(data)
	if m == nil {
		return fmt.Errorf("no Message-ID")
	}
	b.mu.Lock()
	b.seen[string(m[1])]++
	if to := toHeader.FindSubmatch(data); to != nil {
		b.to[string(to[1])]++
	}
	b.mu.Unlock()
	return nil
}

var toHeader = regexp.MustCompile(`(?m)^To: (.+)\r$`)

// realSend builds the mailmerge binary and writes a mailing of n letters
// into a temporary folder, to be sent to a countingServer it starts. The
// config is NAME.yaml with the given send: section.
func realSend(t *testing.T, name string, n int, send string) (bin, cfg string, be *countingServer) {
	t.Helper()
	be = &countingServer{seen: map[string]int{}, to: map[string]int{}}
	bin, cfg = realSendTo(t, name, n, send, be)
	return bin, cfg, be
}

// realSendTo is realSend to a server of backend be.
func realSendTo(t *testing.T, name string, n int, send string, be smtp.Backend) (bin, cfg string) {
	t.Helper()
	bin = buildMailmerge(t)
	port := serveSMTP(t, name, be)
	dir := filepath.Dir(bin)
	writeLetters(t, dir, n)
	cfg = filepath.Join(dir, name+".yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("template: letter.txt\nrecipients:\n  file: people.csv\nsmtp:\n  host: 127.0.0.1\n  port: %d\n  security: none\nsend:\n%s", port, send)), 0o644)
	return bin, cfg
}

// buildMailmerge builds the mailmerge binary into a temporary folder of
// its own and returns its path.
func buildMailmerge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mailmerge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// serveSMTP starts an SMTP server of backend be, greeting as NAME.test,
// on a loopback port it returns; it stops with the test.
func serveSMTP(t *testing.T, name string, be smtp.Backend) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(be)
	srv.Domain = name + ".test"
	srv.ErrorLog = log.New(io.Discard, "", 0) // killed clients make noise
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// writeLetters writes into dir a list of n people, pI@example.com
// (people.csv), and the letter to each (letter.txt).
func writeLetters(t *testing.T, dir string, n int) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("name,email\n")
	for i := range n {
		fmt.Fprintf(&csv, "Person %d,p%d@example.com\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.name}} <{{.email}}>\nSubject: Hello {{.name}}\n\nHello {{.name}}\n"), 0o644)
}

// crashSeed returns the seed of TestCrashResume's kill times: random, or
// $MAILMERGE_CRASH_SEED to replay a failed run. It is logged either way.
func crashSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("MAILMERGE_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MAILMERGE_CRASH_SEED: %v", err)
		}
	}
	t.Logf("kill times from seed %d (MAILMERGE_CRASH_SEED=%d replays them)", seed, seed)
	return seed
}

// killedSends runs send on cfg: the first eight runs are killed with
// SIGKILL after a random from to from+window milliseconds, unless they end
// first; then one runs to its end. A run that ends must end well, or with
// letters of unknown fate (exit 10), which no run resends. env is added to
// the environment. It returns the kills and the output of each run that
// ended.
func killedSends(t *testing.T, bin, cfg string, env []string, rng *rand.Rand, from, window int) (kills int, outs []string) {
	t.Helper()
	for run := 0; run <= 8; run++ {
		cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if run < 8 {
			select {
			case err = <-done:
			case <-time.After(time.Duration(from+rng.IntN(window)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
				continue
			}
		} else {
			err = <-done
		}
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != exitUnknown) {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		outs = append(outs, out.String())
		if run == 8 {
			t.Logf("run %d went to the end after %d kills: %s", run, kills, strings.TrimSpace(out.String()))
		}
	}
	return kills, outs
}

// TestCrashResume kills a real send with SIGKILL at random moments, runs
// it again until it completes, and checks that every letter ends in one
// final state and that no letter reached the server twice. The moments
// come from a logged seed: a failure can be run again with the same kill
// times (the machine's own timing still varies).
func TestCrashResume(t *testing.T) {
	const n = 300
	rng := rand.New(rand.NewPCG(crashSeed(t), 0))
	bin, cfg, be := realSend(t, "crash", n, "  concurrency: 4\n  retry_delay: 10ms\n")
	dir := filepath.Dir(cfg)

	kills, _ := killedSends(t, bin, cfg, nil, rng, 10, 200)
	if kills == 0 {
		t.Fatal("no run was killed; the test proves nothing")
	}

	states := checkOnce(t, journal.File(filepath.Join(dir, "crash.journal")), be, n)
	t.Logf("%d kills; final states %v; server saw %d messages", kills, states, len(be.seen))
}

// checkOnce checks, from the journal's records and what the server saw,
// that each of the n letters ends in one final state, delivered or
// unknown, and that none reached the server twice; it returns the
// letters by final state.
func checkOnce(t *testing.T, recs journal.Records, be *countingServer, n int) map[journal.State]int {
	t.Helper()
	last := map[string]journal.Record{}
	if err := recs(func(r journal.Record) error {
		last[r.MessageID] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(last) != n {
		t.Errorf("the journal knows %d letters, want %d", len(last), n)
	}
	states := map[journal.State]int{}
	be.mu.Lock()
	defer be.mu.Unlock()
	for id, r := range last {
		states[r.Final()]++
		switch seen := be.seen[id]; r.Final() {
		case journal.Delivered:
			if seen != 1 {
				t.Errorf("%s delivered per the journal, seen %d times by the server", id, seen)
			}
		case journal.Unknown:
			if seen > 1 {
				t.Errorf("%s unknown, seen %d times", id, seen)
			}
		default:
			t.Errorf("%s ends in state %s", id, r.Final())
		}
	}
	for id, seen := range be.seen {
		if seen > 1 {
			t.Errorf("%s reached the server %d times", id, seen)
		}
	}
	return states
}

// TestInterruptCLI sends SIGINT to a real send: it stops dispatching,
// lets letters in flight finish, records them, exits 130; the next run
// sends the rest and nobody gets a letter twice.
func TestInterruptCLI(t *testing.T) {
	const n = 200
	bin, cfg, be := realSend(t, "int", n, "  concurrency: 2\n  rate: 100/s\n")
	dir := filepath.Dir(cfg)

	cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once some letters are through, however slow the machine.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		be.mu.Lock()
		seen := len(be.seen)
		be.mu.Unlock()
		if seen >= 10 {
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "stopping: letters in flight finish") || !strings.Contains(out.String(), "interrupted; run send again") {
		t.Errorf("output:\n%s", out.String())
	}
	states := map[journal.State]int{}
	journal.Read(filepath.Join(dir, "int.journal"), func(r journal.Record) error {
		if r.State != journal.Attempt && r.State != journal.EOD {
			states[r.State]++
		}
		return nil
	})
	be.mu.Lock()
	first := len(be.seen)
	be.mu.Unlock()
	if states[journal.Delivered] != first || states[journal.Delivered] == 0 || states[journal.Delivered] == n || len(states) != 1 {
		t.Fatalf("after SIGINT: journal %v, server saw %d", states, first)
	}

	if out, err := exec.Command(bin, "send", "--yes", "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.seen) != n {
		t.Errorf("server saw %d letters, want %d", len(be.seen), n)
	}
	for id, c := range be.seen {
		if c != 1 {
			t.Errorf("%s seen %d times", id, c)
		}
	}
	t.Logf("SIGINT after %d letters; the re-run sent the other %d", first, n-first)
}

// holdingServer is a countingServer that keeps the first letter's reply
// until release is closed: that letter waits in flight, its end sent.
type holdingServer struct {
	*countingServer
	once    sync.Once
	got     chan struct{} // closed when the first letter arrived
	release chan struct{}
}

func (b *holdingServer) NewSession(*smtp.Conn) (smtp.Session, error) { return b, nil }
func (b *holdingServer) Data(r io.Reader) error {
	err := b.countingServer.Data(r)
	first := false
	b.once.Do(func() { first = true; close(b.got) })
	if first {
		<-b.release
	}
	return err
}

// TestAbortCLI: a second SIGINT cuts off the letter in flight. It waited
// for the server's reply to its end, so it may have arrived: it is of
// unknown fate, said to be stopped by the user (not a lost connection),
// and the next send sends the others and leaves it alone.
func TestAbortCLI(t *testing.T) {
	be := &holdingServer{countingServer: &countingServer{seen: map[string]int{}, to: map[string]int{}},
		got: make(chan struct{}), release: make(chan struct{})}
	bin, cfg := realSendTo(t, "abort", 3, "  concurrency: 1\n", be)
	t.Cleanup(func() { close(be.release) }) // before the server closes (cleanups run last first)
	dir := filepath.Dir(cfg)

	cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-be.got:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no letter reached the server:\n%s", out.String())
	}
	cmd.Process.Signal(os.Interrupt)
	out.waitFor(t, regexp.MustCompile(`mailmerge: (stopping): letters in flight finish`))
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"mailmerge: stopping now: the letters in flight are cut off\n",
		"people.csv:2: unknown p0@example.com: stopped by you (a second Ctrl-C) after the letter was sent, before the server said it had it; it may have been delivered (at EOD)\n",
		"delivered 0, failed 0, deferred 0, unknown 1, skipped 2 (of 3)\n",
		"mailmerge: interrupted; run send again to go on\n",
		"hint: 1 letter may have arrived: a later send leaves it alone (--resend-unknown sends it again); mailmerge report lists it\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "connection was lost") {
		t.Errorf("the abort is said to be the network's:\n%s", out.String())
	}
	var p0 journal.Record
	journal.Read(filepath.Join(dir, "abort.journal"), func(r journal.Record) error {
		if r.Line == 2 {
			p0 = r
		}
		return nil
	})
	if p0.Final() != journal.Unknown || p0.Text != journal.Stopped {
		t.Errorf("the letter cut off: journal %+v", p0)
	}

	// The next send sends the other two, not the one that may have arrived.
	rerun, err := exec.Command(bin, "send", "--yes", "-c", cfg).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUnknown {
		t.Fatalf("re-run: %v\n%s", err, rerun)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.seen) != 3 {
		t.Errorf("server saw %d letters, want 3", len(be.seen))
	}
	for id, c := range be.seen {
		if c != 1 {
			t.Errorf("%s seen %d times", id, c)
		}
	}
}

// TestCopiesCrash: a mailing's folder copied, and sends from both copies
// run at once, killed with SIGKILL at random moments and run again: one
// send of the campaign runs at a time (the other exits 9), a copy whose
// twin sent rows stops (exit 9), and nobody gets the letter twice.
func TestCopiesCrash(t *testing.T) {
	const n = 200
	rng := rand.New(rand.NewPCG(crashSeed(t), 1))
	bin, cfgA, be := realSend(t, "copies", n, "  concurrency: 4\n  retry_delay: 10ms\n")
	dirB := t.TempDir()
	for _, name := range []string{"copies.yaml", "people.csv", "letter.txt"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(cfgA), name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dirB, name), b, 0o644)
	}
	cfgB := filepath.Join(dirB, "copies.yaml")
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())

	var mu sync.Mutex
	exits := map[int]int{}
	kills := 0
	var wg sync.WaitGroup
	for _, cfg := range []string{cfgA, cfgB} {
		mu.Lock()
		delays := []time.Duration{}
		for range 8 {
			delays = append(delays, time.Duration(20+rng.IntN(300))*time.Millisecond)
		}
		mu.Unlock()
		wg.Go(func() {
			for _, d := range delays {
				cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
				cmd.Env = env
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				var err error
				select {
				case err = <-done:
				case <-time.After(d):
					cmd.Process.Signal(syscall.SIGKILL)
					<-done
					mu.Lock()
					kills++
					mu.Unlock()
					continue
				}
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Error(err)
				}
				mu.Lock()
				exits[code]++
				mu.Unlock()
				if code != 0 && code != exitLocked && code != exitUnknown {
					t.Errorf("%s: exit %d", cfg, code)
				}
			}
		})
	}
	wg.Wait()
	// Then each to its end, one after the other: whichever sent first
	// finishes the mailing; the other stops or finds nothing to send.
	for _, cfg := range []string{cfgA, cfgB} {
		cmd := exec.Command(bin, "send", "--yes", "-c", cfg)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		exits[code]++
		if code != 0 && code != exitLocked && code != exitUnknown {
			t.Errorf("%s: exit %d\n%s", cfg, code, out)
		}
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	for to, seen := range be.to {
		if seen > 1 {
			t.Errorf("%s got %d letters", to, seen)
		}
	}
	t.Logf("%d kills; exits %v; %d of %d people got their letter", kills, exits, len(be.to), n)
	if kills == 0 {
		t.Error("no run was killed; the test proves nothing")
	}
}
