package sender

import (
	"maps"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// Stats counts what a run did with the letters it was given. Every letter
// is in exactly one count: Letters = Sent() + Skipped total + Untouched.
type Stats struct {
	// The outcomes of the letters this run attempted, each by its last
	// attempt.
	Delivered, Failed, Deferred, Unknown int
	// Skipped letters were not attempted because the journal settles them
	// already, by the state it has them in (delivered, failed, unknown).
	Skipped map[journal.State]int
	// Untouched letters were due but not attempted: the run stopped, or
	// reached its limit, first.
	Untouched int
	// Elsewhere counts the letters of Skipped[journal.Delivered] that
	// another process sending the campaign at once delivered during this
	// run (Pool.Claims).
	Elsewhere int
	Letters   int // letters seen, in all
	// CopiesRefused counts, by address, the letters that a recipient the
	// template itself names (an instructor's copy) was refused in for
	// good in this run; the letters count by their own recipients.
	CopiesRefused map[string]int
	// Quota, when the run stopped because the account reached a limit of
	// the provider's (ErrQuota), says so in plain words, and when to run
	// again. Only Run's final Stats have it.
	Quota string
	// Accounts counts, by account name, the letters each carried, in a
	// run with named accounts (Account.Name); nil otherwise.
	Accounts map[string]AccountStats
}

// Sent is how many letters this run attempted.
func (s Stats) Sent() int { return s.Delivered + s.Failed + s.Deferred + s.Unknown }

// Done is how many letters need nothing more of this run: attempted, or
// settled by the journal.
func (s Stats) Done() int {
	n := s.Sent()
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// Final is how many letters are delivered or failed for good, in this
// run or an earlier one (bounced and delayed ones among them: the server
// took them).
func (s Stats) Final() int {
	return s.Delivered + s.Failed + s.Skipped[journal.Delivered] + s.Skipped[journal.Failed] + s.Skipped[journal.Bounced] + s.Skipped[journal.Delayed]
}

// Unknowns is how many letters are of unknown fate (sent, but the reply
// was lost), in this run or an earlier one.
func (s Stats) Unknowns() int { return s.Unknown + s.Skipped[journal.Unknown] }

// Refused is how many letters were refused for good, in this run or an
// earlier one, or came back (bounced).
func (s Stats) Refused() int {
	return s.Failed + s.Skipped[journal.Failed] + s.Skipped[journal.Bounced]
}

func (s Stats) copy() Stats {
	s.Skipped = maps.Clone(s.Skipped)
	s.CopiesRefused = maps.Clone(s.CopiesRefused)
	s.Accounts = maps.Clone(s.Accounts)
	return s
}
