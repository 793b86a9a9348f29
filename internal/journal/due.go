package journal

import (
	"slices"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// Due says what of the letter l is still to send to the destination dest:
// the journal's entry for it there (Lookup, as it applies to l's
// recipients: Entry.For), and its recipients due by the rule of Due, in
// l's order, none when the letter is settled. Suppressed recipients are
// never due; a recipient the journal has no state for is. A letter whose
// recipients changed since its last attempt (Entry.Changed) has all of
// them due. Both the check before a send and the send go by this.
func (x *Index) Due(l *letter.Letter, dest string, resendUnknown bool) (Entry, []string) {
	e := x.Lookup(l.Key, dest).For(l.Recipients)
	if e.Changed(l.Recipients) {
		return e, slices.DeleteFunc(slices.Clone(l.Recipients), l.IsSuppressed)
	}
	var due []string
	for _, r := range l.Recipients {
		if l.IsSuppressed(r) {
			continue
		}
		if s, known := e.StateOf(r); !known || Due(s, resendUnknown) {
			due = append(due, r)
		}
	}
	return e, due
}
