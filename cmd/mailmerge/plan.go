package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// printPlanNotes says, before a send, what the journal shows that the
// user may not expect: a campaign renamed, a new journal beside others,
// letters delivered to another destination.
func printPlanNotes(w io.Writer, cfg *config.Config, plan campaign.Plan, transport sender.Transport) {
	switch {
	case plan.Renamed:
		fmt.Fprintf(w, "warning: %s has records of %s, none of them in this mailing: if campaign: (%q) changed, every letter goes out again\n",
			filepath.Base(cfg.Send.Journal), plural(plan.Recorded, "letter"), cfg.Campaign)
	case plan.Recorded == 0:
		// A campaign's journal is named after it: one renamed by mistake
		// starts afresh, and the journal of its old name is the clue.
		if others := journal.Others(cfg.Send.Journal); len(others) > 0 {
			fmt.Fprintf(w, "note: nothing of campaign %q was sent before (%s is new); this folder has %s of other campaigns: if this mailing had another name, stop here and rename that journal to %s\n",
				cfg.Campaign, filepath.Base(cfg.Send.Journal), strings.Join(others, ", "), filepath.Base(cfg.Send.Journal))
		}
	}
	printElsewhere(w, plan, transport)
}

// invalidRows records the rows a --skip-invalid send leaves out, once it
// is sending (not during the check before).
type invalidRows struct {
	j        *journal.Journal
	campaign string
	dest     string
	sending  bool
	lines    []int
}

func (v *invalidRows) record(rec *recipients.Record, fp uint64, err error) {
	if v.sending {
		v.lines = append(v.lines, rec.Line)
		v.j.RecordInvalid(letter.InvalidKey(v.campaign, fp), v.dest, rec.Line, fp, err.Error())
	}
}

// runLimit is how many letters this run may send: --limit, and what is
// left of send.daily_limit today; 0 for no limit.
func runLimit(cfg *config.Config, limit int) (int, error) {
	if cfg.Send.DailyLimit == 0 {
		return limit, nil
	}
	now := time.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	sent, err := journal.DeliveredSince(cfg.Send.Journal, midnight)
	if err != nil {
		return 0, &exitError{code: exitInternal, err: fmt.Errorf("count today's letters for send.daily_limit: %w", err)}
	}
	left := cfg.Send.DailyLimit - sent
	if left <= 0 {
		return 0, &exitError{code: exitRerun, err: fmt.Errorf("send.daily_limit of %d letters reached today", cfg.Send.DailyLimit), hint: "run again tomorrow"}
	}
	if limit == 0 || left < limit {
		return left, nil
	}
	return limit, nil
}

// confirm asks on the terminal whether to send.
func confirm(cmd *cobra.Command, cfg *config.Config, plan campaign.Plan, pool *sender.Pool) error {
	what := plural(plan.Letters, "letter") + " (" + plural(plan.Recipients, "recipient") + ")"
	switch {
	case pool.Redirect != nil:
		n := plan.Letters
		if pool.MaxLetters > 0 && pool.MaxLetters < n {
			n = pool.MaxLetters
		}
		what = fmt.Sprintf("%s as a test to %s alone (not to their recipients)", plural(n, "letter"), pool.Redirect.Addr)
	case plan.ToSend < plan.Letters:
		what = fmt.Sprintf("%d of %s (the others were sent before)", plan.ToSend, plural(plan.Letters, "letter"))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Send %s from %s via %s? [y/N] ", what, cfg.Recipients.File, pool.Transport.Describe())
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return &exitError{code: exitUsage, err: errors.New("not confirmed; nothing was sent")}
	}
	return nil
}

// redirectTo reads --redirect-to: one address.
func redirectTo(s string) (*address.Mailbox, error) {
	if s == "" {
		return nil, nil
	}
	list, err := address.ParseList(s)
	if err == nil && len(list) != 1 {
		err = fmt.Errorf("give one address, not %d", len(list))
	}
	if err != nil {
		return nil, usageError("--redirect-to: %v", err)
	}
	return &list[0], nil
}

// printElsewhere says which letters went to another destination before:
// they are not delivered to this one, so this run sends them.
func printElsewhere(w io.Writer, plan campaign.Plan, transport sender.Transport) {
	for _, dest := range slices.Sorted(maps.Keys(plan.Elsewhere)) {
		n := plan.Elsewhere[dest]
		fmt.Fprintf(w, "%s delivered to %s before, not to %s: they are sent again, to their recipients there\n",
			plural(n, "letter"), destinationName(dest), transport.Describe())
	}
}

// destinationName says a journal's destination for people.
func destinationName(dest string) string {
	kind, where, _ := strings.Cut(dest, ":")
	switch kind {
	case "maildir":
		return "Maildir " + where
	case "smtp":
		return where
	}
	return dest
}
