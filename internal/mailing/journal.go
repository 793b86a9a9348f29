package mailing

import (
	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/copies"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/sender"
)

// Journal is an open journal of a mailing, as the use cases use it: a
// file (*journal.Journal), or PostgreSQL. It is what the pool, the plan,
// the Sent folder's copies and the bounces record and ask, and what a
// send does with it besides.
type Journal interface {
	sender.Journal
	campaign.Journal
	copies.Journal
	bounce.Journal
	// Grow makes room in the index for n more letters.
	Grow(n int)
	// RecordInvalid records a row that made no letter, left out of a
	// send on request.
	RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error
	// Close writes what is queued, makes it durable, and gives the lock
	// back.
	Close() error
}
