package mailing

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

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
//
// journals, when given (report --journal), are the journals to read
// instead, merged: files, or patterns of names, such as the journals of
// a mailing's shards. Without, a mailing split into shards whose
// journals are beside its own (and it has none) is read from theirs. A
// journal in PostgreSQL is one for the mailing: it is read alone.
func Report(ctx context.Context, cfg *config.Config, sel *selection.Selection, journals []string, notes io.Writer) (*report.Report, *journal.History, campaign.Summary, error) {
	var history *journal.History
	var err error
	if cfg.Send.JournalInDB() && len(journals) == 0 {
		history, err = journal.HistoryOf(journalRecords(ctx, cfg), Destination(cfg))
	} else {
		paths, perr := reportJournals(cfg, journals, notes)
		if perr != nil {
			return nil, nil, campaign.Summary{}, perr
		}
		history, err = readHistories(paths, Destination(cfg), notes)
	}
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return nil, nil, campaign.Summary{}, &Error{Kind: Data, Err: fmt.Errorf("no journal at %s: nothing has been sent for this campaign", pe.Path)}
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

// CheckOut checks the file report --out is to write, if any, before
// anything is read: a .csv or an .xlsx, and not the recipient list
// itself, which the writing reads.
func CheckOut(cfg *config.Config, path string) error {
	if path == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".xlsx":
	default:
		return &Error{Kind: Usage, Err: fmt.Errorf("report --out %s: the name must end in .csv or .xlsx, which says what to write", path)}
	}
	if a, err := os.Stat(path); err == nil {
		if b, err := os.Stat(cfg.Recipients.File); err == nil && os.SameFile(a, b) {
			return &Error{Kind: Usage, Err: fmt.Errorf("report --out %s is the recipient list itself: name another file", path)}
		}
	}
	return nil
}

// WriteRows writes every row of the list rep was made of, with what
// became of its letter (report.Rows), to a file at path only its owner
// may read (CheckOut): an Excel workbook, or a CSV in the list's dialect
// (";" between fields for a list that has none); times are local. It
// returns how many rows it wrote. A file left unfinished is removed.
func WriteRows(ctx context.Context, path string, rep *report.Report, sum campaign.Summary) (int, error) {
	f, err := createPrivate(path)
	if err != nil {
		return 0, err
	}
	var n int
	if strings.EqualFold(filepath.Ext(path), ".xlsx") {
		n, err = report.WriteRowsXLSX(ctx, f, time.Local, rep)
	} else {
		delim := sum.Delimiter
		if delim == 0 {
			delim = ';'
		}
		w := bufio.NewWriter(f)
		if n, err = report.WriteRowsCSV(ctx, w, delim, time.Local, rep); err == nil {
			err = w.Flush()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return n, nil
}
