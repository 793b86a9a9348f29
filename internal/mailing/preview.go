package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/letter"
	"github.com/mailmerge/mailmerge/internal/located"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/selection"
)

// Shown counts the letters a preview showed.
type Shown struct {
	Letters, Recipients int
	Summary             campaign.Summary // the rows read
}

// Preview makes the letters of the chosen rows as a send would write
// them out, and gives each to show, in CSV order, up to limit letters (0
// for all). Problems go to notes; what was shown is counted even when a
// problem stops the preview. A selection that chooses no row is an
// error, as for check and send (NoneChosen).
func Preview(ctx context.Context, cfg *config.Config, sel *selection.Selection, limit int, notes io.Writer, show func(l *letter.Letter, data []byte) error) (Shown, error) {
	var s Shown
	tooBig := 0
	printer := newPrinter(cfg)
	defer printer.Close()
	c := NewCampaign(cfg, campaign.Options{Select: sel, Printer: printer}, notes)
	sum, err := c.Letters(ctx, func(l *letter.Letter, _ *recipients.Record) error {
		data, err := c.Build(ctx, l)
		var le *located.Error
		if errors.As(err, &le) { // too big with its PDF: shown as a problem, like a check
			fmt.Fprintln(notes, err)
			tooBig++
			return nil
		}
		if err != nil {
			return printError(cfg, err)
		}
		if err := show(l, data); err != nil {
			return err
		}
		s.Letters++
		s.Recipients += len(l.Recipients)
		if limit > 0 && s.Letters >= limit {
			return campaign.ErrStop
		}
		return nil
	})
	if tooBig > 0 && err == nil {
		sum.Errors, err = sum.Errors+tooBig, campaign.ErrProblems
	}
	s.Summary = sum
	if err := Problems(sum, err); err != nil {
		return s, err
	}
	return s, NoneChosen(sel, sum) // as check and send say it: no empty preview
}
