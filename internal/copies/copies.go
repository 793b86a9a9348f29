// Package copies keeps a copy of every letter delivered in the sender's
// Sent folder over IMAP, as a mail program does, once: the journal
// records each copy before and after it is saved, and a copy whose save
// a crash interrupted is looked for in the folder before it is saved
// again.
package copies

import (
	"context"
	"errors"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
)

// Folder is the IMAP folder copies are saved in.
type Folder interface {
	Append(ctx context.Context, folder string, data []byte, date time.Time) error
	Has(ctx context.Context, folder, messageID string) (bool, error)
}

// Copies says which letters of a mailing need a copy: delivered at the
// destination, and not saved yet.
type Copies struct {
	folder string
	dest   string
	// delivered holds, per letter delivered, its last delivery record:
	// the copy is dated with it.
	delivered map[letter.Key]journal.Record
	state     map[letter.Key]journal.State // Copying or Copied
}

// Read reads the journal at path for the letters delivered to dest and
// the copies saved in folder.
func Read(path, dest, folder string) (*Copies, error) {
	return Of(journal.File(path), dest, folder)
}

// Of is Read of the records recs reads: a journal in a file or in
// PostgreSQL.
func Of(recs journal.Records, dest, folder string) (*Copies, error) {
	c := &Copies{folder: folder, dest: dest, delivered: map[letter.Key]journal.Record{}, state: map[letter.Key]journal.State{}}
	err := recs(func(r journal.Record) error {
		c.Note(r)
		return nil
	})
	return c, err
}

// Note takes the next record of the journal into account: one another
// process wrote since Of read them, say.
func (c *Copies) Note(r journal.Record) {
	switch {
	case r.Copy == c.folder:
		if c.state[r.Key] != journal.Copied {
			c.state[r.Key] = r.State
		}
	case r.Copy != "" || r.Test != "" || r.Dest != "" && journal.Destination(r.Dest) != journal.Destination(c.dest):
	case r.State == journal.Delivered:
		c.delivered[r.Key] = r
	}
}

// Missing is how many letters delivered have no copy yet.
func (c *Copies) Missing() int {
	n := 0
	for k := range c.delivered {
		if c.state[k] != journal.Copied {
			n++
		}
	}
	return n
}

// Needs reports whether the letter with key needs a copy, and the time it
// was delivered.
func (c *Copies) Needs(key letter.Key) (time.Time, bool) {
	r, ok := c.delivered[key]
	return r.Time, ok && c.state[key] != journal.Copied
}

// Journal is where a Saver records its copies: *journal.Journal, or a
// journal in PostgreSQL.
type Journal interface {
	// Append queues a record that a crash may lose.
	Append(journal.Record) error
	// Commit records r, and returns once it is durable.
	Commit(journal.Record) error
}

// Claims is a journal other processes save copies from at once (one in
// PostgreSQL): a copy is saved only by the process that holds its
// letter's lease.
type Claims interface {
	// Claim takes the leases of the letters with keys that no other
	// process holds, reports which it holds, and passes every record of
	// the letters asked to seen, in order.
	Claim(ctx context.Context, keys []letter.Key, seen func(journal.Record)) ([]bool, error)
	// Release gives the letters back.
	Release(keys []letter.Key)
}

// Saver saves copies, a batch at a time: one fsync of the journal before
// the batch, one after.
type Saver struct {
	Copies  *Copies
	Journal Journal
	// Claims, when set, is the journal as other processes share it: a
	// batch saves the copies of the letters it holds, and leaves the
	// others to the process that holds them.
	Claims Claims
	Box    Folder
	// Build writes a letter out as it was sent, dated when it was
	// delivered.
	Build func(l *letter.Letter, date time.Time) ([]byte, error)
	Batch int // letters per batch; 20 when 0

	batch []*letter.Letter
	Saved int // copies saved
	Found int // copies a crash left in the folder unrecorded, found there
}

// Add saves a copy of l if it needs one; the last batch waits for Flush.
func (s *Saver) Add(ctx context.Context, l *letter.Letter) error {
	if _, ok := s.Copies.Needs(l.Key); !ok {
		return nil
	}
	s.batch = append(s.batch, l)
	n := s.Batch
	if n == 0 {
		n = 20
	}
	if len(s.batch) >= n {
		return s.Flush(ctx)
	}
	return nil
}

// Flush saves the copies of the batch.
func (s *Saver) Flush(ctx context.Context) error {
	batch := s.batch
	s.batch = nil
	if len(batch) == 0 {
		return nil
	}
	c := s.Copies
	if s.Claims != nil {
		keys := make([]letter.Key, len(batch))
		for i, l := range batch {
			keys[i] = l.Key
		}
		held, err := s.Claims.Claim(ctx, keys, c.Note)
		if err != nil {
			return err
		}
		defer s.Claims.Release(keys)
		mine := batch[:0]
		for i, l := range batch {
			if _, needs := c.Needs(l.Key); held[i] && needs {
				mine = append(mine, l) // not saved by another meanwhile
			}
		}
		batch = mine
	}
	var todo []*letter.Letter
	for _, l := range batch {
		if c.state[l.Key] == journal.Copying {
			// A run stopped during this save: the copy may be there.
			has, err := s.Box.Has(ctx, c.folder, l.MessageID)
			if err != nil {
				return err
			}
			if has {
				if err := s.record(l, journal.Copied, true); err != nil {
					return err
				}
				s.Found++
				continue
			}
		}
		todo = append(todo, l)
	}
	mine := todo[:0]
	for i, l := range todo {
		// Shared, each copying record is durable before its copy is
		// saved: a letter another process took over meanwhile is left
		// to it (journal.ErrTaken).
		err := s.record(l, journal.Copying, s.Claims != nil || i == len(todo)-1)
		switch {
		case errors.Is(err, journal.ErrTaken):
			continue
		case err != nil:
			return err
		}
		mine = append(mine, l)
	}
	todo = mine
	for i, l := range todo {
		date := c.delivered[l.Key].Time
		data, err := s.Build(l, date)
		if err == nil {
			err = s.Box.Append(ctx, c.folder, data, date)
		}
		if err != nil {
			// The copies saved so far are recorded; the rest stay
			// pending, for the next run to look up.
			for k, done := range todo[:i] {
				if rerr := s.record(done, journal.Copied, k == i-1); rerr != nil {
					break
				}
			}
			return err
		}
		s.Saved++
	}
	for i, l := range todo {
		// A copied record refused (the lease lost during the save)
		// leaves the copying one: the next run finds the copy saved.
		if err := s.record(l, journal.Copied, i == len(todo)-1); err != nil && !errors.Is(err, journal.ErrTaken) {
			return err
		}
	}
	return nil
}

// record writes a copy record for l, durable when sync.
func (s *Saver) record(l *letter.Letter, state journal.State, sync bool) error {
	c := s.Copies
	r := c.delivered[l.Key]
	r.Time, r.State, r.Copy = time.Now().UTC(), state, c.folder
	r.Rejected, r.Phase, r.Code, r.Enhanced, r.Text, r.Millis, r.Report = nil, "", 0, "", "", 0, ""
	c.state[l.Key] = state
	if sync {
		return s.Journal.Commit(r)
	}
	return s.Journal.Append(r)
}
