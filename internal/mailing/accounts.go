package mailing

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// outbound is one account a send goes through: the config as it sees it
// (config.ForAccount), its transport, and its daily window.
type outbound struct {
	name      string // "" for the one account of smtp:
	cfg       *config.Config
	transport sender.Transport
	window    *window // nil without a daily limit
}

// outbounds builds the transports of the config's accounts (the one of
// smtp: or maildir:, or each of accounts:), without their passwords.
func outbounds(cfg *config.Config, trace *sender.Trace) ([]*outbound, error) {
	if len(cfg.Accounts) == 0 {
		t, err := Transport(cfg, trace)
		if err != nil {
			return nil, err
		}
		return []*outbound{{cfg: cfg, transport: t}}, nil
	}
	var out []*outbound
	for _, a := range cfg.Accounts {
		ac := cfg.ForAccount(a)
		t, err := smtpTransport(ac, trace)
		if err != nil {
			return nil, err
		}
		out = append(out, &outbound{name: a.Name, cfg: ac, transport: t})
	}
	return out, nil
}

// describe names the accounts for people: the server, or each account
// and its server.
func describe(obs []*outbound) string {
	if len(obs) == 1 && obs[0].name == "" {
		return obs[0].transport.Describe()
	}
	var names []string
	for _, ob := range obs {
		names = append(names, ob.name+" ("+ob.transport.Describe()+")")
	}
	return strings.Join(names, ", ")
}

// accountLimits opens each account's window at now and says what each
// may send in this run; an account whose window is full takes no
// letters (it is said in notes). With every window full, the error says
// when the first reopens.
func (s *send) accountLimits(now time.Time) ([]sender.Account, runLimits, error) {
	var accounts []sender.Account
	var full []*window
	limits := runLimits{max: s.opts.Limit}
	for _, ob := range s.accounts {
		a := ob.cfg.Senders()[0]
		w, err := openWindow(ob.cfg, ob.transport.Destination(), ob.name, now)
		if err != nil {
			return nil, limits, err
		}
		ob.window = w
		sa := sender.Account{Name: ob.name, Transport: ob.transport, Concurrency: a.Concurrency,
			Limit: s.pace(ob.name, a.Rate), Weight: a.Weight}
		if w != nil {
			if w.left <= 0 {
				full = append(full, w)
				fmt.Fprintf(s.notes, "account %s: %s reached: it sends again %s\n", ob.name, w, w.next())
				continue
			}
			if w.recipients {
				sa.Budget = w.left
			} else {
				sa.MaxLetters = w.left
			}
			sa.Shared = s.shared(w)
			limits.left += w.left
			limits.windows = append(limits.windows, w)
		}
		accounts = append(accounts, sa)
	}
	if len(accounts) == 0 {
		first := slices.MinFunc(full, func(a, b *window) int { return a.reopens().Compare(b.reopens()) })
		return nil, limits, &Error{Kind: Rerun, Err: fmt.Errorf("every account reached its daily limit: the next letters can go %s (account %s)", first.next(), first.account),
			Hint: "run send again then"}
	}
	return accounts, limits, nil
}

// reopens is when the window takes a letter again: when the oldest
// delivery it counts leaves it.
func (w *window) reopens() time.Time {
	from := w.oldest
	if from.IsZero() {
		from = w.now
	}
	return from.Add(w.quota.Per)
}

// stoppedAtWindows is the error of a run of several accounts that
// stopped with letters left because every account's window was spent.
func stoppedAtWindows(windows []*window, sent int) error {
	first := slices.MinFunc(windows, func(a, b *window) int { return a.reopens().Compare(b.reopens()) })
	var names []string
	for _, w := range windows {
		names = append(names, w.String())
	}
	return &Error{Kind: Rerun, Err: fmt.Errorf("stopped at the daily limits of the accounts (%s): %s went in this run; the next letters can go %s (account %s)",
		strings.Join(names, "; "), Plural(sent, "letter"), first.next(), first.account),
		Hint: "run send again then; mailmerge report lists the letters still to send"}
}

// credentialsAll gives every account what it logs in with.
func (s *send) credentialsAll(ctx context.Context) error {
	for _, ob := range s.accounts {
		if err := Credentials(ctx, ob.cfg, ob.transport, s.opts.Ask); err != nil {
			return err
		}
	}
	return nil
}

// estimateAccounts says how long the run letters of a send through
// several accounts take (d, sendingTime's; said from a minute up), and
// over how many days the due letters go at the accounts' daily limits
// together; "" when there is nothing to say.
func estimateAccounts(run, due int, d time.Duration, obs []*outbound) string {
	var parts []string
	if d >= time.Minute {
		parts = append(parts, fmt.Sprintf("%s letters through %d accounts at their rates: about %s", thousands(run), len(obs), roughly(d)))
	}
	perDay := 0
	for _, ob := range obs {
		q := ob.cfg.Send.DailyLimit
		if q.N == 0 || q.Per != config.Day {
			perDay = 0
			break
		}
		perDay += q.N
	}
	if perDay > 0 && due > run {
		days := 1 + (due-run+perDay-1)/perDay
		parts = append(parts, fmt.Sprintf("%s letters, %s a day through the accounts together: at least %d days (%s today), re-run send each day",
			thousands(due), thousands(perDay), days, thousands(run)))
	}
	return strings.Join(parts, "; ")
}

// AccountLines says, an account a line, what each account of several
// did in a run: its letters by outcome, and why it stopped, if it did.
func AccountLines(st sender.Stats) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(st.Accounts)) {
		a := st.Accounts[name]
		var parts []string
		for _, c := range []struct {
			n    int
			word string
		}{{a.Delivered, "delivered"}, {a.Failed, "refused"}, {a.Deferred, "deferred"}, {a.Unknown, "of unknown fate"}} {
			if c.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c.n, c.word))
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "no letters")
		}
		line := fmt.Sprintf("account %s: %s", name, strings.Join(parts, ", "))
		if a.Paused > 0 {
			line += fmt.Sprintf("; paused %s", Plural(a.Paused, "time"))
		}
		if a.Stopped != "" {
			line += "; stopped: " + strings.TrimPrefix(a.Stopped, "account "+name+": ")
		}
		out = append(out, line)
	}
	return out
}

// sendingTime estimates how long the run letters of a send take through
// the accounts, each at its rate until what is left of its window is
// spent, all at once; 0 when an account has no rate (its pace is the
// server's, which the plan does not guess). Recipients a window counts
// are taken one a letter.
func sendingTime(run int, accounts []sender.Account, rates []config.Rate) time.Duration {
	type lane struct{ perSec, left float64 }
	var lanes []*lane
	for i, a := range accounts {
		r := rates[i]
		if r.N == 0 {
			return 0
		}
		left := math.Inf(1)
		if n := max(a.MaxLetters, a.Budget); n > 0 {
			left = float64(n)
		}
		lanes = append(lanes, &lane{float64(r.N) / r.Per.Seconds(), left})
	}
	remaining, elapsed := float64(run), 0.0
	for remaining > 0 {
		total, step := 0.0, math.Inf(1)
		for _, l := range lanes {
			if l.left > 0 {
				total += l.perSec
				step = min(step, l.left/l.perSec)
			}
		}
		if total == 0 {
			break // every window spent: the rest wait for another run
		}
		step = min(step, remaining/total)
		for _, l := range lanes {
			if l.left > 0 {
				l.left -= l.perSec * step
			}
		}
		remaining -= total * step
		elapsed += step
	}
	return time.Duration(elapsed * float64(time.Second))
}
