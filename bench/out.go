//go:build linux

package main

import "strings"

// handMarker starts the part of docs/benchmarks.md written by hand
// (figures from go test -bench, notes): bench keeps it, from the marker
// to the end, below the report it writes.
const handMarker = "<!-- Written by hand below this line: bench/run keeps it as it is. -->"

// adviceHeading starts the report's last section, which the machines
// section goes before when the file has none yet.
const adviceHeading = "## Choosing concurrency and rate for a real relay"

// withHandWritten is report followed by what old, the file's text,
// has from handMarker on.
func withHandWritten(report, old string) string {
	i := strings.Index(old, handMarker)
	if i < 0 {
		return report
	}
	return strings.TrimRight(report, "\n") + "\n\n" + old[i:]
}

// spliceSection puts section, which starts with the line heading, into
// old, the file's text, in place of the section under heading up to the
// next heading or handMarker; where old has none, before the advice,
// else before handMarker, else at the end.
func spliceSection(old, heading, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	start := headingAt(old, heading)
	end := start
	if start >= 0 {
		end = len(old)
		if i := strings.Index(old[start+len(heading):], "\n## "); i >= 0 {
			end = start + len(heading) + i + 1
		}
		if i := strings.Index(old[start:], handMarker); i >= 0 && start+i < end {
			end = start + i
		}
	} else if start = headingAt(old, adviceHeading); start >= 0 {
		end = start
	} else if start = strings.Index(old, handMarker); start >= 0 {
		end = start
	} else {
		old = strings.TrimRight(old, "\n")
		if old == "" {
			return section
		}
		return old + "\n\n" + section
	}
	if end < len(old) {
		section += "\n"
	}
	return old[:start] + section + old[end:]
}

// headingAt is the offset of the line heading in text, or -1.
func headingAt(text, heading string) int {
	if strings.HasPrefix(text, heading+"\n") {
		return 0
	}
	if i := strings.Index(text, "\n"+heading+"\n"); i >= 0 {
		return i + 1
	}
	return -1
}
