package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"golang.org/x/time/rate"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
	"github.com/mailmerge/mailmerge/internal/template"
)

// Exit codes of send, beyond the common ones.
const (
	exitSomeFailed  = 5 // some letters were refused for good
	exitRerun       = 6 // some letters are deferred, unknown or not sent yet: run again later
	exitAuth        = 7 // the server rejected the credentials
	exitUnavailable = 8 // no connection, TLS failed, or the server refuses letter after letter
)

type sendFlags struct {
	limit         int
	trace         string
	resendUnknown bool
	yes           bool
	verbose       bool
}

func newSendCmd() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Check every row, then deliver the letters not yet delivered",
		Long: `send checks every row as check does and sends nothing if anything is wrong.
Then it delivers each letter through the configured SMTP server or Maildir
folder, recording every outcome in the journal, and prints a summary.

Run it again after an interruption, a crash or temporary failures: letters
already delivered or refused for good are skipped, so nobody gets a letter
twice. A letter whose fate is unknown (the connection was lost after it was
sent) is not resent unless --resend-unknown is given.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runSend(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.limit, "limit", "n", 0, "send at most N letters in this run (0: all)")
	fl.Int("concurrency", 0, "SMTP sessions at once (overrides send.concurrency)")
	fl.String("rate", "", "letters per time, e.g. 10/s, 100/min (overrides send.rate)")
	fl.StringVar(&f.trace, "trace", "", "write the SMTP dialogue to `FILE` (passwords and bodies left out)")
	fl.BoolVar(&f.resendUnknown, "resend-unknown", false, "also resend letters whose delivery is unknown (same Message-ID)")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every letter")
	return cmd
}

func runSend(cmd *cobra.Command, f sendFlags) error {
	if f.limit < 0 {
		return usageError("--limit must not be negative")
	}
	cfg, err := loadConfig(cmd, map[string]string{"concurrency": "send.concurrency", "rate": "send.rate"})
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var trace *sender.Trace
	if f.trace != "" {
		tf, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer tf.Close()
		trace = sender.NewTrace(tf)
	}
	transport, err := newTransport(cmd, cfg, trace)
	if err != nil {
		return err
	}

	// The journal first: its lock keeps a second send of this campaign out
	// from the start, and it tells which letters are still to send.
	j, err := journal.Open(cfg.Send.Journal)
	if errors.Is(err, journal.ErrLocked) {
		return &exitError{code: exitLocked, err: err, hint: "wait for the other send to finish, or stop it (Ctrl-C) and run send again"}
	}
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	defer j.Close()

	// Preflight: every row must render before anything is sent.
	toSend, known := 0, 0
	sum, err := newCampaign(cmd, cfg).Letters(cmd.Context(), func(l *template.Letter, _ *recipients.Record) error {
		state, _, ok := j.Status(l.Key)
		if ok {
			known++
		}
		if !ok || !journal.Settled(state, f.resendUnknown) {
			toSend++
		}
		return nil
	})
	if err := problemsError(sum, err); err != nil {
		return err
	}
	if sum.Letters == 0 {
		return &exitError{code: exitData, err: errors.New("no letters to send")}
	}
	// Letters are known by campaign and recipients: a renamed campaign
	// makes every letter new, which is worth a word before it happens.
	if n := j.Letters(); n > 0 && known == 0 {
		fmt.Fprintf(stderr, "warning: %s has records of %s, none of them in this mailing: if campaign: (%q) changed, every letter goes out again\n",
			filepath.Base(cfg.Send.Journal), plural(n, "letter"), cfg.Campaign)
	}
	// Say how the file was read: a wrongly guessed encoding garbles names.
	printSource(stdout, cfg, sum)

	maxLetters := f.limit
	if cfg.Send.DailyLimit > 0 {
		left := cfg.Send.DailyLimit - deliveredToday(cfg.Send.Journal)
		if left <= 0 {
			return &exitError{code: exitRerun, err: fmt.Errorf("send.daily_limit of %d letters reached today", cfg.Send.DailyLimit), hint: "run again tomorrow"}
		}
		if maxLetters == 0 || left < maxLetters {
			maxLetters = left
		}
	}

	if toSend > 0 && !f.yes && isTerminal(cmd.InOrStdin()) {
		what := plural(sum.Letters, "letter") + " (" + plural(sum.Recipients, "recipient") + ")"
		if toSend < sum.Letters {
			what = fmt.Sprintf("%d of %s (the others were sent before)", toSend, plural(sum.Letters, "letter"))
		}
		fmt.Fprintf(stderr, "Send %s from %s via %s? [y/N] ", what, cfg.Recipients.File, transport.Describe())
		answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return &exitError{code: exitUsage, err: errors.New("not confirmed; nothing was sent")}
		}
	}

	r, _ := config.ParseRate(cfg.Send.Rate)
	var limiter *rate.Limiter
	if r.N > 0 {
		limiter = rate.NewLimiter(rate.Limit(float64(r.N)/r.Per.Seconds()), 1)
	}
	pool := &sender.Pool{
		Transport:     transport,
		Journal:       j,
		Concurrency:   cfg.Send.Concurrency,
		Limit:         limiter,
		MaxAttempts:   cfg.Send.MaxAttempts,
		PerSession:    cfg.Send.MessagesPerConnection,
		Backoff:       cfg.Send.RetryDelay,
		OpenTries:     3,
		PolicyStop:    5,
		MaxLetters:    maxLetters,
		ResendUnknown: f.resendUnknown,
		Log:           log,
		Progress:      progressLine(stderr, sum.Letters, 10*time.Second),
	}

	ctx := cmd.Context()
	hard, stop := secondInterrupt(ctx, stderr)
	defer stop()

	st, runErr := pool.Run(ctx, hard, func(yield func(*template.Letter) bool) error {
		_, err := newCampaign(cmd, cfg).Letters(ctx, func(l *template.Letter, _ *recipients.Record) error {
			if !yield(l) {
				return campaign.ErrStop
			}
			return nil
		})
		if errors.Is(err, campaign.ErrProblems) {
			return errors.New("the recipients or the template changed since the check; stopped")
		}
		return err
	})
	printSendSummary(stdout, sum.Letters, st)
	return sendExit(st, sum.Letters, runErr, cfg)
}

// secondInterrupt returns a context that a second Ctrl-C cancels. The
// first one cancels ctx (main's signal.NotifyContext), which stops
// dispatching and lets letters in flight finish; the second aborts them.
func secondInterrupt(ctx context.Context, stderr io.Writer) (context.Context, context.CancelFunc) {
	hard, abort := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		fmt.Fprintln(stderr, "mailmerge: stopping: letters in flight finish and are recorded; press Ctrl-C again to abort them")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		select {
		case <-sig:
			abort()
		case <-hard.Done():
		}
	}()
	return hard, abort
}

// progressLine returns a Pool.Progress that writes a status line at most
// every interval, so a long send at a polite rate shows it is alive.
func progressLine(w io.Writer, total int, interval time.Duration) func(sender.Stats) {
	var mu sync.Mutex
	next := time.Now().Add(interval)
	return func(st sender.Stats) {
		mu.Lock()
		defer mu.Unlock()
		if time.Now().Before(next) {
			return
		}
		next = time.Now().Add(interval)
		done := st.Delivered + st.Failed + st.Deferred + st.Unknown
		fmt.Fprintf(w, "mailmerge: %d of %d letters done (delivered %d, failed %d, deferred %d, unknown %d)\n",
			done+st.Skipped[journal.Delivered]+st.Skipped[journal.Failed]+st.Skipped[journal.Unknown], total,
			st.Delivered, st.Failed, st.Deferred, st.Unknown)
	}
}

// printSendSummary prints the counts of this run; they add up to the
// letters in the CSV.
func printSendSummary(w io.Writer, total int, st sender.Stats) {
	skipped := total - st.Delivered - st.Failed - st.Deferred - st.Unknown
	fmt.Fprintf(w, "delivered %d, failed %d, deferred %d, unknown %d, skipped %d (of %d)\n",
		st.Delivered, st.Failed, st.Deferred, st.Unknown, skipped, total)
	var why []string
	if n := st.Skipped[journal.Delivered]; n > 0 {
		why = append(why, fmt.Sprintf("%d delivered by an earlier run", n))
	}
	if n := st.Skipped[journal.Failed]; n > 0 {
		why = append(why, fmt.Sprintf("%d refused for good earlier (fix the address to send again)", n))
	}
	if n := st.Skipped[journal.Unknown]; n > 0 {
		why = append(why, fmt.Sprintf("%d of unknown fate (--resend-unknown sends them again)", n))
	}
	if n := skipped - st.Skipped[journal.Delivered] - st.Skipped[journal.Failed] - st.Skipped[journal.Unknown]; n > 0 {
		why = append(why, fmt.Sprintf("%d not sent yet", n))
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(why, "; "))
	}
}

// sendExit maps the outcome of a run to an exit code.
func sendExit(st sender.Stats, total int, err error, cfg *config.Config) error {
	var re *sender.RunError
	switch {
	case errors.As(err, &re):
		code := map[sender.RunErrorKind]int{
			sender.ErrAuth: exitAuth, sender.ErrTLS: exitUnavailable, sender.ErrUnavailable: exitUnavailable,
			sender.ErrPolicy: exitUnavailable, sender.ErrJournal: exitInternal,
		}[re.Kind]
		return &exitError{code: code, err: fmt.Errorf("send stopped: %w", err), hint: "letters not sent stay for the next run; mailmerge report lists them"}
	case errors.Is(err, sender.ErrInterrupted):
		return &exitError{code: exitInterrupted, err: errors.New("interrupted; run send again to go on"), hint: ""}
	case err != nil:
		return err
	}
	pending := total - st.Delivered - st.Failed - st.Skipped[journal.Delivered] - st.Skipped[journal.Failed]
	switch {
	case st.Failed+st.Skipped[journal.Failed] > 0:
		return &exitError{code: exitSomeFailed, quiet: true, err: errors.New("some letters failed"),
			hint: fmt.Sprintf("mailmerge report -c %s --failed-csv FILE lists them with the server's reasons", cfg.File)}
	case pending > 0:
		return &exitError{code: exitRerun, quiet: true, err: errors.New("some letters are not delivered yet"),
			hint: "run send again later to retry them; mailmerge report lists them"}
	}
	return nil
}

// newTransport builds the transport the config names.
func newTransport(cmd *cobra.Command, cfg *config.Config, trace *sender.Trace) (sender.Transport, error) {
	if cfg.Maildir.Path != "" {
		return &sender.Maildir{Path: cfg.Maildir.Path}, nil
	}
	s := cfg.SMTP
	if s.Host == "" {
		return nil, &exitError{code: exitConfig, err: fmt.Errorf("%s: no transport: set smtp.host, or maildir.path to write letters into a folder", cfg.File)}
	}
	tlsConfig := &tls.Config{ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, &exitError{code: exitConfig, err: fmt.Errorf("smtp.ca_file: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &exitError{code: exitConfig, err: fmt.Errorf("smtp.ca_file: no PEM certificates in %s", s.CAFile)}
		}
		tlsConfig.RootCAs = pool
	}
	password, err := readPassword(cmd, s)
	if err != nil {
		return nil, err
	}
	helo := s.Helo
	if helo == "" {
		helo, _ = os.Hostname()
	}
	return &sender.SMTP{
		Host: s.Host, Port: s.Port, Security: sender.Security(s.Security), TLSConfig: tlsConfig,
		Helo: helo, Username: s.Username, Password: password,
		DialTimeout: s.DialTimeout, Timeout: s.Timeout, DataTimeout: s.DataTimeout, Trace: trace,
	}, nil
}

// readPassword finds the SMTP password: the environment variable named by
// smtp.password_env, smtp.password_file, or a prompt on a terminal.
func readPassword(cmd *cobra.Command, s config.SMTP) (string, error) {
	if s.Username == "" {
		return "", nil
	}
	if pw := os.Getenv(s.PasswordEnv); pw != "" {
		return pw, nil
	}
	if s.PasswordFile != "" {
		data, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", &exitError{code: exitConfig, err: fmt.Errorf("smtp.password_file: %w", err)}
		}
		pw, _, _ := strings.Cut(string(data), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", &exitError{code: exitConfig, err: fmt.Errorf("smtp.password_file: %s: the first line, the password, is empty", s.PasswordFile)}
		}
		return pw, nil
	}
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Password for %s at %s: ", s.Username, s.Host)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		return string(pw), nil
	}
	return "", &exitError{code: exitConfig, err: fmt.Errorf("no password for %s: set $%s or smtp.password_file", s.Username, s.PasswordEnv)}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// deliveredToday counts the letters the journal says were delivered since
// local midnight, for send.daily_limit.
func deliveredToday(path string) int {
	now := time.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	n := 0
	journal.Read(path, func(r journal.Record) error {
		if r.State == journal.Delivered && !r.Time.Before(midnight) {
			n++
		}
		return nil
	})
	return n
}
