//go:build linux

package main

import "testing"

// TestSpliceSection: the machines section replaces its old self, or
// goes before the advice or the hand-written part, and leaves every
// other line as it was.
func TestSpliceSection(t *testing.T) {
	const h = machinesHeading
	const adv = adviceHeading + "\n\nadvice\n"
	const hand = handMarker + "\n\n## The journal in PostgreSQL\n\nby hand\n"
	const sec = h + "\n\nnew\n\n"
	for _, tc := range []struct{ name, old, want string }{
		{"replaced", "# B\n\n" + h + "\n\nold\n| a |\n\n" + adv + "\n" + hand, "# B\n\n" + h + "\n\nnew\n\n" + adv + "\n" + hand},
		{"replaced before the hand-written", "# B\n\n" + h + "\n\nold\n\n" + hand, "# B\n\n" + h + "\n\nnew\n\n" + hand},
		{"replaced at the end", "# B\n\n" + h + "\n\nold\n", "# B\n\n" + h + "\n\nnew\n"},
		{"before the advice", "# B\n\n## Loopback\n\nx\n\n" + adv + "\n" + hand, "# B\n\n## Loopback\n\nx\n\n" + h + "\n\nnew\n\n" + adv + "\n" + hand},
		{"before the hand-written", "# B\n\n" + hand, "# B\n\n" + h + "\n\nnew\n\n" + hand},
		{"at the end", "# B\n\nx\n", "# B\n\nx\n\n" + h + "\n\nnew\n"},
		{"empty", "", h + "\n\nnew\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := spliceSection(tc.old, h, sec); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestWithHandWritten: the report, then the file's hand-written part
// from its marker on; a file without the marker keeps nothing.
func TestWithHandWritten(t *testing.T) {
	const hand = handMarker + "\n\n## The journal in PostgreSQL\n\nby hand\n"
	for _, tc := range []struct{ name, old, want string }{
		{"kept", "# Old\n\nold figures\n\n" + hand, "# New\n\nfigures\n\n" + hand},
		{"none", "# Old\n\nold figures\n", "# New\n\nfigures\n"},
		{"no file", "", "# New\n\nfigures\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withHandWritten("# New\n\nfigures\n", tc.old); got != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestStraceCalls: the calls column of strace -c's summary, with and
// without an errors column.
func TestStraceCalls(t *testing.T) {
	const summary = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 99.61    6.012345         300     20012           fsync
  0.39    0.023456          11      2001         3 fdatasync
------ ----------- ----------- --------- --------- ----------------
100.00    6.035801         273     22013         3 total
`
	if got := straceCalls([]byte(summary), "fsync", "fdatasync"); got != 22013 {
		t.Errorf("got %d calls, want 22013", got)
	}
}

// TestUnknownSaid: the letters a send's summary skipped as of unknown
// fate, 0 where it names none.
func TestUnknownSaid(t *testing.T) {
	for out, want := range map[string]int{
		"delivered 1952, failed 0, deferred 0, unknown 0, skipped 2048 (of 4000)\nskipped: 1991 delivered by an earlier run; 57 of unknown fate\n": 57,
		"skipped: 19 of unknown fate\n":               19,
		"skipped: 4000 delivered by an earlier run\n": 0,
		"": 0,
	} {
		if got := unknownSaid(out); got != want {
			t.Errorf("unknownSaid(%q) = %d, want %d", out, got, want)
		}
	}
}
