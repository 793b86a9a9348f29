package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/smtp"
)

// closedPort is a loopback port nothing listens on: connections to it
// are refused.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// messageIDs counts the letters a backend took, by Message-ID.
func messageIDs(be *backend) map[string]int {
	seen := map[string]int{}
	for _, m := range be.messages() {
		id := string(m.data[bytes.Index(m.data, []byte("Message-ID: "))+12:])
		seen[id[:strings.Index(id, "\r\n")]]++
	}
	return seen
}

// TestAccounts: a campaign through three accounts, one of whose server
// refuses connections, one of which takes n letters and then answers
// with a provider's quota reply, and one healthy. Every letter arrives
// exactly once, at one of the two servers that take letters; the quota
// account is stopped, the refusing one paused and then stopped; the
// counts per account add up to the run's and to the journal's.
func TestAccounts(t *testing.T) {
	const n, total = 20, 300
	for _, q := range quotaRefusals {
		t.Run(q.name, func(t *testing.T) {
			healthy := &backend{}
			var mu sync.Mutex
			taken := 0
			quota := &backend{mail: func(c *gosmtp.Conn, _ string) error {
				mu.Lock()
				defer mu.Unlock()
				if taken >= n {
					return q.refuse(c)
				}
				taken++
				return nil
			}}
			accounts := []Account{
				{Name: "refusing", Transport: smtpTransport(closedPort(t)), Concurrency: 2},
				{Name: "quota", Transport: smtpTransport(startServer(t, quota, nil)), Concurrency: 2},
				{Name: "healthy", Transport: smtpTransport(startServer(t, healthy, nil)), Concurrency: 2},
			}
			path := filepath.Join(t.TempDir(), "m.journal")
			st, last, err := runPoolJournal(t, path, nil, letters(total), func(p *Pool) {
				p.Accounts = accounts
				p.MaxAttempts = 5
			})
			if err != nil {
				t.Fatalf("run: %v (%s)", err, summary(st))
			}
			if st.Delivered != total || st.Sent() != total {
				t.Errorf("%s; want all %d delivered", summary(st), total)
			}

			// Each letter once, at one server or the other.
			seen := messageIDs(healthy)
			for id, c := range messageIDs(quota) {
				seen[id] += c
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("%s arrived %d times", id, c)
				}
			}
			if len(seen) != total || len(quota.messages()) != n {
				t.Errorf("%d letters arrived, %d of them through the quota account; want %d, %d", len(seen), len(quota.messages()), total, n)
			}

			// The accounts' counts: each stopped or paused as it should be,
			// adding up to the run's and the journal's.
			a := st.Accounts
			if a["quota"].Delivered != n || a["quota"].Stopped == "" || !strings.Contains(a["quota"].Stopped, "account quota: ") {
				t.Errorf("quota account: %+v; want %d delivered, then stopped", a["quota"], n)
			}
			if a["refusing"].Sent() != 0 || a["refusing"].Paused == 0 || !strings.Contains(a["refusing"].Stopped, "refused") {
				t.Errorf("refusing account: %+v; want nothing sent, paused, then stopped", a["refusing"])
			}
			if a["healthy"].Stopped != "" || a["quota"].Delivered+a["healthy"].Delivered != total {
				t.Errorf("healthy account: %+v; the two delivered %d", a["healthy"], a["quota"].Delivered+a["healthy"].Delivered)
			}
			byAccount := map[string]int{}
			for _, r := range last {
				if r.State != journal.Delivered {
					t.Errorf("%s: %s", keyName(r), r.State)
				}
				byAccount[r.Account]++
			}
			if byAccount["quota"] != a["quota"].Delivered || byAccount["healthy"] != a["healthy"].Delivered || len(byAccount) != 2 {
				t.Errorf("journal's deliveries by account: %v; stats: %+v", byAccount, a)
			}
		})
	}
}

// TestAccountsAllStopped: when every account stops, the run stops with
// each one's reason, and the letters not sent stay due: none failed.
func TestAccountsAllStopped(t *testing.T) {
	q := quotaRefusals[0]
	quota := &backend{mail: func(c *gosmtp.Conn, _ string) error { return q.refuse(c) }}
	st, _, err := runPool(t, nil, letters(30), func(p *Pool) {
		p.Accounts = []Account{
			{Name: "a", Transport: smtpTransport(closedPort(t))},
			{Name: "b", Transport: smtpTransport(startServer(t, quota, nil))},
		}
	})
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(re.Error(), "every account stopped") || !strings.Contains(re.Error(), "account a: ") || !strings.Contains(re.Error(), "account b: ") {
		t.Fatalf("err = %v; want every account named", err)
	}
	if st.Failed != 0 || st.Delivered != 0 || st.Untouched+st.Deferred != 30 {
		t.Errorf("%s; want every letter deferred or untouched", summary(st))
	}
}

// TestAccountWindow: an account may take no more letters than what is
// left of its window (MaxLetters) or its recipients (Budget); the rest go
// through the other account, and a letter that fits none is left.
func TestAccountWindow(t *testing.T) {
	small, big := &backend{}, &backend{}
	st, last, err := runPool(t, nil, letters(40), func(p *Pool) {
		p.Accounts = []Account{
			{Name: "small", Transport: smtpTransport(startServer(t, small, nil)), MaxLetters: 7, Concurrency: 2},
			{Name: "big", Transport: smtpTransport(startServer(t, big, nil)), Budget: 25, Concurrency: 2},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(small.messages()) != 7 || len(big.messages()) != 25 || st.Delivered != 32 || st.Untouched != 8 {
		t.Errorf("small took %d, big %d; %s; want 7, 25, 8 untouched", len(small.messages()), len(big.messages()), summary(st))
	}
	if len(last) != 32 {
		t.Errorf("journal has %d letters; want 32", len(last))
	}
}

// TestChooseByWeight: of the accounts with room, the one furthest behind
// its weighted share takes the next letter; a paused one, a full one, or
// one whose window is spent takes none.
func TestChooseByWeight(t *testing.T) {
	mk := func(name string, weight, concurrency int) *lane {
		return newLane(Account{Name: name, Transport: &Maildir{}, Weight: weight, Concurrency: concurrency})
	}
	a, b := mk("a", 1, 100), mk("b", 3, 100)
	d := &dispatcher{p: &Pool{Log: slog.New(slog.DiscardHandler)}, lanes: []*lane{a, b}, dispatch: context.Background()}
	for range 40 {
		ln, ok := d.choose(1)
		if !ok || ln == nil {
			t.Fatal("no account chosen")
		}
		ln.taken++
	}
	if a.taken != 10 || b.taken != 30 {
		t.Errorf("a took %d, b %d; want 10 and 30", a.taken, b.taken)
	}
	b.until = time.Now().Add(time.Hour)
	if ln, _ := d.choose(1); ln != a {
		t.Errorf("b paused: chose %v", ln.Name)
	}
	a.MaxLetters = a.taken
	if ln, ok := d.choose(1); ln != nil || !ok {
		t.Errorf("a's window spent, b paused: chose %v, %v; want none now, b later", ln, ok)
	}
	b.err = &RunError{Text: "stopped"}
	if _, ok := d.choose(1); ok {
		t.Error("every account spent or stopped: still one may take a letter")
	}
}

// TestAccountLoginRefused: an account whose server refuses its login is
// stopped alone, after one try whatever its sessions, and named; the
// other account carries every letter.
func TestAccountLoginRefused(t *testing.T) {
	serverTLS, roots := testCA(t)
	bad := &backend{user: "me", pass: "s3cret-pw"}
	tr := smtpTransport(startServerOn(t, bad, serverTLS, false))
	tr.Security, tr.Username, tr.Password = smtp.StartTLS, "me", "wrong-pw"
	tr.TLSConfig = &tls.Config{ServerName: "localhost", RootCAs: roots}
	good := &backend{}
	st, last, err := runPool(t, nil, letters(50), func(p *Pool) {
		p.Accounts = []Account{
			{Name: "bad", Transport: tr, Concurrency: 4},
			{Name: "good", Transport: smtpTransport(startServer(t, good, nil)), Concurrency: 2},
		}
	})
	if err != nil || st.Delivered != 50 || len(last) != 50 || len(good.messages()) != 50 {
		t.Fatalf("%v; %s; %d in the journal, %d at the good server", err, summary(st), len(last), len(good.messages()))
	}
	if bad.auths != 1 || !strings.HasPrefix(st.Accounts["bad"].Stopped, "account bad: AUTH: 535") {
		t.Errorf("%d AUTH attempts; bad: %+v", bad.auths, st.Accounts["bad"])
	}
}
