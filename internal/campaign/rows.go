package campaign

import (
	"context"
	"errors"
	"io"
	"slices"

	"github.com/mailmerge/mailmerge/internal/recipients"
)

// openList opens the recipient list as every walk reads it; warn hears
// what the reader warns of.
func (c *Campaign) openList(warn func(error)) (*recipients.Reader, error) {
	return recipients.Open(c.cfg.Recipients.File, c.readOptions(warn))
}

// EachRow reads the recipient list again, in file order, and calls fn
// with each row and the line its letter is known by (letter.Letter.Line):
// the row's own, or with recipients.group_by the line of its group's
// first row. A row that could not be read whole, or has no value to be
// grouped by, is alone, as a walk has it. Nothing is checked and no
// letter is made: it is for writing the list back out with what became
// of each row's letter. The error is the reading's or fn's; a list that
// cannot be read to its end ends EachRow with its error.
func (c *Campaign) EachRow(ctx context.Context, fn func(rec *recipients.Record, letterLine int) error) error {
	rr, err := c.openList(nil)
	if err != nil {
		return err
	}
	defer rr.Close()
	column := -1
	if by := c.cfg.Recipients.GroupBy; by != "" {
		column = slices.Index(rr.Header(), by)
	}
	first := map[string]int{} // each group's first line, by recipients.GroupKey
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := rr.Read()
		switch {
		case err == io.EOF || errors.Is(err, recipients.ErrNoRecipients):
			return nil
		case rec == nil:
			return err
		}
		line := rec.Line
		if err == nil && column >= 0 {
			line = groupLine(first, recipients.GroupKey(rec.Fields[column]), rec.Line)
		}
		if err := fn(rec, line); err != nil {
			return err
		}
	}
}

// groupLine is the line of the first row of the group key (first holds
// those seen so far), line itself when the row is the first, or alone.
func groupLine(first map[string]int, key string, line int) int {
	if key == "" {
		return line
	}
	if l, ok := first[key]; ok {
		return l
	}
	first[key] = line
	return line
}
