package campaign

import (
	"context"
	"crypto/sha256"
	"io"
	"os"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// Settled reports whether the journal settles every row's letter, found
// from the rows' fingerprints alone: a send that has nothing left to do
// (a million letters delivered) says so in the time it takes to read the
// list, without making any letter again. It returns the rows read and
// the letters by state. It answers no (and the send checks and makes
// every letter, as always) at the first row the journal does not settle
// with the same template, and for the mailings whose rows do not map to
// letters one to one, or whose output says more than counts: grouped
// rows, letters named by recipients.key, a suppression list, a selection
// of rows, a shard.
//
// It asks the journal j what it settles at t's destination; a test send
// (t.Test) settles nothing.
func (c *Campaign) Settled(ctx context.Context, j Journal, t Target) (Summary, map[journal.State]int, bool) {
	var sum Summary
	r := c.cfg.Recipients
	if r.GroupBy != "" || r.Key != "" || r.Suppress != "" || !c.opts.Select.All() || t.Test || c.opts.Shard.Split() {
		return sum, nil, false
	}
	src, err := os.ReadFile(c.cfg.Template)
	if err != nil {
		return sum, nil, false
	}
	s := j.Settled(t.Dest, c.made(sha256.Sum256(src)), t.ResendUnknown)
	if s.Len() == 0 {
		return sum, nil, false
	}
	rr, err := recipients.Open(r.File, c.readOptions(func(error) { sum.Warnings++ }))
	if err != nil {
		return sum, nil, false
	}
	defer rr.Close()
	states := map[journal.State]int{}
	for {
		if ctx.Err() != nil {
			return sum, nil, false
		}
		rec, err := rr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, nil, false
		}
		st, ok := s.Take(letter.Fingerprint(rec.Map()))
		if !ok {
			return sum, nil, false
		}
		states[st]++
	}
	if sum.Warnings > 0 || s.Taken() != s.Len() {
		// The check says what the warnings are; a letter no row took is
		// of a row deleted or changed, which may change the identities of
		// others.
		return sum, nil, false
	}
	sum.Rows, sum.Letters = rr.Rows(), rr.Rows()
	sum.Encoding, sum.EncodingGuessed = rr.Encoding()
	sum.Delimiter = rr.Delimiter()
	sum.Sheet = rr.Sheet()
	return sum, states, sum.Letters > 0
}
