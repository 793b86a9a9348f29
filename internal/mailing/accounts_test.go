package mailing

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/spf13/pflag"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// TestSendingTime: the plan's time of a run through accounts, each at
// its rate until its window is spent.
func TestSendingTime(t *testing.T) {
	perSec := func(n int) config.Rate { return config.Rate{N: n, Per: time.Second} }
	tests := []struct {
		run      int
		accounts []sender.Account
		rates    []config.Rate
		want     time.Duration
	}{
		{100, []sender.Account{{}}, []config.Rate{perSec(10)}, 10 * time.Second},
		{150, []sender.Account{{}, {}}, []config.Rate{perSec(20), perSec(10)}, 5 * time.Second},
		// 30 through the first in 1.5 s, 15 through the second meanwhile,
		// the other 45 through the second alone in 4.5 s.
		{90, []sender.Account{{MaxLetters: 30}, {}}, []config.Rate{perSec(20), perSec(10)}, 6 * time.Second},
		{90, []sender.Account{{Budget: 30}, {}}, []config.Rate{perSec(20), perSec(10)}, 6 * time.Second},
		{90, []sender.Account{{}, {}}, []config.Rate{perSec(20), {}}, 0},
		{600, []sender.Account{{MaxLetters: 100}}, []config.Rate{{N: 60, Per: time.Minute}}, 100 * time.Second},
	}
	for _, tt := range tests {
		if got := sendingTime(tt.run, tt.accounts, tt.rates).Round(time.Millisecond); got != tt.want {
			t.Errorf("sendingTime(%d, %+v, %v) = %v, want %v", tt.run, tt.accounts, tt.rates, got, tt.want)
		}
	}
}

// sink is an SMTP server that takes every letter and counts them.
type sink struct {
	mu sync.Mutex
	n  int
}

func (s *sink) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return s, nil }
func (s *sink) Mail(string, *gosmtp.MailOptions) error          { return nil }
func (s *sink) Rcpt(string, *gosmtp.RcptOptions) error          { return nil }
func (s *sink) Reset()                                          {}
func (s *sink) Logout() error                                   { return nil }
func (s *sink) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return nil
}

func startSink(t *testing.T) (int, *sink) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	srv := gosmtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, s
}

// TestPlanIsHonest: the time the confirmation plans for a run through
// two rate-limited accounts, one of which spends its window on the way,
// against the time the run takes. The rates make the run no faster than
// planned, whatever the machine; how much slower it is, the plan's
// error, is logged (docs/scaling.md has the figures).
func TestPlanIsHonest(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	const n = 90
	portA, a := startSink(t)
	portB, b := startSink(t)
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range n {
		fmt.Fprintf(&csv, "p%d@example.com\n", i)
	}
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: s@example.com\nTo: {{.email}}\nSubject: Hello\n\nHello\n"), 0o644)
	path := filepath.Join(dir, "plan.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`template: letter.txt
recipients:
  file: people.csv
accounts:
  - name: fast
    host: 127.0.0.1
    port: %d
    security: none
    rate: 20/s
    daily_limit: 30
  - name: slow
    host: 127.0.0.1
    port: %d
    security: none
    rate: 10/s
`, portA, portB)), 0o644)
	cfg, _, err := config.Load(path, pflag.NewFlagSet("test", pflag.ContinueOnError), nil, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	var planned time.Duration
	var start time.Time
	res, err := Send(context.Background(), cfg, SendOptions{Confirm: func(c Confirmation) error {
		planned, start = c.Duration, time.Now()
		return nil
	}})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Delivered != n || a.n != 30 || b.n != n-30 {
		t.Fatalf("delivered %d: %d through fast, %d through slow; want %d, 30, %d", res.Stats.Delivered, a.n, b.n, n, n-30)
	}
	if planned != 6*time.Second {
		t.Errorf("planned %v, want 6s (30 letters at 20/s beside 15 at 10/s, then 45 at 10/s)", planned)
	}
	// Each account's first letter goes at once (the rate's burst of one):
	// the run takes at least a letter's turn less than planned.
	if took < planned-100*time.Millisecond {
		t.Errorf("took %v, planned %v: faster than the rates allow", took, planned)
	}
	t.Logf("planned %v, took %v: off by %+.1f%%", planned, took.Round(time.Millisecond), 100*(took.Seconds()-planned.Seconds())/planned.Seconds())
}

// TestLoginAccount: login and logout are for the account of smtp:, the
// one account of accounts: that uses oauth2, or the one --account names.
func TestLoginAccount(t *testing.T) {
	one := &config.Config{SMTP: config.SMTP{Username: "me@x.example"}}
	if got, err := LoginAccount(one, ""); err != nil || got != one {
		t.Errorf("smtp: %v, %v", got, err)
	}
	if _, err := LoginAccount(one, "ya"); err == nil || !strings.Contains(err.Error(), "no accounts list") {
		t.Errorf("--account without accounts: %v", err)
	}
	acc := func(name string, auth config.Auth) config.Account {
		return config.Account{Name: name, SMTP: config.SMTP{Auth: auth, Username: name + "@x.example"}}
	}
	several := &config.Config{Accounts: []config.Account{acc("ya", config.Password), acc("ms", config.OAuth)}}
	if got, err := LoginAccount(several, ""); err != nil || got.SMTP.Username != "ms@x.example" {
		t.Errorf("the one oauth2 account: %v, %v", got, err)
	}
	if got, err := LoginAccount(several, "YA"); err != nil || got.SMTP.Username != "ya@x.example" {
		t.Errorf("--account YA: %v, %v", got, err)
	}
	several.Accounts = append(several.Accounts, acc("go", config.OAuth))
	if _, err := LoginAccount(several, ""); err == nil || !strings.Contains(err.Error(), "ms, go") {
		t.Errorf("two oauth2 accounts: %v", err)
	}
	if _, err := LoginAccount(several, "nope"); err == nil || !strings.Contains(err.Error(), "no such account") {
		t.Errorf("--account nope: %v", err)
	}
}
