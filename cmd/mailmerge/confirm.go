package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailmerge/mailmerge/internal/address"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/mailing"
)

// confirm asks on the terminal whether to send, saying what this run
// sends (--limit and send.daily_limit included) and how long it takes.
func confirm(cmd *cobra.Command, cfg *config.Config, c mailing.Confirmation, redirect *address.Mailbox) error {
	n := c.Run
	what := mailing.Plural(n, "letter")
	switch {
	case redirect != nil:
		what = fmt.Sprintf("%s as a test to %s alone (not to their recipients)", mailing.Plural(n, "letter"), redirect.Addr)
	case n < c.ToSend:
		what = fmt.Sprintf("%d of the %s still to send (a limit)", n, mailing.Plural(c.ToSend, "letter"))
	case c.Held > 0:
		what = fmt.Sprintf("%d of %s now, %d at their send time", c.ToSend, mailing.Plural(c.Letters, "letter"), c.Held)
	case c.ToSend < c.Letters:
		what = fmt.Sprintf("%d of %s (the others were sent before)", c.ToSend, mailing.Plural(c.Letters, "letter"))
	default:
		what += " (" + mailing.Plural(c.Recipients, "recipient") + ")"
	}
	if c.Estimate != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), c.Estimate)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Send %s from %s via %s? [y/N] ", what, cfg.Recipients.File, c.Via)
	answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes", "д", "да":
		return nil
	}
	return &mailing.Error{Kind: mailing.Usage, Err: errors.New("not confirmed; nothing was sent"), Hint: "answer y (or да) to send; --yes skips the question"}
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
