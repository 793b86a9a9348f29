package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// Write writes the report for people: the counts, then each letter
// listed with what became of each recipient who did not get it, as
// csvName:line: state address: reply.
func (rep *Report) Write(out io.Writer, csvName string) {
	c := rep.Counts
	invalid := ""
	if n := c[journal.Invalid]; n > 0 {
		invalid = fmt.Sprintf(", invalid %d", n)
	}
	if n := c[Suppressed]; n > 0 {
		invalid += fmt.Sprintf(", suppressed %d", n)
	}
	bounced := ""
	if c[journal.Bounced] > 0 || c[journal.Delayed] > 0 {
		bounced = fmt.Sprintf(", bounced %d, delayed %d", c[journal.Bounced], c[journal.Delayed])
	}
	fmt.Fprintf(out, "delivered %d%s, failed %d, deferred %d, unknown %d, not sent %d%s (of %d)\n",
		c[journal.Delivered], bounced, c[journal.Failed], c[journal.Deferred], c[journal.Unknown], c[NotSent], invalid, rep.Letters)
	for _, name := range slices.Sorted(maps.Keys(rep.Accounts)) {
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(rep.Accounts[name])) {
			parts = append(parts, fmt.Sprintf("%s %d", Word(st), rep.Accounts[name][st]))
		}
		fmt.Fprintf(out, "account %s: %s\n", name, strings.Join(parts, ", "))
	}
	for _, l := range rep.Listed {
		if l.State == journal.Invalid {
			loc, problem := locate(csvName, l.Line, l.SentLine, l.Problem)
			fmt.Fprintf(out, "%s: invalid: %s\n", loc, problem)
		}
		for _, m := range l.Missed {
			fmt.Fprintf(out, "%s: %s %s: %s\n", Place(csvName, l.Line, l.SentLine), Word(m.State), m.Rcpt, Reply(m))
		}
	}
	for _, cp := range rep.Copies {
		fmt.Fprintf(out, "%s, named in the template: %s in %s: %s\n", cp.Rcpt, Word(cp.State), plural(cp.Letters, "letter"), Reply(cp.RcptOutcome))
	}
	if rep.Gone > 0 {
		fmt.Fprintf(out, "the journal also has %s no longer in the recipients file (changed or removed rows)\n", plural(rep.Gone, "letter"))
	}
}

// Place says where a letter's row is in the recipient list: csvName:now,
// the line as the list is now, and the line it was sent from when that
// was another (rows added or removed since): "class.csv:5 (line 3 when
// sent)"; or that line alone when the list no longer has the row (now
// is 0). sent is 0 when not known.
func Place(csvName string, now, sent int) string { return place(csvName, now, sent, "") }

// place is Place with a column (":9") after the line.
func place(csvName string, now, sent int, col string) string {
	switch {
	case now == 0:
		return fmt.Sprintf("%s, line %d when sent", csvName, sent)
	case sent == 0 || sent == now:
		return fmt.Sprintf("%s:%d%s", csvName, now, col)
	}
	return fmt.Sprintf("%s:%d%s (line %d when sent)", csvName, now, col, sent)
}

// locate gives the place of a problem found on line of the CSV (on sent,
// when a send recorded it there): the column too when the problem, which
// names its place, says it.
func locate(csvName string, line, sent int, problem string) (loc, rest string) {
	col, rest := "", problem
	for _, at := range []int{line, sent} {
		after, ok := strings.CutPrefix(problem, fmt.Sprintf("%s:%d:", csvName, at))
		if !ok {
			continue
		}
		rest = strings.TrimSpace(after)
		if c, more, ok := strings.Cut(after, ": "); ok {
			if _, err := strconv.Atoi(c); err == nil {
				col, rest = ":"+c, more
			}
		}
		break
	}
	return place(csvName, line, sent, col), rest
}

// WriteTests says what test sends (send --redirect-to) delivered: they
// count for no recipient, so the report's counts leave them out.
func WriteTests(w io.Writer, tests map[string]int) {
	for _, addr := range slices.Sorted(maps.Keys(tests)) {
		fmt.Fprintf(w, "test sends: %s delivered to %s (not counted above: the recipients got nothing)\n", plural(tests[addr], "letter"), addr)
	}
}

// plural says n of word: 1 letter, 2 letters.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
