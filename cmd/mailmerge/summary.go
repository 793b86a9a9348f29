package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// printSendSummary prints the counts of this run; they add up to the
// letters in the CSV.
func printSendSummary(w io.Writer, total int, st sender.Stats) {
	skipped := total - st.Sent()
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
	if n := skipped - (st.Done() - st.Sent()); n > 0 {
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
	switch {
	case st.Refused() > 0:
		return &exitError{code: exitSomeFailed, quiet: true, err: errors.New("some letters failed"),
			hint: fmt.Sprintf("mailmerge report -c %s --failed-csv FILE lists them with the server's reasons", cfg.File)}
	case st.Final() < total:
		return &exitError{code: exitRerun, quiet: true, err: errors.New("some letters are not delivered yet"),
			hint: "run send again later to retry them; mailmerge report lists them"}
	}
	return nil
}
