package mailing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/config"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/report"
	"github.com/mailmerge/mailmerge/internal/selection"
)

// Report tells what became of every letter of the mailing, from its
// journal and the recipients file as it is now. Rows that make no letter
// are listed in the report; their problems go to notes only when
// something else (the template, the header) stops it.
func Report(ctx context.Context, cfg *config.Config, sel *selection.Selection, notes io.Writer) (*report.Report, *journal.History, campaign.Summary, error) {
	history, err := journal.ReadHistory(cfg.Send.Journal, Destination(cfg))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, campaign.Summary{}, &Error{Kind: Data, Err: fmt.Errorf("no journal at %s: nothing has been sent for this campaign", cfg.Send.Journal)}
	}
	if err != nil {
		return nil, nil, campaign.Summary{}, err
	}
	var problems []error
	opts := campaign.Options{
		OnError:   func(err error) { problems = append(problems, err) },
		OnWarning: func(error) {}, // check's to say, not report's
		Select:    sel,
	}
	rep, sum, err := report.Make(ctx, cfg, opts, history)
	if !sum.Skippable() {
		for _, p := range problems {
			fmt.Fprintln(notes, p)
		}
		if err := Problems(sum, err); err != nil {
			return nil, nil, sum, err
		}
	}
	if err := NoneChosen(sel, sum); err != nil {
		return nil, nil, sum, err
	}
	return rep, history, sum, nil
}
