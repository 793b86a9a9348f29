package report

import (
	"io"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// WriteCSV writes the rows of the letters rep lists as not delivered,
// with status, smtp_code, error and recipient (the addresses that did
// not get the letter) columns added, in the recipients file's dialect
// (its delimiter delim): a file to fix and send again. It returns how
// many rows it wrote.
func WriteCSV(out io.Writer, delim rune, rep *Report) (int, error) {
	w, err := recipients.NewWriter(out, delim)
	if err != nil {
		return 0, err
	}
	n := 0
	if rep.Header != nil { // the header even when no row follows: a file to open
		w.Write(append(append([]string(nil), rep.Header...), "status", "smtp_code", "error", "recipient"))
	}
	for _, l := range rep.Listed {
		if l.State == Suppressed || l.State == journal.Delayed {
			continue // not to be sent again: nothing to fix, or still on its way
		}
		if l.State == journal.Invalid {
			w.Write(append(append([]string(nil), l.Row...), Word(l.State), "", l.Problem, ""))
			n++
			continue
		}
		first := l.Missed[0]
		code := ""
		if first.Code != 0 {
			code = strconv.Itoa(first.Code)
		}
		var missed []string
		for _, m := range l.Missed {
			missed = append(missed, m.Rcpt)
		}
		w.Write(append(append([]string(nil), l.Row...), Word(l.State), code, Reply(first), strings.Join(missed, ", ")))
		n++
	}
	w.Flush()
	return n, w.Error()
}

// Word says a state for people: a letter only attempted is not sent.
func Word(s journal.State) string {
	if s == journal.Attempt || s == "" {
		return string(NotSent)
	}
	return string(s)
}
