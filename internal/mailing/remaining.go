package mailing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// Remaining says what a run of letters letters, which ended with runErr,
// leaves to do, as an *Error whose kind the exit code tells scripts: nil
// when nothing is left.
func Remaining(st sender.Stats, letters int, runErr error, cfg *config.Config) error {
	var re *sender.RunError
	switch {
	case errors.As(runErr, &re):
		e := RunError(runErr, "send stopped: ").(*Error)
		e.Hint = "letters not sent stay for the next run; mailmerge report lists them"
		if re.Kind == sender.ErrQuota { // its words say when the next run is
			e.Hint = "mailmerge report lists the letters still to send"
		}
		return e
	case errors.Is(runErr, sender.ErrInterrupted):
		e := &Error{Kind: Interrupted, Err: errors.New("interrupted; run send again to go on")}
		if n := st.Unknown; n > 0 { // cut off by a second Ctrl-C after their end
			it := agree(n, "it", "them")
			e.Hint = fmt.Sprintf("%s may have arrived: a later send leaves %s alone (--resend-unknown sends %s again); mailmerge report lists %s",
				Plural(n, "letter"), it, it, it)
		}
		return e
	case runErr != nil:
		return runErr
	}
	// Letters of unknown fate are said once, in words, whatever else is
	// left: no later run changes them, only the user's decision does.
	unknown := unknownNote(st.Unknowns())
	end := func(k Kind, hint string) error {
		if unknown == "" {
			return &Error{Kind: k, Quiet: true, Err: errors.New(hint), Hint: hint}
		}
		return &Error{Kind: k, Err: errors.New(unknown), Hint: hint}
	}
	switch {
	case st.Refused() > 0:
		return end(SomeFailed, fmt.Sprintf("mailmerge report -c %s --failed-csv FILE lists the refused letters with the server's reasons", cfg.File))
	case st.Final()+st.Unknowns() < letters:
		return end(Rerun, "run send again later to send the letters not delivered yet; mailmerge report lists them")
	case unknown != "":
		return end(UnknownLeft, "nothing else is left to send; mailmerge report lists these letters")
	}
	return nil
}

// SkippedWhy says, in plain words, why the letters a run skipped were
// not sent in it; skipped counts them (its letters less those it sent).
func SkippedWhy(st sender.Stats, skipped int) []string {
	var why []string
	if n := st.Skipped[journal.Delivered] - st.Elsewhere; n > 0 {
		why = append(why, fmt.Sprintf("%d delivered by an earlier run", n))
	}
	if n := st.Elsewhere; n > 0 {
		why = append(why, fmt.Sprintf("%d delivered meanwhile by another machine sending this mailing", n))
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
	return why
}

// unknownNote explains letters of unknown fate to someone who is not an
// SMTP expert, and what they can do.
func unknownNote(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "1 letter may or may not have arrived: the connection ended (lost, or stopped by you) after it was sent, before the server said it had it.\n" +
			"Ask its recipient, or run send --resend-unknown to send it again (with the same Message-ID, so a second copy is recognisable)."
	}
	return fmt.Sprintf("%d letters may or may not have arrived: the connection ended (lost, or stopped by you) after they were sent, before the server said it had them.\n", n) +
		"Ask their recipients, or run send --resend-unknown to send them again (with the same Message-ID, so a second copy is recognisable)."
}

// testRemaining is Remaining for a test run (send --redirect-to): the
// test address must have got every letter.
func testRemaining(st sender.Stats, runErr error, cfg *config.Config) error {
	if runErr != nil || st.Delivered == st.Sent() {
		return Remaining(st, st.Sent(), runErr, cfg)
	}
	return &Error{Kind: SomeFailed, Quiet: true, Err: errors.New("test letters not delivered"),
		Hint: "the test address did not get every letter; --trace FILE shows why"}
}

// invalidRemaining makes err say the invalid rows a --skip-invalid send
// left out (lines), when nothing worse is left.
func invalidRemaining(lines []int, err error, cfg *config.Config) error {
	if len(lines) == 0 || err != nil {
		return err
	}
	return &Error{Kind: SomeFailed, Quiet: true, Err: errors.New("invalid rows"),
		Hint: fmt.Sprintf("fix them, then run send again; mailmerge report -c %s --failed-csv FILE lists them with their problems", cfg.File)}
}

// Plural says n of word: 1 letter, 2 letters.
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Counted names what a send's counts add up to: the rows of the list
// (each makes a letter, or is invalid), or with recipients.group_by its
// letters (a group's rows make one).
func Counted(cfg *config.Config) string {
	if cfg.Recipients.GroupBy != "" {
		return "letters"
	}
	return "rows"
}

// agree is the word that agrees with n of something: one when n is 1,
// many otherwise ("1 row makes", "2 rows make").
func agree(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// LineWord is "line" or "lines", for n lines.
func LineWord(n int) string {
	if n == 1 {
		return "line"
	}
	return "lines"
}

// JoinInts writes line numbers as a list: 2, 5, 9.
func JoinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
