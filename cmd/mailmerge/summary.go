package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/mailing"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// printSendSummary prints the counts of this run; they add up to the
// rows in the CSV (with group_by, to its letters, as of says): total
// letters, and the invalid rows a --skip-invalid send left out. A run
// the account's quota stopped says so after them.
func printSendSummary(w io.Writer, total, invalid, suppressed int, st sender.Stats, table bool, of string) {
	skipped := total - st.Sent()
	rest := ""
	if invalid > 0 {
		rest = fmt.Sprintf(", invalid %d", invalid)
	}
	if suppressed > 0 {
		rest += fmt.Sprintf(", suppressed %d", suppressed)
	}
	if table {
		printSummaryTable(w, total, invalid, suppressed, st, of)
	} else {
		fmt.Fprintf(w, "delivered %d, failed %d, deferred %d, unknown %d, skipped %d%s (of %d%s)\n",
			st.Delivered, st.Failed, st.Deferred, st.Unknown, skipped, rest, total+invalid+suppressed, strings.TrimPrefix(" "+of, " rows")) // rows go unsaid
	}
	if why := mailing.SkippedWhy(st, skipped); len(why) > 0 {
		fmt.Fprintf(w, "skipped: %s\n", strings.Join(why, "; "))
	}
	for _, line := range mailing.AccountLines(st) {
		fmt.Fprintln(w, line)
	}
	for _, addr := range slices.Sorted(maps.Keys(st.CopiesRefused)) {
		fmt.Fprintf(w, "%s, named in the template, was refused in %s (mailmerge report says why)\n", addr, mailing.Plural(st.CopiesRefused[addr], "letter"))
	}
	if st.Quota != "" {
		// No letter failed for it: the provider's limit, and when to go on.
		fmt.Fprintf(w, "stopped: %s\n", st.Quota)
	}
}

// printTestSummary reports a test run (send --redirect-to): what went
// to the test address, and that nobody else got anything.
func printTestSummary(w io.Writer, to string, st sender.Stats, invalid []int) {
	fmt.Fprintf(w, "test: %s to %s (delivered %d, failed %d, deferred %d, unknown %d); the recipients got nothing\n",
		mailing.Plural(st.Sent(), "letter"), to, st.Delivered, st.Failed, st.Deferred, st.Unknown)
	if len(invalid) > 0 {
		fmt.Fprintf(w, "invalid: %s left out (%s %s), not recorded: a real send stops at them unless --skip-invalid\n",
			mailing.Plural(len(invalid), "row"), mailing.LineWord(len(invalid)), mailing.JoinInts(invalid))
	}
}

// printSummaryTable is the end of a send on a terminal: the counts of
// printSendSummary, one to a line.
func printSummaryTable(w io.Writer, total, invalid, suppressed int, st sender.Stats, of string) {
	type row = struct {
		name string
		n    int
	}
	rows := []row{
		{"delivered", st.Delivered}, {"failed", st.Failed}, {"deferred", st.Deferred},
		{"unknown", st.Unknown}, {"skipped", total - st.Sent()},
	}
	if invalid > 0 {
		rows = append(rows, row{"invalid", invalid})
	}
	if suppressed > 0 {
		rows = append(rows, row{"suppressed", suppressed})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-10s %6d\n", r.name, r.n)
	}
	fmt.Fprintf(w, "  %-10s %6d\n", of, total+invalid+suppressed)
}
