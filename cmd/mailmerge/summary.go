package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// printSendSummary prints the counts of this run; they add up to the
// rows in the CSV: total letters, and the invalid rows a --skip-invalid
// send left out.
func printSendSummary(w io.Writer, total, invalid, suppressed int, st sender.Stats, table bool) {
	skipped := total - st.Sent()
	rest := ""
	if invalid > 0 {
		rest = fmt.Sprintf(", invalid %d", invalid)
	}
	if suppressed > 0 {
		rest += fmt.Sprintf(", suppressed %d", suppressed)
	}
	if table {
		printSummaryTable(w, total, invalid, suppressed, st)
	} else {
		fmt.Fprintf(w, "delivered %d, failed %d, deferred %d, unknown %d, skipped %d%s (of %d)\n",
			st.Delivered, st.Failed, st.Deferred, st.Unknown, skipped, rest, total+invalid+suppressed)
	}
	var why []string
	if n := st.Skipped[journal.Delivered]; n > 0 {
		why = append(why, fmt.Sprintf("%d delivered by an earlier run", n))
	}
	if n := st.Skipped[journal.Failed]; n > 0 {
		why = append(why, fmt.Sprintf("%d refused for good earlier (fix the address to send again)", n))
	}
	if n := st.Skipped[journal.Bounced]; n > 0 {
		why = append(why, fmt.Sprintf("%d bounced: the recipient's server sent it back (fix the address to send again)", n))
	}
	if n := st.Skipped[journal.Delayed]; n > 0 {
		why = append(why, fmt.Sprintf("%d delayed: taken, and still being tried by the mail servers", n))
	}
	if n := st.Skipped[journal.Unknown]; n > 0 {
		why = append(why, fmt.Sprintf("%d of unknown fate", n))
	}
	if n := skipped - (st.Done() - st.Sent()); n > 0 {
		why = append(why, fmt.Sprintf("%d not sent yet", n))
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(why, "; "))
	}
	for _, addr := range slices.Sorted(maps.Keys(st.CopiesRefused)) {
		fmt.Fprintf(w, "%s, named in the template, was refused in %s (mailmerge report says why)\n", addr, plural(st.CopiesRefused[addr], "letter"))
	}
}

// sendExit maps the outcome of a run to an exit code.
func sendExit(st sender.Stats, total int, err error, cfg *config.Config) error {
	var re *sender.RunError
	switch {
	case errors.As(err, &re):
		ee := runError(err, "send stopped: ").(*exitError)
		ee.hint = "letters not sent stay for the next run; mailmerge report lists them"
		return ee
	case errors.Is(err, sender.ErrInterrupted):
		return &exitError{code: exitInterrupted, err: errors.New("interrupted; run send again to go on"), hint: ""}
	case err != nil:
		return err
	}
	// Letters of unknown fate are said once, in words, whatever else is
	// left: no later run changes them, only the user's decision does.
	unknown := unknownNote(st.Unknowns())
	end := func(code int, hint string) error {
		if unknown == "" {
			return &exitError{code: code, quiet: true, err: errors.New(hint), hint: hint}
		}
		return &exitError{code: code, err: errors.New(unknown), hint: hint}
	}
	switch {
	case st.Refused() > 0:
		return end(exitSomeFailed, fmt.Sprintf("mailmerge report -c %s --failed-csv FILE lists the refused letters with the server's reasons", cfg.File))
	case st.Final()+st.Unknowns() < total:
		return end(exitRerun, "run send again later to send the letters not delivered yet; mailmerge report lists them")
	case unknown != "":
		return end(exitUnknown, "nothing else is left to send; mailmerge report lists these letters")
	}
	return nil
}

// unknownNote explains letters of unknown fate to someone who is not an
// SMTP expert, and what they can do.
func unknownNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 letter may or may not have arrived: the connection was lost after it was sent, before the server said it had it.\n" +
			"Ask its recipient, or run send --resend-unknown to send it again (with the same Message-ID, so a second copy is recognisable)."
	}
	return fmt.Sprintf("%d letters may or may not have arrived: the connection was lost after they were sent, before the server said it had them.\n", n) +
		"Ask their recipients, or run send --resend-unknown to send them again (with the same Message-ID, so a second copy is recognisable)."
}

// testSummary reports a test run (send --redirect-to) and its exit code:
// what went to the test address, and that nobody else got anything.
func testSummary(w io.Writer, to string, st sender.Stats, invalid []int, err error, cfg *config.Config) error {
	fmt.Fprintf(w, "test: %s to %s (delivered %d, failed %d, deferred %d, unknown %d); the recipients got nothing\n",
		plural(st.Sent(), "letter"), to, st.Delivered, st.Failed, st.Deferred, st.Unknown)
	if len(invalid) > 0 {
		fmt.Fprintf(w, "invalid: %s left out (%s %s), not recorded: a real send stops at them unless --skip-invalid\n",
			plural(len(invalid), "row"), lineWord(len(invalid)), joinInts(invalid))
	}
	if err != nil || st.Delivered == st.Sent() {
		return sendExit(st, st.Sent(), err, cfg)
	}
	return &exitError{code: exitSomeFailed, quiet: true, err: errors.New("test letters not delivered"),
		hint: "the test address did not get every letter; --trace FILE shows why"}
}

// invalidExit says which rows a --skip-invalid send left out, and makes
// the exit code say so when nothing worse did.
func invalidExit(w io.Writer, lines []int, err error, cfg *config.Config) error {
	if len(lines) == 0 {
		return err
	}
	fmt.Fprintf(w, "invalid: %s not sent (%s %s); mailmerge report lists them\n", plural(len(lines), "row"), lineWord(len(lines)), joinInts(lines))
	if err != nil {
		return err
	}
	return &exitError{code: exitSomeFailed, quiet: true, err: errors.New("invalid rows"),
		hint: fmt.Sprintf("fix them, then run send again; mailmerge report -c %s --failed-csv FILE lists them with their problems", cfg.File)}
}

func lineWord(n int) string {
	if n == 1 {
		return "line"
	}
	return "lines"
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
