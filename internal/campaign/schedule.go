package campaign

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/schedule"
)

// sendAfter reads when the letter of rec, or of its group, may go: the
// time in its recipients.send_after cell (column), or for a group the
// latest of its rows' (a letter that shows every row waits for each);
// zero when the cells are empty. A cell that is not a time is a problem
// of its row, located at the cell.
func (c *Campaign) sendAfter(rec *recipients.Record, group []*recipients.Record, column int) (time.Time, error) {
	rows := group
	if rows == nil {
		rows = []*recipients.Record{rec}
	}
	var latest time.Time
	for _, r := range rows {
		cell := strings.TrimSpace(r.Fields[column])
		if cell == "" {
			continue
		}
		t, err := schedule.ParseTime(cell, c.location())
		if err != nil {
			line, col := r.Column(column)
			return time.Time{}, &located.Error{File: filepath.Base(c.cfg.Recipients.File), Line: line, Column: col,
				Err: fmt.Errorf("field %q (recipients.send_after): %w", r.Header()[column], err)}
		}
		if t.After(latest) {
			latest = t
		}
	}
	return latest, nil
}

// location is where a send time without an offset is read: the zone of
// the campaign's clock, the user's.
func (c *Campaign) location() *time.Location {
	if c.opts.Now != nil {
		return c.opts.Now().Location()
	}
	return time.Local
}
